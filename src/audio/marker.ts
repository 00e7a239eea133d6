// The test-signal marker: a 500 ms tone sequence that names the call and direction it was
// sent on, and its place in the stream. Pure: generation, CRC and symbol decisions; the
// streaming search lives in analyzer.ts.
//
// Layout at 8 kHz (every part a whole number of 10 ms blocks, the start on a 20 ms frame
// boundary so the first marker packet is the one that carries the sync onset):
//   sync    80 ms  400 Hz + 2800 Hz
//   gap     20 ms  silence
//   6 × (50 ms dual tone + 10 ms silence)   4 bits each: one of 4 low × one of 4 high tones
//   tail    40 ms  silence
// The 24 data bits are id (16) | seq (4) | CRC-4 (4). All frequencies are multiples of
// 100 Hz, so over an 80-sample block they are exact, orthogonal DFT bins: a 10 ms block is
// classified without leakage between tones, and a lost 20 ms packet costs two blocks of a
// 50 ms symbol, never the whole symbol. None of the pairs is a DTMF pair.

export const MARKER_RATE = 8000;
/** Analysis block: 10 ms. */
export const BLOCK = 80;
export const SYNC_HZ = [400, 2800] as const;
export const LOW_HZ = [500, 600, 1000, 1100] as const;
export const HIGH_HZ = [1800, 2000, 2200, 2400] as const;
export const SYNC_BLOCKS = 8;
export const GAP_BLOCKS = 2;
export const SYMBOL_BLOCKS = 6;
export const TONE_BLOCKS = 5;
export const SYMBOLS = 6;
export const TAIL_BLOCKS = 4;
/** Blocks from the sync onset to the first data symbol. */
export const DATA_OFFSET_BLOCKS = SYNC_BLOCKS + GAP_BLOCKS;
export const MARKER_BLOCKS = DATA_OFFSET_BLOCKS + SYMBOLS * SYMBOL_BLOCKS + TAIL_BLOCKS; // 50
export const MARKER_SAMPLES = MARKER_BLOCKS * BLOCK; // 4000 = 500 ms
/** Peak amplitude of each of the two tones (the pair peaks at 2 × this). */
export const TONE_AMPLITUDE = 5000;
/** Mean power of one tone as sent: A²/2. */
export const TONE_POWER = (TONE_AMPLITUDE * TONE_AMPLITUDE) / 2;
/** Sequence numbers wrap at 16. */
export const SEQ_MODULO = 16;

export interface MarkerPayload {
  /** 16-bit call/direction id. */
  id: number;
  /** 0-15. */
  seq: number;
}

/** CRC-4 (x^4 + x + 1, CRC-4-ITU) over the low `bits` bits of value, MSB first. */
export function crc4(value: number, bits: number): number {
  let crc = 0;
  for (let i = bits - 1; i >= 0; i--) {
    const bit = (value >>> i) & 1;
    const top = (crc >>> 3) & 1;
    crc = ((crc << 1) & 0xf) ^ ((top ^ bit) === 1 ? 0x3 : 0);
  }
  return crc;
}

/** The six 4-bit symbols of a payload. */
export function encodeSymbols(p: MarkerPayload): number[] {
  const body = ((p.id & 0xffff) << 4) | (p.seq & 0xf);
  const word = (body << 4) | crc4(body, 20);
  const out: number[] = [];
  for (let i = SYMBOLS - 1; i >= 0; i--) out.push((word >>> (4 * i)) & 0xf);
  return out;
}

/** The payload of six symbols, or undefined when the CRC does not match. */
export function decodeSymbols(symbols: readonly number[]): MarkerPayload | undefined {
  if (symbols.length !== SYMBOLS) return undefined;
  let word = 0;
  for (const s of symbols) word = (word << 4) | (s & 0xf);
  const body = word >>> 4;
  if (crc4(body, 20) !== (word & 0xf)) return undefined;
  return { id: body >>> 4, seq: body & 0xf };
}

/** A tone of `n` samples with 2 ms raised-cosine ramps (no clicks to splash into other bins), cached: every marker reuses it. */
const toneCache = new Map<string, Float32Array>();
function tone(hz: number, n: number): Float32Array {
  const key = `${hz}/${n}`;
  let t = toneCache.get(key);
  if (!t) {
    const ramp = 16;
    t = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const env = i < ramp ? 0.5 - 0.5 * Math.cos((Math.PI * i) / ramp) : i >= n - ramp ? 0.5 - 0.5 * Math.cos((Math.PI * (n - 1 - i)) / ramp) : 1;
      t[i] = TONE_AMPLITUDE * env * Math.sin((2 * Math.PI * hz * i) / MARKER_RATE);
    }
    toneCache.set(key, t);
  }
  return t;
}

function addTones(out: Float32Array, at: number, n: number, a: number, b: number): void {
  const ta = tone(a, n);
  const tb = tone(b, n);
  for (let i = 0; i < n; i++) out[at + i] = (ta[i] ?? 0) + (tb[i] ?? 0);
}

