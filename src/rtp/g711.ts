/**
 * ITU-T G.711 µ-law (PCMU) and A-law (PCMA) companding, 16-bit linear PCM in
 * and out. Segment/bias arithmetic as in the ITU-T reference (and the classic
 * Sun g711.c): µ-law bias 0x84 with clip at 32635, A-law with even-bit
 * inversion (XOR 0x55). Decoding uses 256-entry tables built from the same
 * functions; encoding through two 8 Ki-entry tables (see encodeG711). A
 * 64 Ki-entry table, one entry per 16-bit input, cost twice the work it saved.
 */

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** Linear 16-bit sample → µ-law byte. */
export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.trunc(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** µ-law byte → linear 16-bit sample. */
export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? 0 - magnitude : magnitude;
}

/** Linear 16-bit sample → A-law byte. */
export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.trunc(sample))) >> 3; // 13-bit
  let mask: number;
  if (s >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    s = -s - 1;
  }
  let seg = 0;
  while (seg < 8 && s > (0x20 << seg) - 1) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  const aval = (seg << 4) | (seg < 2 ? (s >> 1) & 0x0f : (s >> seg) & 0x0f);
  return aval ^ mask;
}

/** A-law byte → linear 16-bit sample. */
export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

export type G711Codec = 'PCMU' | 'PCMA';

const decodeTables = new Map<G711Codec, Int16Array>();

function decodeTable(codec: G711Codec): Int16Array {
  let table = decodeTables.get(codec);
  if (!table) {
    table = new Int16Array(256);
    for (let b = 0; b < 256; b++) table[b] = codec === 'PCMU' ? ulawToLinear(b) : alawToLinear(b);
    decodeTables.set(codec, table);
  }
  return table;
}

/**
 * Encoding tables, 8 Ki entries each, built on first use from the functions above
 * (a unit test compares every 16-bit input). µ-law's code depends only on the
 * magnitude >> 2 (the bias 0x84 is a multiple of 4, the mantissa starts at bit 3)
 * and the sign, which only clears bit 7; A-law's only on sample >> 3. A call
 * encodes its marked signal (up to 16 × 20 000 samples) while the far end waits
 * for the answer: per-sample calls of cold code cost ~20 ms there (issue 19).
 */
let ulawByMagnitude: Uint8Array | undefined;
let alawBy13Bit: Uint8Array | undefined;

function ulawTable(): Uint8Array {
  if (!ulawByMagnitude) {
    ulawByMagnitude = new Uint8Array(8193); // magnitude 32768 >> 2 = 8192
    for (let m = 0; m <= 8192; m++) ulawByMagnitude[m] = linearToUlaw(Math.min(32767, m << 2));
  }
  return ulawByMagnitude;
}

function alawTable(): Uint8Array {
  if (!alawBy13Bit) {
    alawBy13Bit = new Uint8Array(8192);
    for (let v = -4096; v < 4096; v++) alawBy13Bit[v + 4096] = linearToAlaw(v << 3);
  }
  return alawBy13Bit;
}

/** Encodes 16-bit PCM samples to G.711 bytes (one byte per sample). */
export function encodeG711(codec: G711Codec, samples: Int16Array): Uint8Array {
  return encodeG711Into(codec, samples, new Uint8Array(samples.length));
}

/** encodeG711 into `out` (length ≥ samples.length); returns `out`. */
export function encodeG711Into(codec: G711Codec, samples: Int16Array, out: Uint8Array): Uint8Array {
  if (codec === 'PCMU') {
    const t = ulawTable();
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i] as number;
      out[i] = s < 0 ? (t[-s >> 2] as number) & 0x7f : (t[s >> 2] as number);
    }
  } else {
    const t = alawTable();
    for (let i = 0; i < samples.length; i++) out[i] = t[((samples[i] as number) >> 3) + 4096] as number;
  }
  return out;
}

/** Decodes G.711 bytes to 16-bit PCM samples. */
export function decodeG711(codec: G711Codec, bytes: Uint8Array): Int16Array {
  return decodeG711Into(codec, bytes, new Int16Array(bytes.length));
}

/** decodeG711 into `out` (length ≥ bytes.length); returns the decoded part of `out`. */
export function decodeG711Into(codec: G711Codec, bytes: Uint8Array, out: Int16Array): Int16Array {
  const table = decodeTable(codec);
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i] ?? 0] ?? 0;
  return out.length === bytes.length ? out : out.subarray(0, bytes.length);
}

/** RTP static payload type of a G.711 codec (RFC 3551 Table 4). */
export function payloadTypeOf(codec: G711Codec): number {
  return codec === 'PCMU' ? 0 : 8;
}
