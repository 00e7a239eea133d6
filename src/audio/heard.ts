// What a receiver heard, on one timeline: decoded frames placed by RTP timestamp
// (a lost packet leaves a gap marked not heard, it does not shorten the audio),
// a new SSRC (a PBX switching from ringback to an announcement, a relay change)
// placed by its arrival time. Feeds `record` (WAV for a human) and
// `expect_prompt` (fingerprint match). Pure: the caller feeds frames.
import { FP_RATE, toFingerprintRate } from './fingerprint.js';
import { upsampleTo16k } from '../rtp/audio.js';

/** Default cap: audio after this much is not kept (memory stays bounded on long calls). */
export const HEARD_MAX_SECONDS = 180;

export interface HeardSnapshot {
  /** Timeline rate: 8000, or 16000 when the first frame was wideband (G.722). */
  rate: number;
  samples: Int16Array;
  /** 1 where a frame arrived, 0 in gaps (lost, not sent, or after the end). */
  heard: Uint8Array;
  /** Epoch ms of sample 0 (the least delayed packet's arrival, taken back by its position). */
  startMs: number;
}

interface StreamState {
  firstTs: number;
  /** Timeline index of the stream's first timestamp. */
  base: number;
  clockRate: number;
}

export class HeardAudio {
  private rate = 0;
  private samples = new Int16Array(0);
  private heardMask = new Uint8Array(0);
  private end = 0;
  private anchorMs = Number.POSITIVE_INFINITY;
  private readonly streams = new Map<number, StreamState>();
  private readonly cap: number;

  constructor(opts: { maxSeconds?: number } = {}) {
    this.cap = opts.maxSeconds ?? HEARD_MAX_SECONDS;
  }

  /**
   * One decoded frame of stream `ssrc`: `pcm` at `sampleRate` (8000 or 16000), its
   * RTP timestamp at `clockRate` (8000 for G.711 and G.722, RFC 3551), arrival epoch ms.
   */
  add(ssrc: number, pcm: Int16Array, sampleRate: number, rtpTimestamp: number, arrivalMs: number, clockRate = 8000): void {
    if (this.rate === 0) {
      this.rate = sampleRate === 2 * FP_RATE ? sampleRate : FP_RATE;
      this.anchorMs = arrivalMs;
    }
    const frame = this.toTimelineRate(pcm, sampleRate);
    let stream = this.streams.get(ssrc);
    if (!stream) {
      stream = { firstTs: rtpTimestamp, base: Math.max(0, Math.round(((arrivalMs - this.anchorMs) * this.rate) / 1000)), clockRate };
      this.streams.set(ssrc, stream);
    }
    const delta = (rtpTimestamp - stream.firstTs) | 0; // RFC 3550 timestamps wrap: signed 32-bit difference
    if (delta < 0) return; // older than the stream's first packet: reordered start, dropped
    const at = stream.base + Math.round((delta * this.rate) / stream.clockRate);
    const limit = Math.round(this.cap * this.rate);
    if (at >= limit) return;
    const n = Math.min(frame.length, limit - at);
    this.ensure(at + n);
    this.samples.set(frame.subarray(0, n), at);
    this.heardMask.fill(1, at, at + n);
    this.end = Math.max(this.end, at + n);
    this.anchorMs = Math.min(this.anchorMs, arrivalMs - (at * 1000) / this.rate);
  }

  /** Seconds of timeline so far (gaps included). */
  get seconds(): number {
    return this.rate === 0 ? 0 : this.end / this.rate;
  }

  /** Whether any frame arrived. */
  get empty(): boolean {
    return this.rate === 0;
  }

  /** Copies of the timeline up to now (or the part from `fromMs` to `toMs`, epoch ms). */
  snapshot(range: { fromMs?: number; toMs?: number } = {}): HeardSnapshot {
    if (this.rate === 0) return { rate: FP_RATE, samples: new Int16Array(0), heard: new Uint8Array(0), startMs: Date.now() };
    const a = range.fromMs === undefined ? 0 : Math.max(0, Math.min(this.end, this.indexAt(range.fromMs)));
    const b = range.toMs === undefined ? this.end : Math.max(a, Math.min(this.end, this.indexAt(range.toMs)));
    return {
      rate: this.rate,
      samples: this.samples.slice(a, b),
      heard: this.heardMask.slice(a, b),
      startMs: this.anchorMs + (a * 1000) / this.rate,
    };
  }

  /** Timeline index of an epoch time (may be negative or past the end). */
  indexAt(epochMs: number): number {
    return Math.round(((epochMs - this.anchorMs) * this.rate) / 1000);
  }

  private toTimelineRate(pcm: Int16Array, sampleRate: number): Int16Array {
    if (sampleRate === this.rate) return pcm;
    if (sampleRate === 2 * FP_RATE && this.rate === FP_RATE) return toFingerprintRate(pcm, sampleRate);
    if (sampleRate === FP_RATE && this.rate === 2 * FP_RATE) return upsampleTo16k(pcm);
    throw new RangeError(`heard audio at ${sampleRate} Hz: 8000 or 16000 Hz expected`);
  }

  private ensure(size: number): void {
    if (size <= this.samples.length) return;
    const grown = Math.max(size, Math.min(Math.round(this.cap * this.rate), this.samples.length * 2 || this.rate * 8));
    const samples = new Int16Array(grown);
    samples.set(this.samples);
    const heard = new Uint8Array(grown);
    heard.set(this.heardMask);
    this.samples = samples;
    this.heardMask = heard;
  }
}

/** A snapshot at the fingerprint's rate (8 kHz): samples and the heard mask. */
export function atFingerprintRate(s: HeardSnapshot): { samples: Int16Array; heard: Uint8Array } {
  if (s.rate === FP_RATE) return { samples: s.samples, heard: s.heard };
  const samples = toFingerprintRate(s.samples, s.rate);
  const heard = new Uint8Array(samples.length);
  for (let i = 0; i < heard.length; i++) heard[i] = s.heard[2 * i] === 1 && s.heard[2 * i + 1] === 1 ? 1 : 0;
  return { samples, heard };
}