/**
 * Writes the six data symbols of `p` into `out` for a marker whose onset is at `at`
 * (the rest of the marker, sync pair and gaps, is the caller's), clipped at the end of
 * `out`. Exactly the symbol samples markerSamples() makes.
 */
export function writeMarkerSymbols(out: Int16Array, at: number, p: MarkerPayload): void {
  encodeSymbols(p).forEach((sym, k) => {
    const start = at + (DATA_OFFSET_BLOCKS + k * SYMBOL_BLOCKS) * BLOCK;
    const pcm = symbolPcm(sym);
    out.set(start + pcm.length <= out.length ? pcm : pcm.subarray(0, Math.max(0, out.length - start)), start);
  });
}

/** The 16 symbols' dual tones as sent (rounded like markerSamples' Float32 sum), built once. */
const symbolCache: Int16Array[] = [];
function symbolPcm(sym: number): Int16Array {
  let pcm = symbolCache[sym];
  if (!pcm) {
    const n = TONE_BLOCKS * BLOCK;
    const ta = tone(LOW_HZ[sym >> 2] ?? 0, n);
    const tb = tone(HIGH_HZ[sym & 3] ?? 0, n);
    pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) pcm[i] = Math.round(Math.fround((ta[i] ?? 0) + (tb[i] ?? 0)));
    symbolCache[sym] = pcm;
  }
  return pcm;
}

/** The marker's 4000 samples (8 kHz). */
export function markerSamples(p: MarkerPayload): Int16Array {
  const acc = new Float32Array(MARKER_SAMPLES);
  addTones(acc, 0, SYNC_BLOCKS * BLOCK, SYNC_HZ[0], SYNC_HZ[1]);
  encodeSymbols(p).forEach((sym, k) => {
    addTones(acc, (DATA_OFFSET_BLOCKS + k * SYMBOL_BLOCKS) * BLOCK, TONE_BLOCKS * BLOCK, LOW_HZ[sym >> 2] ?? 0, HIGH_HZ[sym & 3] ?? 0);
  });
  const out = new Int16Array(MARKER_SAMPLES);
  for (let i = 0; i < MARKER_SAMPLES; i++) out[i] = Math.round(acc[i] ?? 0); // peaks at 2 × 5000: no clipping
  return out;
}

/** Frequencies whose block powers the analyzer computes: sync pair, then low, then high. */
export const ANALYSIS_HZ: readonly number[] = [...SYNC_HZ, ...LOW_HZ, ...HIGH_HZ];

/** Goertzel coefficients (2 cos ω) of ANALYSIS_HZ at 8 kHz. */
export const GOERTZEL_COEFFS = Float64Array.from(ANALYSIS_HZ, (hz) => 2 * Math.cos((2 * Math.PI * hz) / MARKER_RATE));

/**
 * Mean power of each ANALYSIS_HZ tone in one block (an exact DFT bin: a tone of amplitude
 * A reads A²/2), into `out`.
 */
export function blockTonePowers(block: Float32Array | Int16Array, start: number, out: Float64Array, count = GOERTZEL_COEFFS.length): void {
  out.fill(0, count);
  for (let f = 0; f < count; f++) {
    const c = GOERTZEL_COEFFS[f] ?? 0;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < BLOCK; i++) {
      const s0 = (block[start + i] ?? 0) + c * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    // |X|² = s1² + s2² − c·s1·s2; a tone of amplitude A gives (A·N/2)²; mean power A²/2
    const mag2 = s1 * s1 + s2 * s2 - c * s1 * s2;
    out[f] = (2 * mag2) / (BLOCK * BLOCK);
  }
}

/**
 * Whether a block is the sync pair: both sync tones present and together most of the
 * block's power (speech has harmonics everywhere; a pair of pure bins is rare).
 */
export function isSyncBlock(powers: Float64Array, blockPower: number): boolean {
  const a = powers[0] ?? 0;
  const b = powers[1] ?? 0;
  return blockPower > 0 && a > 0.2 * blockPower && b > 0.2 * blockPower && a + b > 0.6 * blockPower;
}

/**
 * One symbol from the summed tone powers of its received blocks (indices as in
 * ANALYSIS_HZ), or undefined when a group has no clear winner (the strongest below 4× the
 * runner-up).
 */
export function decideSymbol(sum: Float64Array): number | undefined {
  const pick = (from: number): number | undefined => {
    let best = -1;
    let bestP = -1;
    let second = 0;
    for (let i = 0; i < 4; i++) {
      const p = sum[from + i] ?? 0;
      if (p > bestP) {
        second = Math.max(second, bestP);
        bestP = p;
        best = i;
      } else second = Math.max(second, p);
    }
    return bestP > 0 && bestP >= 4 * second ? best : undefined;
  };
  const lo = pick(2);
  const hi = pick(6);
  return lo === undefined || hi === undefined ? undefined : lo * 4 + hi;
}

/** A 16-bit marker id for a call and direction (FNV-1a of "callId|role", folded). */
export function markerId(callId: string, role: 'caller' | 'callee'): number {
  let h = 0x811c9dc5;
  const text = `${callId}|${role}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return ((h >>> 16) ^ h) & 0xffff;
}
