/**
 * Audio for the media stream: a built-in speech-like test signal, or an
 * 8 kHz mono 16-bit PCM WAV file. Sources are plain sample arrays; the
 * encoded frames are computed once per (source, codec, frame size) and shared
 * by every stream, so sending costs no per-packet encoding.
 */
import { readFile } from 'node:fs/promises';
import type { AudioCodec } from './codec.js';
import { encodeG711Into, type G711Codec } from './g711.js';
import { G722Encoder } from './g722.js';
import { OpusEncoder } from './opus.js';
import { SPEECH_LIKE_4S_PCM16LE_BASE64 } from './speech-like-data.js';

export const SAMPLE_RATE = 8000;

export interface AudioSource {
  /** For logs and results: "speech-like" or the file name. */
  readonly name: string;
  /** 16-bit linear PCM at 8 kHz, mono. */
  readonly samples: Int16Array;
  /**
   * The same samples as `base` (same length) except in the `changed` [start, end) sample
   * ranges: a sample-wise codec (G.711) takes base's cached frames and encodes only the
   * frames those ranges touch (a call's marked signal: 18 frames per marker, not all).
   */
  readonly derived?: { readonly base: AudioSource; readonly changed: readonly (readonly [number, number])[] };
}

export class AudioFormatError extends Error {
  readonly code = 'E_AUDIO_FORMAT';
}

/**
 * A deterministic speech-like signal: "syllables" of 120–280 ms at about 4 per
 * second with a raised-cosine envelope and short pauses, each a harmonic
 * series on a gliding 95–180 Hz fundamental shaped by two formant-like
 * resonances (F1 300–800 Hz, F2 900–2300 Hz). Active speech level about
 * −20 dBov, so µ-law/A-law companding behaves as with a talker. Another
 * `seed` gives another "utterance" of the same kind (tests of content checks).
 */
export function speechLikeSignal(seconds = 4, seed = 0x5eed): AudioSource {
  const total = Math.round(seconds * SAMPLE_RATE);
  const samples = new Int16Array(total);
  let state = seed >>> 0;
  const rand = (): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  let pos = 0;
  while (pos < total) {
    const syllable = Math.round((0.12 + 0.16 * rand()) * SAMPLE_RATE);
    const pause = Math.round((0.03 + (rand() < 0.2 ? 0.35 : 0.07) * rand()) * SAMPLE_RATE);
    const f0Start = 95 + 85 * rand();
    const f0End = f0Start * (0.8 + 0.35 * rand());
    const f1 = 300 + 500 * rand();
    const f2 = 900 + 1400 * rand();
    const amplitude = 5000 + 4000 * rand();
    let phase = 0;
    for (let i = 0; i < syllable && pos + i < total; i++) {
      const t = i / syllable;
      const f0 = f0Start + (f0End - f0Start) * t;
      phase += (2 * Math.PI * f0) / SAMPLE_RATE;
      let value = 0;
      // sin(h·phase) for h = 1, 2, … by the recurrence sin((h+1)x) = 2cos(x)·sin(hx) − sin((h−1)x):
      // one sin and one cos per sample instead of one sin per harmonic (issue 19: `probe demo` start-up).
      const twoCos = 2 * Math.cos(phase);
      let sinPrev = 0;
      let sinH = Math.sin(phase);
      for (let h = 1; h * f0 < 3400; h++) {
        const f = h * f0;
        // Two resonances (Lorentzian-shaped gains) give vowel-like spectra.
        const gain = 1 / (1 + ((f - f1) / 120) ** 2) + 0.6 / (1 + ((f - f2) / 180) ** 2) + 0.02;
        value += gain * sinH;
        const sinNext = twoCos * sinH - sinPrev;
        sinPrev = sinH;
        sinH = sinNext;
      }
      const envelope = Math.sin(Math.PI * t) ** 2;
      samples[pos + i] = Math.max(-32768, Math.min(32767, Math.round(amplitude * envelope * value * 0.5)));
    }
    pos += syllable + pause;
  }
  return { name: 'speech-like', samples };
}

function fourcc(buf: Buffer, offset: number): string {
  return buf.toString('latin1', offset, offset + 4);
}

/** Parses a RIFF/WAVE buffer; only 8 kHz mono 16-bit PCM is accepted. */
export function parseWav(buf: Buffer, name = 'wav'): AudioSource {
  const { samples } = parsePcmWav(buf, name, [SAMPLE_RATE]);
  return { name, samples };
}

/** Mono 16-bit PCM at one of the given rates (reference recordings: 8 or 16 kHz). */
export interface PcmWav {
  name: string;
  rate: number;
  samples: Int16Array;
}

