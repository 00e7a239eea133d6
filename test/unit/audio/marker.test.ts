import { describe, expect, it } from 'vitest';
import { AudioAnalyzer } from '../../../src/audio/analyzer.js';
import { crc4, decodeSymbols, encodeSymbols, markerId, markerSamples, MARKER_SAMPLES } from '../../../src/audio/marker.js';
import { FIRST_MARKER_SAMPLE, MARKER_PERIOD_SAMPLES, markedSignal } from '../../../src/audio/signal.js';
import { encodedFrames, speechLikeSignal, upsampleTo16k } from '../../../src/rtp/audio.js';
import { decodeG711, encodeG711 } from '../../../src/rtp/g711.js';
import { G722Decoder, G722Encoder } from '../../../src/rtp/g722.js';

/** Deterministic PRNG for loss patterns. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Codec = 'PCMU' | 'PCMA' | 'G722' | 'PCMU>PCMA';

/** Feeds `samples` as 20 ms packets through a codec into an analyzer; `loss` drops packets at random. */
function run(samples: Int16Array, codec: Codec, opts: { loss?: number; gain?: number; seed?: number; jitterMs?: number } = {}): AudioAnalyzer {
  const an = new AudioAnalyzer(8000);
  const rand = rng(opts.seed ?? 1);
  const gain = opts.gain ?? 1;
  const scaled = gain === 1 ? samples : Int16Array.from(samples, (v) => Math.max(-32768, Math.min(32767, Math.round(v * gain))));
  const enc = new G722Encoder();
  const dec = new G722Decoder();
  const wide = codec === 'G722' ? upsampleTo16k(scaled) : undefined;
  const ts0 = 0xfffff000; // wraps during the stream
  const packets: Array<{ pcm: Int16Array; rate: number; ts: number; at: number }> = [];
  for (let f = 0; f * 160 + 160 <= scaled.length; f++) {
    let pcm: Int16Array;
    let rate = 8000;
    if (codec === 'G722' && wide) {
      pcm = dec.decode(enc.encode(wide.subarray(f * 320, f * 320 + 320)));
      rate = 16000;
    } else if (codec === 'PCMU>PCMA') {
      pcm = decodeG711('PCMA', encodeG711('PCMA', decodeG711('PCMU', encodeG711('PCMU', scaled.subarray(f * 160, f * 160 + 160)))));
    } else {
      const g711 = codec === 'PCMA' ? 'PCMA' : 'PCMU';
      pcm = decodeG711(g711, encodeG711(g711, scaled.subarray(f * 160, f * 160 + 160)));
    }
    if (rand() < (opts.loss ?? 0)) continue;
    packets.push({ pcm, rate, ts: (ts0 + f * 160) >>> 0, at: 1000 + f * 20 + (opts.jitterMs ?? 0) * rand() });
  }
  // jitter: arrival order by arrival time (reordering within the jitter)
  packets.sort((a, b) => a.at - b.at);
  for (const p of packets) an.onFrame(p.pcm, p.rate, p.ts, p.at);
  return an;
}

describe('marker coding', () => {
  it('six symbols carry id, seq and a CRC-4 that catches a changed symbol', () => {
    const syms = encodeSymbols({ id: 0xbeef, seq: 9 });
    expect(syms).toHaveLength(6);
    expect(decodeSymbols(syms)).toEqual({ id: 0xbeef, seq: 9 });
    for (let i = 0; i < 6; i++) {
      const bad = [...syms];
      bad[i] = ((bad[i] ?? 0) + 5) & 0xf;
      expect(decodeSymbols(bad)).toBeUndefined();
    }
    expect(crc4(0, 20)).toBe(0);
    expect(markerId('abc@host', 'caller')).not.toBe(markerId('abc@host', 'callee'));
  });
});

