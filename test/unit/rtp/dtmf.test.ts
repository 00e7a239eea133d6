import { describe, expect, it } from 'vitest';
import { decodeEvent, digitOf, DtmfDetector, DtmfError, encodeEvent, eventCode } from '../../../src/rtp/dtmf.js';

describe('RFC 4733 telephone-event payload', () => {
  it('maps digits to event codes and back', () => {
    expect([...'0123456789*#ABCD'].map(eventCode)).toEqual([...Array(16).keys()]);
    expect(eventCode('a')).toBe(12);
    expect(digitOf(11)).toBe('#');
    expect(digitOf(16)).toBeUndefined();
    expect(() => eventCode('x')).toThrow(DtmfError);
    expect(() => eventCode('12')).toThrow(/not a DTMF digit/);
  });

  it('encodes the E bit, volume and duration (RFC 4733 §2.3)', () => {
    expect(Array.from(encodeEvent({ event: 5, end: true, volume: 10, duration: 800 }))).toEqual([5, 0x8a, 0x03, 0x20]);
    expect(decodeEvent(Uint8Array.from([11, 0x0a, 0x01, 0x40]))).toEqual({ event: 11, end: false, volume: 10, duration: 320 });
    expect(decodeEvent(Uint8Array.from([1, 2]))).toBeUndefined();
  });
});

describe('DtmfDetector', () => {
  it('reports each event once, at its first packet, and its duration at the end', () => {
    const d = new DtmfDetector(8000);
    const ev = (ts: number, code: number, end: boolean, dur: number) =>
      d.onPacket(ts, encodeEvent({ event: code, end, volume: 10, duration: dur }));
    expect(ev(1000, 1, false, 160)?.digit).toBe('1');
    expect(ev(1000, 1, false, 320)).toBeUndefined();
    expect(ev(1000, 1, true, 800)).toBeUndefined();
    expect(ev(1000, 1, true, 800)).toBeUndefined(); // retransmitted end
    expect(ev(1000, 1, true, 800)).toBeUndefined();
    expect(ev(5000, 11, true, 480)?.digit).toBe('#'); // only the end packets arrived
    expect(d.digits.map((x) => [x.digit, x.durationMs, x.ended])).toEqual([
      ['1', 100, true],
      ['#', 60, true],
    ]);
  });

  it('treats the same digit twice as two events (different timestamps)', () => {
    const d = new DtmfDetector();
    d.onPacket(100, encodeEvent({ event: 7, end: false, volume: 10, duration: 160 }));
    d.onPacket(2000, encodeEvent({ event: 7, end: false, volume: 10, duration: 160 }));
    expect(d.digits.map((x) => x.digit).join('')).toBe('77');
  });
});
