// A robust audio fingerprint to tell whether received audio contains a reference
// recording (an IVR prompt), after the public description of Haitsma & Kalker,
// "A Highly Robust Audio Fingerprinting System" (ISMIR 2002): per frame, the
// energies of log-spaced sub-bands; one bit per band pair and frame, the sign of
//   d(n,m) = (L(n,m) − L(n,m+1)) − (L(n−1,m) − L(n−1,m+1))
// (a difference in frequency and in time). Differences of log energies do not
// change with the level; small coding noise (G.711, G.722) flips only bits whose
// |d| is small. Two changes for telephone speech, where pauses are long:
//  - bits are weighted by the reference's |d| (capped), and only the reference's
//    active frames count (silence has random bits on both sides);
//  - received samples that never arrived (lost packets, from the `heard` mask)
//    take no part: the match says how much of the prompt was heard (coverage)
//    apart from how well what was heard matches (similarity).
// similarity = Σ w·(agree ? 1 : −1) / Σ w over the usable bits, clamped to [0, 1]:
// 1 is the same audio, about 0 unrelated audio (random signs agree half the time).
// Pure: no I/O.
import { downsampleTo8k } from '../rtp/audio.js';
import { PowerSpectrum } from './fft.js';

export const FP_RATE = 8000;
/** Analysis frame: 32 ms. */
const FRAME = 256;
/** Reference frames every 8 ms. */
const HOP = 64;
/** The received audio is analysed every 1 ms, so any alignment is within 0.5 ms. */
const STEP = 8;
/** Band edges, log-spaced over the telephone band: 17 bands give 16 bits a frame. */
const EDGES_HZ = Array.from({ length: 18 }, (_, i) => 300 * (3400 / 300) ** (i / 17));
const BANDS = EDGES_HZ.length - 1;
const BITS = BANDS - 1;
/** A reference frame counts when it is within this many dB of the prompt's loudest frame. */
const ACTIVE_DB = 35;
/** Cap on a bit's weight (natural-log units, ≈ 13 dB): no few bits decide alone. */
const WEIGHT_CAP = 3;

const BIN_HZ = FP_RATE / FRAME;
const BAND_BINS: ReadonlyArray<readonly [number, number]> = Array.from({ length: BANDS }, (_, m) => {
  const lo = Math.round((EDGES_HZ[m] as number) / BIN_HZ);
  const hi = Math.max(lo + 1, Math.round((EDGES_HZ[m + 1] as number) / BIN_HZ));
  return [lo, hi] as const;
});
const WINDOW = Float64Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME));
/** A frame's energy per unit of signal power (Parseval, Hann window). */
const FRAME_GAIN = FRAME * WINDOW.reduce((a, w) => a + w * w, 0);
/**
 * Band energies are floored this far under the signal's mean power before the log, so
 * silence and bands without content give finite logs that follow the level (a level
 * change moves the floor with the signal and leaves the differences alone).
 */
const FLOOR_DB = 45;

/** A reference recording, analysed once. */
export interface PromptFingerprint {
  /** Length of the reference, samples at 8 kHz. */
  readonly samples: number;
  /** Frames (every HOP samples, from sample HOP on: frame k compares positions k·HOP and (k−1)·HOP). */
  readonly frames: number;
  /** Sign of d per frame and bit: +1 / −1. */
  readonly signs: Int8Array;
  /** Weight per frame and bit (0 for inactive frames). */
  readonly weights: Float32Array;
  /** Weight per frame (0: inactive, skipped). */
  readonly frameWeights: Float32Array;
  readonly totalWeight: number;
}

export interface PromptMatch {
  /** 0..1 over the bits that were heard. */
  similarity: number;
  /** Share of the prompt's weight that was heard (0..1): lost packets and audio not yet received lower it. */
  coverage: number;
  /** Where the prompt starts in the received audio, samples at 8 kHz. */
  offset: number;
}

/**
 * Band log energies of frames of one signal, computed on demand and kept: the
 * coarse alignment search needs only every fourth 1 ms position.
 */
class BandAnalyser {
  private readonly fft = new PowerSpectrum(FRAME);
  private readonly frame = new Float64Array(FRAME);
  private readonly power = new Float64Array(FRAME / 2 + 1);

  private readonly floor: number;

  constructor(private readonly samples: ArrayLike<number>) {
    let power = 0;
    for (let i = 0; i < samples.length; i++) power += (samples[i] as number) ** 2;
    const meanPower = samples.length > 0 ? power / samples.length : 0;
    this.floor = Math.max(1, meanPower) * FRAME_GAIN * 10 ** (-FLOOR_DB / 10);
  }

