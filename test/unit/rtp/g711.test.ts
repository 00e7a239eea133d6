import { describe, expect, it } from 'vitest';
import {
  alawToLinear,
  decodeG711,
  encodeG711,
  linearToAlaw,
  linearToUlaw,
  payloadTypeOf,
  ulawToLinear,
} from '../../../src/rtp/g711.js';

describe('G.711 µ-law', () => {
  it('encodes known values', () => {
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToUlaw(-1)).toBe(0x7f);
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToUlaw(-32768)).toBe(0x00);
    expect(linearToUlaw(1000)).toBe(0xce);
  });
  it('decodes known values', () => {
    expect(ulawToLinear(0xff)).toBe(0);
    expect(ulawToLinear(0x80)).toBe(32124);
    expect(ulawToLinear(0x00)).toBe(-32124);
    expect(ulawToLinear(0xce)).toBe(988);
  });
  it('round-trips every code word (except negative zero 0x7f)', () => {
    for (let b = 0; b < 256; b++) {
      if (b === 0x7f) continue;
      expect(linearToUlaw(ulawToLinear(b))).toBe(b);
    }
    expect(ulawToLinear(0x7f)).toBe(0);
  });
  it('keeps quantisation error within the segment step', () => {
    for (let s = -32000; s <= 32000; s += 37) {
      const err = Math.abs(ulawToLinear(linearToUlaw(s)) - s);
      expect(err).toBeLessThanOrEqual(Math.max(8, Math.abs(s) / 16 + 8));
    }
  });
});

describe('G.711 A-law', () => {
  it('encodes known values', () => {
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(-1)).toBe(0x55);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
    expect(linearToAlaw(1000)).toBe(0xfa);
  });
  it('decodes known values', () => {
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
    expect(alawToLinear(0xfa)).toBe(1008);
  });
  it('round-trips every code word', () => {
    for (let b = 0; b < 256; b++) expect(linearToAlaw(alawToLinear(b))).toBe(b);
  });
  it('keeps quantisation error within the segment step', () => {
    for (let s = -32000; s <= 32000; s += 37) {
      const err = Math.abs(alawToLinear(linearToAlaw(s)) - s);
      expect(err).toBeLessThanOrEqual(Math.max(16, Math.abs(s) / 16 + 16));
    }
  });
});

describe('frame encode/decode', () => {
  it('matches the scalar functions on a frame', () => {
    const samples = Int16Array.from({ length: 160 }, (_, i) => Math.round(Math.sin(i / 5) * 20000));
    const u = encodeG711('PCMU', samples);
    const a = encodeG711('PCMA', samples);
    expect(u.length).toBe(160);
    samples.forEach((s, i) => {
      expect(u[i]).toBe(linearToUlaw(s));
      expect(a[i]).toBe(linearToAlaw(s));
    });
    const back = decodeG711('PCMU', u);
    back.forEach((s, i) => expect(s).toBe(ulawToLinear(u[i] ?? 0)));
    expect(Array.from(decodeG711('PCMA', a))).toEqual(Array.from(a, (b) => alawToLinear(b)));
  });
  it('knows the static payload types (RFC 3551)', () => {
    expect(payloadTypeOf('PCMU')).toBe(0);
    expect(payloadTypeOf('PCMA')).toBe(8);
  });
});

describe('G.711 table encoder', () => {
  it('gives, for every 16-bit input, the per-sample functions\' code (PCMU and PCMA)', () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i - 32768;
    const u = encodeG711('PCMU', all);
    const a = encodeG711('PCMA', all);
    let badU = 0;
    let badA = 0;
    for (let i = 0; i < all.length; i++) {
      if (u[i] !== linearToUlaw(all[i] as number)) badU++;
      if (a[i] !== linearToAlaw(all[i] as number)) badA++;
    }
    expect([badU, badA]).toEqual([0, 0]);
  });
});
