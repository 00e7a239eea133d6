import { describe, expect, it } from 'vitest';
import { PowerSpectrum } from '../../../src/audio/fft.js';
import { matchPrompt, promptFingerprint, toFingerprintRate } from '../../../src/audio/fingerprint.js';
import { speechLikeSignal, upsampleTo16k } from '../../../src/rtp/audio.js';
import { decodeG711, encodeG711 } from '../../../src/rtp/g711.js';
import { G722Decoder, G722Encoder } from '../../../src/rtp/g722.js';

const PROMPT = speechLikeSignal(4, 0x1111).samples;
const OTHER = speechLikeSignal(4, 0x2222).samples;

/** A deterministic PRNG for packet loss. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Channel {
  codec?: 'PCMU' | 'PCMA';
  gain?: number;
  /** samples of silence before the prompt */
  lead?: number;
  loss?: number;
}

/** What a receiver hears: `lead` silence, the audio through G.711 at `gain`, 20 ms packets lost at `loss` (silence, marked not heard). */
function through(audio: Int16Array, c: Channel): { samples: Int16Array; heard: Uint8Array } {
  const lead = c.lead ?? 0;
  const samples = new Int16Array(lead + audio.length + 4000);
  const heard = new Uint8Array(samples.length).fill(1);
  const lost = rng(7);
  for (let f = 0; f + 160 <= samples.length; f += 160) {
    const frame = new Int16Array(160);
    for (let i = 0; i < 160; i++) {
      const k = f + i - lead;
      const v = k >= 0 && k < audio.length ? (audio[k] as number) * (c.gain ?? 1) : 0;
      frame[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
    if (lost() < (c.loss ?? 0)) {
      heard.fill(0, f, f + 160);
      continue;
    }
    samples.set(decodeG711(c.codec ?? 'PCMA', encodeG711(c.codec ?? 'PCMA', frame)), f);
  }
  return { samples, heard };
}

describe('PowerSpectrum', () => {
  it('puts a sinusoid on its bin and nothing elsewhere', () => {
    const fft = new PowerSpectrum(256);
    const out = new Float64Array(129);
    fft.compute(Float64Array.from({ length: 256 }, (_, i) => Math.cos((2 * Math.PI * 20 * i) / 256)), out);
    expect(out[20]).toBeCloseTo(128 * 128, 6);
    expect(out.reduce((a, v, k) => (k === 20 ? a : a + v), 0)).toBeLessThan(1e-9);
  });

  it('refuses sizes that are not powers of two', () => {
    expect(() => new PowerSpectrum(100)).toThrow(RangeError);
  });
});

describe('prompt fingerprint', () => {
  const fp = promptFingerprint(PROMPT);

  it('matches the prompt through G.711 and finds where it starts', () => {
    for (const codec of ['PCMA', 'PCMU'] as const) {
      const rx = through(PROMPT, { codec, lead: 2345 });
      const m = matchPrompt(fp, rx.samples, { heard: rx.heard });
      expect(m.similarity).toBeGreaterThanOrEqual(0.9);
      expect(m.coverage).toBeGreaterThan(0.99);
      // the 4 ms search grid: within 2 ms of the true start; refined on the 1 ms grid: within 0.5 ms
      expect(Math.abs(m.offset - 2345)).toBeLessThanOrEqual(16);
      expect(Math.abs(matchPrompt(fp, rx.samples, { heard: rx.heard, refine: true }).offset - 2345)).toBeLessThanOrEqual(4);
    }
  });

  it('does not care about the level (−12 dB, +6 dB)', () => {
    for (const gain of [0.25, 2]) {
      const m = matchPrompt(fp, through(PROMPT, { gain, lead: 800 }).samples);
      expect(m.similarity).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('tells another utterance of the same kind apart', () => {
    const rx = through(OTHER, { lead: 800 });
    const m = matchPrompt(fp, rx.samples, { heard: rx.heard });
    expect(m.similarity).toBeLessThanOrEqual(0.3);
  });

  it('holds with 5 % packet loss: lost audio lowers the coverage, not the similarity', () => {
    const rx = through(PROMPT, { loss: 0.05, lead: 4000 });
    const masked = matchPrompt(fp, rx.samples, { heard: rx.heard });
    expect(masked.similarity).toBeGreaterThanOrEqual(0.9);
    expect(masked.coverage).toBeGreaterThan(0.6);
    expect(masked.coverage).toBeLessThan(0.97);
    // without the mask the gaps are heard as silence and cost similarity, still far above unrelated audio
    const unmasked = matchPrompt(fp, rx.samples);
    expect(unmasked.similarity).toBeGreaterThanOrEqual(0.75);
    expect(unmasked.similarity).toBeLessThan(masked.similarity);
  });

  it('searches only the allowed start range', () => {
    const rx = through(PROMPT, { lead: 16000 });
    expect(matchPrompt(fp, rx.samples, { from: 15000, to: 17000 }).similarity).toBeGreaterThanOrEqual(0.9);
    expect(matchPrompt(fp, rx.samples, { from: 0, to: 8000 }).similarity).toBeLessThanOrEqual(0.3);
  });

  it('finds a prompt whose head was cut off (it began before the first sample kept)', () => {
    const rx = through(PROMPT, {});
    const cut = rx.samples.subarray(400); // the first 50 ms never arrived
    expect(matchPrompt(fp, cut, { from: 0 }).similarity).toBeLessThan(0.5);
    const m = matchPrompt(fp, cut, { from: -4000 });
    expect(m.similarity).toBeGreaterThanOrEqual(0.9);
    expect(Math.abs(m.offset + 400)).toBeLessThanOrEqual(16);
    expect(m.coverage).toBeLessThan(1);
  });

  it('counts audio not yet received as not heard', () => {
    const rx = through(PROMPT, {});
    const half = rx.samples.subarray(0, PROMPT.length / 2);
    const m = matchPrompt(fp, half, { from: 0, to: 0 });
    expect(m.similarity).toBeGreaterThanOrEqual(0.9);
    expect(m.coverage).toBeGreaterThan(0.3);
    expect(m.coverage).toBeLessThan(0.7);
  });

  it('is 0 for silence and for a silent prompt', () => {
    expect(matchPrompt(fp, new Int16Array(40000)).similarity).toBe(0);
    const silent = promptFingerprint(new Int16Array(8000));
    expect(matchPrompt(silent, PROMPT)).toEqual({ similarity: 0, coverage: 0, offset: 0 });
  });

  it('matches G.722 audio (16 kHz, brought to 8 kHz) against an 8 kHz reference', () => {
    const wide = upsampleTo16k(PROMPT);
    const enc = new G722Encoder();
    const dec = new G722Decoder();
    const out = new Int16Array(wide.length);
    for (let i = 0; i + 320 <= wide.length; i += 320) out.set(dec.decode(enc.encode(wide.subarray(i, i + 320))), i);
    const m = matchPrompt(fp, toFingerprintRate(out, 16000));
    expect(m.similarity).toBeGreaterThanOrEqual(0.9);
    // and a 16 kHz reference against 8 kHz audio
    const fp16 = promptFingerprint(toFingerprintRate(wide, 16000));
    expect(matchPrompt(fp16, through(PROMPT, {}).samples).similarity).toBeGreaterThanOrEqual(0.9);
    expect(() => toFingerprintRate(PROMPT, 44100)).toThrow(RangeError);
  });
});