  /** log(E(m) + floor) for the frame starting at sample `p` (zero-padded outside the signal) into `out`. */
  logs(p: number, out: Float64Array, offset = 0): void {
    const { samples, frame, power } = this;
    for (let i = 0; i < FRAME; i++) {
      const idx = p + i;
      frame[i] = idx >= 0 && idx < samples.length ? (samples[idx] as number) * (WINDOW[i] as number) : 0;
    }
    this.fft.compute(frame, power);
    for (let m = 0; m < BANDS; m++) {
      const [lo, hi] = BAND_BINS[m] as readonly [number, number];
      let e = 0;
      for (let k = lo; k < hi; k++) e += power[k] as number;
      out[offset + m] = Math.log(e + this.floor);
    }
  }

  /** g(m) = L(m) − L(m+1) for the frame at `p` into `out` at `offset`. */
  differences(p: number, out: Float64Array, offset: number): void {
    const logs = new Float64Array(BANDS);
    this.logs(p, logs);
    for (let m = 0; m < BITS; m++) out[offset + m] = (logs[m] as number) - (logs[m + 1] as number);
  }
}

function frameLevels(logs: Float64Array, frames: number): Float64Array {
  const level = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let m = 0; m < BANDS; m++) e += Math.exp(logs[f * BANDS + m] as number);
    level[f] = 10 * Math.log10(e);
  }
  return level;
}

/** Fingerprint of a reference recording (8 kHz samples; see toFingerprintRate()). */
export function promptFingerprint(samples: Int16Array | Float32Array): PromptFingerprint {
  const count = Math.max(0, Math.floor((samples.length - FRAME) / HOP) + 1);
  const analyser = new BandAnalyser(samples);
  const logs = new Float64Array(count * BANDS);
  for (let f = 0; f < count; f++) analyser.logs(f * HOP, logs, f * BANDS);
  const g = new Float64Array(count * BITS);
  for (let f = 0; f < count; f++) {
    for (let m = 0; m < BITS; m++) g[f * BITS + m] = (logs[f * BANDS + m] as number) - (logs[f * BANDS + m + 1] as number);
  }
  const level = frameLevels(logs, count);
  const loudest = level.reduce((a, b) => Math.max(a, b), -Infinity);
  const frames = Math.max(0, count - 1);
  const signs = new Int8Array(frames * BITS);
  const weights = new Float32Array(frames * BITS);
  const frameWeights = new Float32Array(frames);
  let total = 0;
  for (let k = 0; k < frames; k++) {
    const active = (level[k + 1] as number) >= loudest - ACTIVE_DB && (level[k] as number) >= loudest - ACTIVE_DB;
    for (let m = 0; m < BITS; m++) {
      const d = (g[(k + 1) * BITS + m] as number) - (g[k * BITS + m] as number);
      signs[k * BITS + m] = d >= 0 ? 1 : -1;
      const w = active ? Math.min(Math.abs(d), WEIGHT_CAP) : 0;
      weights[k * BITS + m] = w;
      frameWeights[k] = (frameWeights[k] as number) + w;
      total += w;
    }
  }
  return { samples: samples.length, frames, signs, weights, frameWeights, totalWeight: total };
}

export interface MatchOptions {
  /**
   * Earliest / latest start of the prompt in `received`, samples (default: anywhere it fits).
   * `from` may be negative: the prompt began before the first sample received (its head counts as not heard).
   */
  from?: number;
  to?: number;
  /** 1 where the sample was received, 0 where it was lost or not yet received (default: all heard). */
  heard?: Uint8Array;
  /** Search the best 4 ms alignment again at 1 ms (a delay measurement); default: 4 ms is enough to recognise. */
  refine?: boolean;
}

/** Frames analysed (FFTs) between two yields of matchPromptGradually(): a few ms of CPU. */
const FRAMES_PER_SLICE = 32;
/** Alignments scored between two yields. */
const LAGS_PER_SLICE = 64;
/** Coarse alignment step, in analysis positions (4 ms). */
const COARSE = 4;

/**
 * Finds the best alignment of the prompt in the received audio (8 kHz) with the
 * prompt starting between `from` and `to`. Alignments running past the end of
 * the received audio count the missing part as not heard (lower coverage).
 */
export function matchPrompt(prompt: PromptFingerprint, received: Int16Array | Float32Array, opts: MatchOptions = {}): PromptMatch {
  const search = matchPromptGradually(prompt, received, opts);
  for (;;) {
    const r = search.next();
    if (r.done === true) return r.value;
  }
}

/**
 * matchPrompt() in slices: yields every few ms of work, so a caller on the media
 * engine's event loop can let the pacer run between slices (seconds of audio
 * take tens of ms to analyse).
 */