describe('marker detection through codecs, loss, jitter and gain', () => {
  const base = speechLikeSignal(4).samples;
  const signal = markedSignal(0x1234, base, 8); // 20 s, 8 markers

  for (const codec of ['PCMU', 'PCMA', 'G722', 'PCMU>PCMA'] as const) {
    it(`${codec}: every marker heard, in order, its onset in the right packet`, () => {
      const an = run(signal.samples, codec);
      expect(an.markers.map((m) => `${m.id.toString(16)}/${m.seq}`)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((s) => `1234/${s}`));
      an.markers.forEach((m, i) => {
        const onset = FIRST_MARKER_SAMPLE + i * MARKER_PERIOD_SAMPLES;
        // G.722's QMF delays the audio by ~11 samples at 8 kHz: the onset may read one 10 ms block late
        expect(m.onsetSample - onset).toBeGreaterThanOrEqual(0);
        expect(m.onsetSample - onset).toBeLessThanOrEqual(codec === 'G722' ? 80 : 0);
        expect(m.arrivalMs).toBe(1000 + (onset / 160) * 20);
        expect(Math.abs(m.gainDb)).toBeLessThan(1);
      });
      expect(an.markerFailures).toBe(0);
    });
  }

  it('5 % random loss and 15 ms jitter (PCMU, 10 seeds × 8 markers): ≥ 90 % of markers heard, none wrong', () => {
    let heard = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const an = run(signal.samples, 'PCMU', { loss: 0.05, seed, jitterMs: 15 });
      for (const m of an.markers) expect(m.id).toBe(0x1234);
      heard += an.markers.length;
    }
    expect(heard).toBeGreaterThanOrEqual(72);
  });

  it('a level change (-12 dB, +6 dB) still decodes and shows as the marker gain', () => {
    const quiet = run(signal.samples, 'PCMA', { gain: 0.25 });
    expect(quiet.markers).toHaveLength(8);
    for (const m of quiet.markers) expect(m.gainDb).toBeCloseTo(-12, 0);
    const loud = run(signal.samples, 'PCMU', { gain: 2 });
    expect(loud.markers).toHaveLength(8);
    for (const m of loud.markers) expect(m.gainDb).toBeCloseTo(6, 0);
  });

  it('speech alone (no markers) gives no marker and no false sync decode', () => {
    const an = run(Int16Array.from({ length: 20 * 8000 }, (_, i) => base[i % base.length] ?? 0), 'PCMU');
    expect(an.markers).toEqual([]);
  });

  it('levels: the speech-like signal is present around -20 dBov; digital silence has no active level', () => {
    const f = run(signal.samples, 'PCMU').figures();
    expect(f.active_level_dbov).toBeGreaterThan(-26);
    expect(f.active_level_dbov).toBeLessThan(-12);
    expect(f.activity_ratio).toBeGreaterThan(0.5);
    expect(f.silence_ratio).toBeLessThan(0.45);
    expect(f.clipping_ratio).toBe(0);
    const silent = run(new Int16Array(8000 * 5), 'PCMU').figures();
    expect(silent.active_level_dbov).toBeNull();
    expect(silent.silence_ratio).toBe(1);
    const clipped = run(Int16Array.from({ length: 8000 }, (_, i) => (i % 20 < 10 ? 32767 : -32768)), 'PCMA').figures();
    expect(clipped.clipping_ratio).toBeGreaterThan(0.9);
  });

  it('the cached template gives the same samples as building each marker (ids, counts, repeated)', () => {
    for (const [id, count] of [[0x1234, 8], [7, 3], [0xffff, 16], [0x1234, 8], [1, 1]] as const) {
      const s = markedSignal(id, base, count);
      const expected = new Int16Array(count * MARKER_PERIOD_SAMPLES);
      for (let i = 0; i < expected.length; i += base.length) expected.set(base.subarray(0, Math.min(base.length, expected.length - i)), i);
      for (let seq = 0; seq < count; seq++) expected.set(markerSamples({ id, seq }), FIRST_MARKER_SAMPLE + seq * MARKER_PERIOD_SAMPLES);
      expect(Buffer.from(s.samples.buffer).equals(Buffer.from(expected.buffer)), `id ${id} count ${count}`).toBe(true);
    }
    // the copy is the call's own: writing it does not touch the next call's signal
    markedSignal(9, base, 2).samples.fill(0);
    expect(markedSignal(9, base, 2).samples.some((v) => v !== 0)).toBe(true);
  });

  it('G.711 frames of a marked signal (template frames + its re-encoded symbol frames) equal encoding all of it', () => {
    for (const [id, count, spf] of [[0x1234, 8, 160], [7, 3, 80], [0xbeef, 16, 240], [5, 2, 320]] as const) {
      const s = markedSignal(id, base, count);
      for (const codec of ['PCMU', 'PCMA'] as const) {
        const derived = encodedFrames(s.source, codec, spf);
        const whole = encodedFrames({ name: 'all', samples: s.samples }, codec, spf);
        expect(derived.length).toBe(whole.length);
        expect(Buffer.concat(derived.map((f) => Buffer.from(f))).equals(Buffer.concat(whole.map((f) => Buffer.from(f)))), `${codec} id ${id} spf ${spf}`).toBe(true);
        // and they differ from the template's where the symbols are (the re-encode happened)
        const tpl = encodedFrames(s.source.derived?.base ?? s.source, codec, spf);
        expect(derived.filter((f, i) => f !== tpl[i]).length).toBeGreaterThanOrEqual(count * Math.floor(2880 / spf));
      }
    }
    // a last frame cut short is zero-padded as before
    const odd = { name: 'odd', samples: Int16Array.from({ length: 250 }, (_, i) => (i * 97) % 3000) };
    const frames = encodedFrames(odd, 'PCMU', 160);
    expect(frames.map((f) => f.length)).toEqual([160, 160]);
    expect(Array.from(frames[1]?.subarray(90) ?? [])).toEqual(Array.from(encodeG711('PCMU', new Int16Array(70))));
  });

  it('the sender hook records when each marker onset left', () => {
    const s = markedSignal(7, base, 3);
    s.frameSent(FIRST_MARKER_SAMPLE / 160, 160, 500);
    s.frameSent(FIRST_MARKER_SAMPLE / 160 + 1, 160, 520);
    expect(s.sentAt[0]).toBe(500);
    expect(Number.isNaN(s.sentAt[1])).toBe(true);
    expect(s.samples.length).toBe(3 * MARKER_PERIOD_SAMPLES);
    expect(MARKER_SAMPLES).toBe(4000);
  });
});
