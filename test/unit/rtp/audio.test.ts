import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AudioFormatError, defaultAudioSource, encodedFrames, parseWav, readWav, speechLikeSignal, toFrames } from '../../../src/rtp/audio.js';
import { decodeG711 } from '../../../src/rtp/g711.js';

function wav(opts: { rate?: number; channels?: number; bits?: number; format?: number; samples?: number[] }): Buffer {
  const { rate = 8000, channels = 1, bits = 16, format = 1, samples = [0, 1000, -1000, 32767] } = opts;
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(format, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc'), Buffer.from([0])]);
  const chunks = Buffer.concat([
    Buffer.from('fmt '), u32(16), fmt,
    list, // an odd-sized chunk before data, padded to even
    Buffer.from('data'), u32(data.length), data,
  ]);
  return Buffer.concat([Buffer.from('RIFF'), u32(4 + chunks.length), Buffer.from('WAVE'), chunks]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

describe('WAV reader', () => {
  it('reads 8 kHz mono 16-bit PCM, skipping other chunks', () => {
    const src = parseWav(wav({}), 'x.wav');
    expect(Array.from(src.samples)).toEqual([0, 1000, -1000, 32767]);
    expect(src.name).toBe('x.wav');
  });

  it.each([
    [{ rate: 16000 }, /16000 Hz/],
    [{ channels: 2 }, /2 channel/],
    [{ bits: 8, samples: [] }, /8-bit/],
    [{ format: 3 }, /format 3/],
  ])('rejects %j with a clear message', (opt, msg) => {
    expect(() => parseWav(wav(opt))).toThrow(AudioFormatError);
    expect(() => parseWav(wav(opt))).toThrow(msg);
  });

  it('rejects non-WAV data and missing files', async () => {
    expect(() => parseWav(Buffer.from('hello world, not a wav'))).toThrow(/not a RIFF\/WAVE/);
    await expect(readWav('/nonexistent/file.wav')).rejects.toMatchObject({ code: 'E_AUDIO_FORMAT' });
    const dir = mkdtempSync(join(tmpdir(), 'h3-wav-'));
    const file = join(dir, 'ok.wav');
    writeFileSync(file, wav({ samples: [5, 6, 7] }));
    expect(Array.from((await readWav(file)).samples)).toEqual([5, 6, 7]);
  });
});

describe('speech-like signal', () => {
  const src = speechLikeSignal(4);

  it('is 8 kHz, deterministic, and has talk and pauses', () => {
    expect(src.samples.length).toBe(32000);
    expect(Array.from(speechLikeSignal(4).samples)).toEqual(Array.from(src.samples));
    const frames = toFrames(src);
    expect(frames).toHaveLength(200);
    const rms = frames.map((f) => Math.sqrt(f.reduce((a, s) => a + s * s, 0) / f.length));
    const silent = rms.filter((r) => r < 50).length;
    const loud = rms.filter((r) => r > 1000).length;
    expect(silent).toBeGreaterThan(10); // pauses between syllables
    expect(loud).toBeGreaterThan(60); // mostly speech
    expect(Math.max(...src.samples.map(Math.abs))).toBeLessThan(32767); // no clipping
  });

  it('is, sample for sample, the signal of the one-sin-per-harmonic formula it was first written with (issue 19: the recurrence only saves time)', () => {
    // SHA-256 of speechLikeSignal(4) as 16-bit little-endian PCM, computed with the old formula (main before issue 19 round 2).
    const le = Buffer.alloc(src.samples.length * 2);
    src.samples.forEach((v, i) => le.writeInt16LE(v, i * 2));
    expect(createHash('sha256').update(le).digest('hex')).toBe('5fbd9c06d290733570b1b7405385edb39303472fcf998706c362c1fa347b4748');
  });

  it('is what defaultAudioSource() ships precomputed (src/rtp/speech-like-data.ts: rerun `npx tsx scripts/gen-speech-like.ts` when this fails)', () => {
    const shipped = defaultAudioSource();
    expect(shipped.name).toBe('speech-like');
    expect(shipped.samples).toBeInstanceOf(Int16Array);
    expect(shipped.samples.length).toBe(src.samples.length);
    let differing = 0;
    for (let i = 0; i < src.samples.length; i++) if (shipped.samples[i] !== src.samples[i]) differing++;
    expect(differing).toBe(0);
    expect(defaultAudioSource()).toBe(shipped); // decoded once, shared
  });

  it('has a varying envelope at syllable rate (not a steady tone)', () => {
    const frames = toFrames(src);
    const rms = frames.map((f) => Math.sqrt(f.reduce((a, s) => a + s * s, 0) / f.length));
    let rises = 0;
    for (let i = 1; i < rms.length; i++) if ((rms[i - 1] ?? 0) < 50 && (rms[i] ?? 0) >= 50) rises++;
    expect(rises).toBeGreaterThanOrEqual(8); // ≥ 2 syllables per second
    expect(rises).toBeLessThanOrEqual(24);
  });

  it('encodes each frame once, shared between callers', () => {
    const a = encodedFrames(src, 'PCMA');
    expect(encodedFrames(src, 'PCMA')).toBe(a);
    expect(a).toHaveLength(200);
    expect(a[0]).toHaveLength(160);
    expect(encodedFrames(src, 'PCMU', 240)[0]).toHaveLength(240);
    // decoding gives back the signal within G.711 quantisation
    const back = decodeG711('PCMA', a[50] ?? new Uint8Array());
    const orig = toFrames(src)[50] ?? new Int16Array();
    back.forEach((s, i) => expect(Math.abs(s - (orig[i] ?? 0))).toBeLessThanOrEqual(Math.abs(orig[i] ?? 0) / 16 + 16));
  });
});

describe('G.722 frames', () => {
  it('20 ms = 160 RTP clock ticks = 320 samples at 16 kHz = 160 bytes, and decodes back to the signal', async () => {
    const { G722Decoder } = await import('../../../src/rtp/g722.js');
    const { upsampleTo16k } = await import('../../../src/rtp/audio.js');
    const src = speechLikeSignal(1);
    const frames = encodedFrames(src, 'G722', 160);
    expect(frames).toHaveLength(50);
    for (const f of frames) expect(f.length).toBe(160);
    // The decoded audio follows the 16 kHz input (ADPCM, so not exactly): compare energy
    // of the difference with the signal's, after the codec's 22-sample QMF delay.
    const decoder = new G722Decoder();
    const out = new Int16Array(frames.length * 320);
    frames.forEach((f, i) => out.set(decoder.decode(f), i * 320));
    const wide = upsampleTo16k(src.samples);
    let sig = 0;
    let err = 0;
    for (let i = 0; i < wide.length - 22; i++) {
      sig += (wide[i] ?? 0) ** 2;
      err += ((out[i + 22] ?? 0) * 1 - (wide[i] ?? 0)) ** 2;
    }
    const snrDb = 10 * Math.log10(sig / err);
    expect(snrDb).toBeGreaterThan(10);
  });
  it('upsampling interpolates between neighbours', async () => {
    const { upsampleTo16k } = await import('../../../src/rtp/audio.js');
    expect([...upsampleTo16k(Int16Array.from([0, 100, -100]))]).toEqual([0, 50, 100, 0, -100, -100]);
  });
});
