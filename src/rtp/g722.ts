/**
 * ITU-T G.722 (7 kHz audio coding within 64 kbit/s): sub-band ADPCM at 64 kbit/s
 * (mode 1: 6 bits for the lower band, 2 for the higher), 16 kHz 16-bit linear PCM
 * in and out, one byte per pair of samples. Fixed-point arithmetic and the block
 * names (QUANTL, INVQAL, LOGSCL, SCALEL, UPPOL1/2, UPZERO, ...) follow the
 * Recommendation's Tables 14-17, so the output is bit-exact with the ITU
 * reference (checked against spandsp in test/unit/rtp/g722.test.ts).
 *
 * RTP (RFC 3551 §4.5.2): payload type 9, and the RTP clock rate is 8000 although
 * the audio is sampled at 16 kHz (a historical error kept for compatibility), so
 * a 20 ms packet is 160 bytes and advances the timestamp by 160.
 */

/** The QMF's 24 taps, split into the two 12-tap polyphase halves. */
const QMF_FWD = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
const QMF_REV = [-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3];

// Table 14: lower sub-band quantizer decision levels and 4/6-bit inverse quantizer outputs.
const Q6 = [
  0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219,
  1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
];
const QM4 = [
  0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
];
const QM6 = [
  -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576,
  -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040,
  -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/** Table 16: the 6-bit code of decision interval 1..30 for a negative / positive difference. */
const ILN = [0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4];
const ILP = [0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32];
/** Log scale factor multipliers (WL) by the 4-bit magnitude RIL → IL4 (RL42). */
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
// Higher sub-band: 2-bit quantizer.
const QM2 = [-7408, -1616, 7408, 1616];
const IHN = [0, 1, 0];
const IHP = [0, 3, 2];
const WH = [0, -214, 798];
const RH2 = [2, 1, 2, 1];
/** Table 15: log-to-linear conversion for the scale factors (SCALEL/SCALEH). */
const ILB = [
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025,
  3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

/** Two's-complement wrap to int16, as a C `(int16_t)` cast. */
const wrap16 = (x: number): number => (x << 16) >> 16;
const sat16 = (x: number): number => (x > 32767 ? 32767 : x < -32768 ? -32768 : x);
const sat15 = (x: number): number => (x > 16383 ? 16383 : x < -16384 ? -16384 : x);

/** The adaptive predictor state of one sub-band (Recommendation blocks 4L/4H). */
class Band {
  /** predicted signal (S) and zero-section output (SZ) */
  s = 0;
  sz = 0;
  /** reconstructed signal one sample back (R) */
  r = 0;
  /** pole coefficients A1, A2 and the last two partial reconstructions P */
  a = [0, 0];
  p = [0, 0];
  /** zero coefficients B1..B6 and quantized differences D0..D6 */
  b = [0, 0, 0, 0, 0, 0];
  d = [0, 0, 0, 0, 0, 0, 0];
  /** log scale factor (NBL/NBH) and scale factor (DETL/DETH) */
  nb = 0;
  det: number;

  constructor(
    det: number,
    private readonly nbMax: number,
    private readonly scaleShift: number,
  ) {
    this.det = det;
  }

  /** LOGSCL/LOGSCH then SCALEL/SCALEH: adapt the scale factor to the code just coded. */
  adaptScale(multiplier: number): void {
    let nb = ((this.nb * 127) >> 7) + multiplier;
    nb = nb < 0 ? 0 : nb > this.nbMax ? this.nbMax : nb;
    this.nb = nb;
    const mantissa = ILB[(nb >> 6) & 31] ?? 0;
    const shift = this.scaleShift - (nb >> 11);
    this.det = wrap16((shift < 0 ? mantissa << -shift : mantissa >> shift) << 2);
  }

  /** Block 4: RECONS, PARREC, UPPOL2, UPPOL1, FILTEP, UPZERO, FILTEZ, PREDIC for difference dx. */
  predict(dx: number): void {
    const r = sat16(this.s + dx);
    const p = sat16(this.sz + dx);
    const [a1, a2] = this.a as [number, number];
    const [p1, p2] = this.p as [number, number];

    // UPPOL2
    const wd1 = sat16(a1 << 2);
    let wd32 = (p ^ p1) & 0x8000 ? wd1 : -wd1;
    if (wd32 > 32767) wd32 = 32767;
    let ap2 = wrap16(((p ^ p2) & 0x8000 ? -128 : 128) + (wd32 >> 7) + ((a2 * 32512) >> 15));
    if (Math.abs(ap2) > 12288) ap2 = ap2 < 0 ? -12288 : 12288;
    // UPPOL1
    let ap1 = sat16(((p ^ p1) & 0x8000 ? -192 : 192) + wrap16((a1 * 32640) >> 15));
    const lim = sat16(15360 - ap2);
    if (Math.abs(ap1) > lim) ap1 = ap1 < 0 ? -lim : lim;
    // FILTEP
    const sp = sat16(wrap16((ap1 * sat16(r + r)) >> 15) + wrap16((ap2 * sat16(this.r + this.r)) >> 15));
    this.r = r;
    this.a[0] = ap1;
    this.a[1] = ap2;
    this.p[1] = p1;
    this.p[0] = p;

    // UPZERO, DELAYA, FILTEZ
    const step = dx === 0 ? 0 : 128;
    const d = this.d;
    const b = this.b;
    d[0] = dx;
    let sz = 0;
    for (let i = 5; i >= 0; i--) {
      const sign = ((d[i + 1] ?? 0) ^ dx) & 0x8000 ? -step : step;
      b[i] = sat16(sign + wrap16(((b[i] ?? 0) * 32640) >> 15));
      sz += ((b[i] ?? 0) * sat16((d[i] ?? 0) * 2)) >> 15;
      d[i + 1] = d[i] ?? 0;
    }
    this.sz = sat16(sz);
    // PREDIC
    this.s = sat16(sp + this.sz);
  }
}

/** INVQAL, LOGSCL, SCALEL and block 4L for a lower-band code: the encoder's and decoder's shared adaptation. */
function adaptLow(band: Band, ilow: number): void {
  const ril = ilow >> 2;
  const dlow = wrap16((band.det * (QM4[ril] ?? 0)) >> 15);
  band.adaptScale(WL[RL42[ril] ?? 0] ?? 0);
  band.predict(dlow);
}

/** INVQAH, LOGSCH, SCALEH and block 4H for a higher-band code; returns the quantized difference. */
function adaptHigh(band: Band, ihigh: number): number {
  const dhigh = wrap16((band.det * (QM2[ihigh] ?? 0)) >> 15);
  band.adaptScale(WH[RH2[ihigh] ?? 0] ?? 0);
  band.predict(dhigh);
  return dhigh;
}

/** Σ x[(pos + i) mod 12] · c[i]: the QMF over a 12-sample circular history. */
function qmf(x: Int16Array, c: readonly number[], pos: number): number {
  let z = 0;
  for (let i = 0; i < 12; i++) z += (x[(pos + i) % 12] ?? 0) * (c[i] ?? 0);
  return z;
}

/** What encoder and decoder both keep: the two sub-band predictors and the QMF's 12-sample history. */
abstract class SubBandCodec {
  protected readonly low = new Band(32, 18432, 8);
  protected readonly high = new Band(8, 22528, 10);
  protected readonly x = new Int16Array(12);
  protected readonly y = new Int16Array(12);
  protected ptr = 0;
  /** The last qmfStep's dot products: x·forward and y·reverse (fields, not a tuple: this runs per sample pair). */
  protected fwd = 0;
  protected rev = 0;

  /** Puts one pair (stored as int16, as the C reference's arrays) into the QMF history and filters it. */
  protected qmfStep(a: number, b: number): void {
    this.x[this.ptr] = a;
    this.y[this.ptr] = b;
    this.ptr = (this.ptr + 1) % 12;
    this.fwd = qmf(this.x, QMF_FWD, this.ptr);
    this.rev = qmf(this.y, QMF_REV, this.ptr);
  }
}

export class G722Encoder extends SubBandCodec {

  /** 16 kHz PCM (an even number of samples) → one G.722 byte per two samples. */
  encode(pcm: Int16Array): Buffer {
    const out = Buffer.alloc(pcm.length >> 1);
    for (let j = 0, k = 0; k < out.length; k++) {
      // transmit QMF: split into the two 8 kHz sub-bands (DC gain 4096, 15-bit input)
      this.qmfStep(pcm[j++] ?? 0, pcm[j++] ?? 0);
      const xlow = wrap16((this.rev + this.fwd) >> 14);
      const xhigh = wrap16((this.rev - this.fwd) >> 14);
      out[k] = (this.encodeHigh(xhigh) << 6) | this.encodeLow(xlow);
    }
    return out;
  }

  private encodeLow(xlow: number): number {
    const band = this.low;
    // SUBTRA, QUANTL
    const el = sat16(xlow - band.s);
    const wd = el >= 0 ? el : ~el;
    let i = 1;
    while (i < 30 && wd >= ((Q6[i] ?? 0) * band.det) >> 12) i++;
    const ilow = (el < 0 ? ILN[i] : ILP[i]) ?? 0;
    // INVQAL, LOGSCL, SCALEL, then the predictor
    adaptLow(band, ilow);
    return ilow;
  }

  private encodeHigh(xhigh: number): number {
    const band = this.high;
    // SUBTRA, QUANTH
    const eh = sat16(xhigh - band.s);
    const wd = eh >= 0 ? eh : ~eh;
    const mih = wd >= (564 * band.det) >> 12 ? 2 : 1;
    const ihigh = (eh < 0 ? IHN[mih] : IHP[mih]) ?? 0;
    // INVQAH, LOGSCH, SCALEH, then the predictor
    adaptHigh(band, ihigh);
    return ihigh;
  }
}

export class G722Decoder extends SubBandCodec {

  /** G.722 bytes → 16 kHz PCM, two samples per byte. */
  decode(data: Uint8Array): Int16Array {
    const out = new Int16Array(data.length * 2);
    let n = 0;
    for (const code of data) {
      const rlow = this.decodeLow(code & 0x3f);
      const rhigh = this.decodeHigh((code >> 6) & 0x03);
      // receive QMF: recombine the sub-bands
      this.qmfStep(rlow + rhigh, rlow - rhigh);
      out[n++] = wrap16(this.rev >> 11);
      out[n++] = wrap16(this.fwd >> 11);
    }
    return out;
  }

  private decodeLow(ilow: number): number {
    const band = this.low;
    // INVQBL with the 6-bit table gives the output; INVQAL (4 bits) drives adaptation
    const rlow = sat15(band.s + ((band.det * (QM6[ilow] ?? 0)) >> 15));
    adaptLow(band, ilow);
    return rlow;
  }

  private decodeHigh(ihigh: number): number {
    const band = this.high;
    const predicted = band.s;
    return sat15(adaptHigh(band, ihigh) + predicted);
  }
}