/** Parses a RIFF/WAVE buffer of mono 16-bit PCM at one of `rates`. */
export function parsePcmWav(buf: Buffer, name = 'wav', rates: readonly number[] = [SAMPLE_RATE, 2 * SAMPLE_RATE]): PcmWav {
  if (buf.length < 12 || fourcc(buf, 0) !== 'RIFF' || fourcc(buf, 8) !== 'WAVE') {
    throw new AudioFormatError(`${name}: not a RIFF/WAVE file`);
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = fourcc(buf, offset);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= buf.length) {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
      // WAVE_FORMAT_EXTENSIBLE: the real format tag is in the sub-format GUID.
      if (fmt.format === 0xfffe && size >= 40 && body + 26 <= buf.length) fmt.format = buf.readUInt16LE(body + 24);
    } else if (id === 'data') {
      if (!fmt) throw new AudioFormatError(`${name}: "data" chunk before "fmt " chunk`);
      if (fmt.format !== 1 || fmt.channels !== 1 || !rates.includes(fmt.rate) || fmt.bits !== 16) {
        throw new AudioFormatError(
          `${name}: need ${rates.join(' or ')} Hz mono 16-bit PCM WAV, got format ${fmt.format}, ${fmt.rate} Hz, ` +
            `${fmt.channels} channel(s), ${fmt.bits}-bit (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)`,
        );
      }
      const end = Math.min(buf.length, body + size);
      const count = Math.floor((end - body) / 2);
      if (count === 0) throw new AudioFormatError(`${name}: no audio samples`);
      const samples = new Int16Array(count);
      for (let i = 0; i < count; i++) samples[i] = buf.readInt16LE(body + 2 * i);
      return { name, rate: fmt.rate, samples };
    }
    offset = body + size + (size % 2); // chunks are word-aligned
  }
  throw new AudioFormatError(`${name}: no "data" chunk`);
}

async function readAudioFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new AudioFormatError(`${path}: cannot read (${(err as Error).message})`);
  }
}

/** Reads an 8 kHz mono 16-bit PCM WAV file. */
export async function readWav(path: string): Promise<AudioSource> {
  return parseWav(await readAudioFile(path), path);
}

/** Reads an 8 or 16 kHz mono 16-bit PCM WAV file (a reference recording). */
export async function readPcmWav(path: string): Promise<PcmWav> {
  return parsePcmWav(await readAudioFile(path), path);
}

/** A RIFF/WAVE file of mono 16-bit PCM (what `record` writes). */
export function wavFile(samples: Int16Array, rate: number): Buffer {
  const data = samples.length * 2;
  const buf = Buffer.alloc(44 + data);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + data, 4);
  buf.write('WAVE', 8, 'latin1');
  buf.write('fmt ', 12, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] as number, 44 + 2 * i);
  return buf;
}

/** Splits samples into frames of `samplesPerFrame`, zero-padding the last one. */
export function toFrames(source: AudioSource, samplesPerFrame = 160): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let i = 0; i < source.samples.length; i += samplesPerFrame) {
    const frame = new Int16Array(samplesPerFrame);
    frame.set(source.samples.subarray(i, i + samplesPerFrame));
    frames.push(frame);
  }
  return frames;
}

const encodedCache = new WeakMap<AudioSource, Map<string, readonly Uint8Array[]>>();

/**
 * The source at 16 kHz for G.722: linear interpolation between the 8 kHz samples
 * (the signal has no content above 3.4 kHz, so nothing is missing but the top band).
 */
export function upsampleTo16k(samples: Int16Array): Int16Array {
  const out = new Int16Array(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i] ?? 0;
    const b = samples[i + 1] ?? a;
    out[2 * i] = a;
    out[2 * i + 1] = Math.round((a + b) / 2);
  }
  return out;
}

/**
 * 16 kHz → 8 kHz (G.722 audio, wideband WAVs): a 31-tap windowed-sinc low-pass at
 * 3.6 kHz (Hamming window), then every other sample.
 */
export function downsampleTo8k(samples: Int16Array): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / 2));
  for (let o = 0; o < out.length; o++) {
    let acc = 0;
    for (let t = -TAPS_HALF; t <= TAPS_HALF; t++) {
      const i = 2 * o + t;
      if (i >= 0 && i < samples.length) acc += (samples[i] as number) * (LOWPASS[t + TAPS_HALF] as number);
    }
    out[o] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}

const TAPS_HALF = 15;
const LOWPASS = (() => {
  const cutoff = 3600 / 16000;
  const taps = Array.from({ length: 2 * TAPS_HALF + 1 }, (_, i) => {
    const n = i - TAPS_HALF;
    const sinc = n === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * n) / (Math.PI * n);
    return sinc * (0.54 + 0.46 * Math.cos((Math.PI * n) / TAPS_HALF));
  });
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
})();

/**
 * An IVR stand-in's source (`probe answer --play`): the prompt (8 or 16 kHz, brought
 * to 8 kHz) then `pauseSeconds` of silence; the sender loops it, so callers hear the
 * prompt from the answer on, repeated like a menu.
 */
