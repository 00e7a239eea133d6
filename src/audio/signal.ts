// The marked test signal of one call direction: the built-in speech-like signal with a
// marker (marker.ts) every 2.5 s that names the call and direction (id) and its place
// (seq), and the times the packets carrying each marker's onset left this process, for
// mouth-to-ear delay when the receiver is in the same process (one clock).
import type { AudioSource } from '../rtp/audio.js';
import { BLOCK, DATA_OFFSET_BLOCKS, MARKER_SAMPLES, SEQ_MODULO, SYMBOLS, SYMBOL_BLOCKS, markerSamples, writeMarkerSymbols } from './marker.js';

export const MARKER_PERIOD_SAMPLES = 20_000; // 2.5 s at 8 kHz
/** The first marker starts 0.3 s into the stream (on a 20 ms frame boundary). */
export const FIRST_MARKER_SAMPLE = 2400;

export interface MarkedSignal {
  readonly id: number;
  /** 8 kHz samples, looped by the sender. */
  readonly samples: Int16Array;
  /**
   * The samples as the sender's source: derived from the shared template (the same for
   * every call of this length) with only the symbol ranges changed, so G.711 encodes
   * 18 frames per marker and takes the rest from the template's cached frames.
   */
  readonly source: AudioSource;
  /** Sample offset of each marker's onset (index = seq). */
  readonly onsets: readonly number[];
  /** Clock ms when the packet carrying marker `seq`'s onset was last sent (NaN: not yet). */
  readonly sentAt: Float64Array;
  /** Sender hook: frame `frameIndex` of `samplesPerFrame` samples went out at `nowMs`. */
  frameSent(frameIndex: number, samplesPerFrame: number, nowMs: number): void;
}

/**
 * The part of a marked signal that does not depend on the id: `base` looped over `n`
 * marker periods with each marker's sync pair and silent gaps written in (the symbols
 * are left silent). Cached per base and count: every call of the same length shares it,
 * so a call copies it once and writes only its 6 symbols per marker.
 */
const templates = new WeakMap<Int16Array, Map<number, AudioSource>>();
function template(base: Int16Array, n: number): AudioSource {
  let byCount = templates.get(base);
  if (!byCount) templates.set(base, (byCount = new Map()));
  let source = byCount.get(n);
  if (!source) {
    const t = new Int16Array(n * MARKER_PERIOD_SAMPLES);
    for (let i = 0; i < t.length; i += base.length) t.set(base.subarray(0, Math.min(base.length, t.length - i)), i);
    const blank = markerSamples({ id: 0, seq: 0 }).fill(0, DATA_OFFSET_BLOCKS * BLOCK); // sync pair, then silence
    for (let seq = 0; seq < n; seq++) {
      const at = FIRST_MARKER_SAMPLE + seq * MARKER_PERIOD_SAMPLES;
      t.set(blank.subarray(0, Math.min(MARKER_SAMPLES, t.length - at)), at);
    }
    source = { name: 'speech-like+marker-template', samples: t };
    byCount.set(n, source);
  }
  return source;
}

/**
 * `base` (looped) with `count` markers (1–16) for id, one per 2.5 s: the source is
 * count × 2.5 s long, so a call shorter than that never repeats a sequence number.
 */
export function markedSignal(id: number, base: Int16Array, count: number): MarkedSignal {
  const n = Math.max(1, Math.min(SEQ_MODULO, Math.floor(count)));
  const tpl = template(base, n);
  const samples = tpl.samples.slice();
  const onsets: number[] = [];
  const changed: [number, number][] = [];
  for (let seq = 0; seq < n; seq++) {
    const at = FIRST_MARKER_SAMPLE + seq * MARKER_PERIOD_SAMPLES;
    writeMarkerSymbols(samples, at, { id, seq });
    onsets.push(at);
    changed.push([at + DATA_OFFSET_BLOCKS * BLOCK, Math.min(samples.length, at + (DATA_OFFSET_BLOCKS + SYMBOLS * SYMBOL_BLOCKS) * BLOCK)]);
  }
  const sentAt = new Float64Array(SEQ_MODULO).fill(Number.NaN);
  // frame index → seq + 1 for the frame holding an onset (0: none), per frame size
  let table: { spf: number; seqOf: Int8Array } | undefined;
  return {
    id,
    samples,
    source: { name: 'speech-like+markers', samples, derived: { base: tpl, changed } },
    onsets,
    sentAt,
    frameSent(frameIndex, samplesPerFrame, nowMs) {
      if (table?.spf !== samplesPerFrame) {
        const seqOf = new Int8Array(Math.ceil(samples.length / samplesPerFrame));
        onsets.forEach((o, seq) => (seqOf[Math.floor(o / samplesPerFrame)] = seq + 1));
        table = { spf: samplesPerFrame, seqOf };
      }
      const s = table.seqOf[frameIndex] ?? 0;
      if (s === 0) return;
      const onset = onsets[s - 1] ?? 0;
      // the onset's own time inside the frame (0 when frames start on it, as at 10/20/40 ms)
      sentAt[s - 1] = nowMs + ((onset - frameIndex * samplesPerFrame) * 1000) / 8000;
    },
  };
}

/** How many markers a stream of `durationMs` needs so no sequence number repeats (max 16; unknown: 8). */
export function markerCountFor(durationMs: number | undefined): number {
  if (durationMs === undefined) return 8; // unknown length (probe answer): a 20 s loop
  return Math.max(1, Math.min(SEQ_MODULO, Math.ceil((durationMs / 1000) / 2.5) + 1));
}