export function* matchPromptGradually(prompt: PromptFingerprint, received: Int16Array | Float32Array, opts: MatchOptions = {}): Generator<void, PromptMatch> {
  const none: PromptMatch = { similarity: 0, coverage: 0, offset: 0 };
  if (prompt.frames === 0 || prompt.totalWeight === 0) return none;
  const from = Math.floor((opts.from ?? 0) / STEP) * STEP;
  const to = Math.max(from, Math.min(opts.to ?? received.length - prompt.samples, received.length - FRAME));
  if (received.length < FRAME || to < from) return none;
  // analysis positions every STEP from `from` to the last frame the latest alignment needs
  const last = Math.min(to + prompt.frames * HOP, received.length - FRAME);
  const count = Math.floor((last - from) / STEP) + 1;
  const analyser = new BandAnalyser(received);
  const g = new Float64Array(count * BITS);
  const done = new Uint8Array(count);
  const usable = heardFrames(opts.heard, from, count, received.length);
  const perHop = HOP / STEP;
  const lags = Math.floor((to - from) / STEP) + 1;

  /** Analyses the positions the alignments `lagList` need, yielding between slices. */
  function* analyse(lagList: readonly number[]): Generator<void, void> {
    let work = 0;
    for (const lag of lagList) {
      for (let k = 0; k <= prompt.frames; k++) {
        const j = lag + k * perHop;
        if (j >= count || done[j] === 1 || usable[j] === 0) continue;
        analyser.differences(from + j * STEP, g, j * BITS);
        done[j] = 1;
        if (++work % FRAMES_PER_SLICE === 0) yield;
      }
    }
  }

  const score = (lagIndex: number): { similarity: number; coverage: number } => {
    let agree = 0;
    let used = 0;
    for (let k = 0; k < prompt.frames; k++) {
      const j0 = lagIndex + k * perHop;
      const j1 = j0 + perHop;
      if (j1 >= count || usable[j0] === 0 || usable[j1] === 0 || prompt.frameWeights[k] === 0) continue;
      const o0 = j0 * BITS;
      const o1 = j1 * BITS;
      for (let m = 0; m < BITS; m++) {
        const w = prompt.weights[k * BITS + m] as number;
        if (w === 0) continue;
        const d = (g[o1 + m] as number) - (g[o0 + m] as number);
        used += w;
        agree += (d >= 0 ? 1 : -1) === prompt.signs[k * BITS + m] ? w : -w;
      }
    }
    return { similarity: used > 0 ? Math.max(0, agree / used) : 0, coverage: used / prompt.totalWeight };
  };

  let best = none;
  let bestKey = -1;
  let bestLag = 0;
  function* scoreAll(lagList: readonly number[]): Generator<void, void> {
    yield* analyse(lagList);
    for (const lag of lagList) {
      const r = score(lag);
      // rank by the evidence: similarity, with alignments heard less than half discounted
      const key = r.similarity * Math.min(1, r.coverage * 2);
      if (key > bestKey) {
        bestKey = key;
        bestLag = lag;
        best = { similarity: r.similarity, coverage: r.coverage, offset: from + lag * STEP };
      }
    }
  }
  // every 4 ms; then, for a measurement, around the best at 1 ms
  const coarse = Array.from({ length: Math.ceil(lags / COARSE) }, (_, i) => i * COARSE);
  for (let i = 0; i < coarse.length; i += LAGS_PER_SLICE) {
    yield* scoreAll(coarse.slice(i, i + LAGS_PER_SLICE));
    yield;
  }
  if (opts.refine === true) {
    const centre = bestLag;
    const fine = [];
    for (let lag = Math.max(0, centre - COARSE + 1); lag <= Math.min(lags - 1, centre + COARSE - 1); lag++) if (lag !== centre) fine.push(lag);
    yield* scoreAll(fine);
  }
  return best;
}

/** 1 per analysis position (every STEP from `from`) whose whole frame was heard. */
function heardFrames(heard: Uint8Array | undefined, from: number, count: number, length: number): Uint8Array {
  const out = new Uint8Array(count).fill(1);
  // before the first sample nothing was heard
  for (let f = 0; f < count && from + f * STEP < 0; f++) out[f] = 0;
  if (!heard) return out;
  // prefix sums: a frame is heard when none of its samples is missing
  const missing = new Uint32Array(length + 1);
  for (let i = 0; i < length; i++) missing[i + 1] = (missing[i] as number) + (heard[i] === 1 ? 0 : 1);
  for (let f = 0; f < count; f++) {
    const p = from + f * STEP;
    if (p < 0) continue;
    const end = Math.min(length, p + FRAME);
    if ((missing[end] as number) - (missing[p] as number) > 0) out[f] = 0;
  }
  return out;
}

/** Audio at 8 or 16 kHz (G.722, wideband WAVs) at the fingerprint's 8 kHz. */
export function toFingerprintRate(samples: Int16Array, rate: number): Int16Array {
  if (rate === FP_RATE) return samples;
  if (rate !== 2 * FP_RATE) throw new RangeError(`audio at ${rate} Hz: 8000 or 16000 Hz expected`);
  return downsampleTo8k(samples);
}