export function promptSource(wav: PcmWav, pauseSeconds = 2): AudioSource {
  const narrow = wav.rate === SAMPLE_RATE ? wav.samples : downsampleTo8k(wav.samples);
  const samples = new Int16Array(narrow.length + Math.round(pauseSeconds * SAMPLE_RATE));
  samples.set(narrow);
  return { name: wav.name, samples };
}

/** G.722 payloads: one encoder over the whole (upsampled) source, 2 × samplesPerFrame samples a frame. */
function encodeG722Frames(source: AudioSource, samplesPerFrame: number): Uint8Array[] {
  const wide = { name: source.name, samples: upsampleTo16k(source.samples) };
  const encoder = new G722Encoder();
  return toFrames(wide, 2 * samplesPerFrame).map((f) => encoder.encode(f));
}

/** Opus payloads: one wideband encoder over the whole (upsampled) source, one packet a frame. */
function encodeOpusFrames(source: AudioSource, samplesPerFrame: number): Uint8Array[] {
  const wide = { name: source.name, samples: upsampleTo16k(source.samples) };
  const encoder = new OpusEncoder();
  try {
    return toFrames(wide, 2 * samplesPerFrame).map((f) => encoder.encode(f));
  } finally {
    encoder.close();
  }
}

/** Frame `f` of `samples` (zero-padded past the end) encoded into `out`. */
function encodeG711Frame(codec: G711Codec, samples: Int16Array, f: number, spf: number, out: Uint8Array): Uint8Array {
  const end = (f + 1) * spf;
  if (end <= samples.length) return encodeG711Into(codec, samples.subarray(f * spf, end), out);
  const padded = new Int16Array(spf);
  padded.set(samples.subarray(f * spf));
  return encodeG711Into(codec, padded, out);
}

/**
 * G.711 payloads as views of one buffer (no allocation per frame). A derived source
 * (AudioSource.derived) copies its base's frames and encodes only the frames it changed.
 */
function encodeG711Frames(source: AudioSource, codec: G711Codec, spf: number): Uint8Array[] {
  const n = Math.ceil(source.samples.length / spf);
  const derived = source.derived;
  if (derived && derived.base.samples.length === source.samples.length) {
    const frames = encodedFrames(derived.base, codec, spf).slice();
    const touched: number[] = [];
    for (const [start, end] of derived.changed) {
      for (let f = Math.max(0, Math.floor(start / spf)); f < n && f * spf < end; f++) if (touched[touched.length - 1] !== f) touched.push(f);
    }
    const bytes = new Uint8Array(touched.length * spf);
    touched.forEach((f, k) => (frames[f] = encodeG711Frame(codec, source.samples, f, spf, bytes.subarray(k * spf, (k + 1) * spf))));
    return frames;
  }
  const bytes = new Uint8Array(n * spf);
  const frames: Uint8Array[] = [];
  for (let f = 0; f < n; f++) frames.push(encodeG711Frame(codec, source.samples, f, spf, bytes.subarray(f * spf, (f + 1) * spf)));
  return frames;
}

function encodeFrames(source: AudioSource, codec: AudioCodec, samplesPerFrame: number): readonly Uint8Array[] {
  if (codec === 'G722') return encodeG722Frames(source, samplesPerFrame);
  if (codec === 'opus') return encodeOpusFrames(source, samplesPerFrame);
  return encodeG711Frames(source, codec, samplesPerFrame);
}

/**
 * Payloads of every frame of the source, computed once and shared. `samplesPerFrame`
 * counts 8 kHz source samples (ptime × 8, not RTP clock ticks: Opus ticks at 48 kHz):
 * a G.722 frame carries twice as many 16 kHz samples in as many bytes, an Opus
 * frame is one variable-size packet.
 */
export function encodedFrames(source: AudioSource, codec: AudioCodec, samplesPerFrame = 160): readonly Uint8Array[] {
  let perSource = encodedCache.get(source);
  if (!perSource) {
    perSource = new Map();
    encodedCache.set(source, perSource);
  }
  const key = `${codec}/${samplesPerFrame}`;
  let frames = perSource.get(key);
  if (!frames) {
    frames = encodeFrames(source, codec, samplesPerFrame);
    perSource.set(key, frames);
  }
  return frames;
}

let defaultSource: AudioSource | undefined;

/** Little-endian 16-bit PCM bytes → samples. */
function pcm16le(bytes: Buffer): Int16Array {
  const samples = new Int16Array(bytes.length >> 1);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 2));
  else for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(2 * i);
  return samples;
}

/**
 * The shared built-in source (4 s loop): speechLikeSignal(4), shipped precomputed
 * (speech-like-data.ts, written by scripts/gen-speech-like.ts and checked against
 * speechLikeSignal by a unit test), so no call pays for synthesising it.
 */
export function defaultAudioSource(): AudioSource {
  defaultSource ??= { name: 'speech-like', samples: pcm16le(Buffer.from(SPEECH_LIKE_4S_PCM16LE_BASE64, 'base64')) };
  return defaultSource;
}
