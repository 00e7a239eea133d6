/**
 * ITU-T G.107 E-model, narrowband, with default parameters.
 *
 *   R = R0 − Is − Id − Ie,eff + A, with R0 − Is = 93.2 (G.107 defaults) and A = 0
 *   Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)          (G.107 §3.6)
 *   Id ≈ Idd(Ta), Ta = one-way mouth-to-ear delay in ms            (G.107 §3.5;
 *        the echo terms Idte/Idle are left at their defaults, i.e. ignored)
 *     Ta ≤ 100 ms: Idd = 0
 *     Ta > 100 ms: Idd = 25 · { (1 + X⁶)^(1/6) − 3 (1 + (X/3)⁶)^(1/6) + 2 },
 *                  X = log10(Ta/100) / log10(2)
 *   MOS = 1 + 0.035 R + R (R − 60)(100 − R) · 7·10⁻⁶ for 0 < R < 100,
 *         1 for R ≤ 0, 4.5 for R ≥ 100                            (G.107 Annex B)
 *
 * Codec Ie/Bpl come from G.113 Appendix I (see codecs.ts). Pure: no I/O.
 *
 * Wideband codecs (G.722) use the wideband E-model, ITU-T G.107.1, default parameters:
 *   R_WB = Ro,WB − Id,WB − Ie,eff,WB with Ro,WB = 129 (Is,WB = 0, A = 0)
 *   Ie,eff,WB = Ie,WB + (95 − Ie,WB) · Ppl / (Ppl / BurstR + Bpl)    (G.107.1 §7.5, eq. 7-15;
 *     95 is the narrowband constant kept unscaled, not Ro,WB: docs/quality.md "Sources")
 *   Id,WB = 1.29 · Idd(Ta) (G.107.1 eq. 7-13: the narrowband delay impairment on the 129 scale)
 *   MOS = the G.107 formula of R_WB / 1.29 (G.107.1 Annex A), so MOS stays on 1–4.5;
 *   r_factor is reported on the wideband scale (0–129).
 */
import { findCodec, KNOWN_CODECS, type CodecImpairment } from './codecs.js';
import { round } from '../round.js';

/** R0 − Is with every G.107 parameter at its default value. */
export const R_DEFAULT = 93.2;
/** Ro,WB of the wideband E-model (G.107.1) with default parameters. */
export const R_WB_DEFAULT = 129;
/** Factor between the wideband and narrowband R scales (G.107.1 Annex A). */
export const WB_SCALE = 1.29;

export interface QualityInput {
  /** Codec name (PCMU, PCMA, G729, G729A, G722; case-insensitive) or an impairment record. */
  codec: string | CodecImpairment;
  /** Packet loss Ppl in percent, 0..100. */
  lossPercent: number;
  /** BurstR: 1 = random loss, > 1 = bursty (see burst.ts). Default 1. */
  burstRatio?: number;
  /** One-way mouth-to-ear delay Ta in ms. Default 0. */
  delayMs?: number;
  /** Whether the receiver conceals lost packets (selects Bpl). Default true. */
  plc?: boolean;
}

export interface QualityResult {
  /** R-factor, 2 decimals. */
  r_factor: number;
  /** MOS-CQE, 2 decimals. */
  mos: number;
  /** Effective equipment impairment Ie,eff, 3 decimals. */
  ie_eff: number;
  /** Delay impairment Id (= Idd here), 3 decimals. */
  id: number;
  /** Which E-model: "G.107" (narrowband, R 0–100) or "G.107.1" (wideband, R 0–129). */
  emodel: 'G.107' | 'G.107.1';
}

/** Bad input to the E-model (unknown codec, out-of-range number). */
export class QualityInputError extends Error {
  readonly code = 'E_QUALITY_INPUT';
}

/**
 * G.107 §3.6 (and G.107.1 eq. 7-15, with the same constant 95): effective
 * equipment impairment under packet loss.
 */
export function effectiveIe(ie: number, bpl: number, lossPercent: number, burstRatio: number): number {
  if (lossPercent === 0) return ie;
  return ie + ((95 - ie) * lossPercent) / (lossPercent / burstRatio + bpl);
}

/** G.107 §3.5: delay impairment Idd for an absolute one-way delay Ta (ms). */
export function delayImpairment(delayMs: number): number {
  if (delayMs <= 100) return 0;
  const x = Math.log10(delayMs / 100) / Math.log10(2);
  return 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2);
}

/** G.107 Annex B: R-factor to MOS-CQE, clipped to [1, 4.5]. */
export function rToMos(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  const mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
  return Math.min(4.5, Math.max(1, mos));
}


function requireRange(value: number, name: string, min: number, max: number, minExclusive = false): void {
  const belowMin = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || belowMin || value > max) {
    const low = minExclusive ? `> ${min}` : `>= ${min}`;
    throw new QualityInputError(`${name} must be a number ${low}${Number.isFinite(max) ? ` and <= ${max}` : ''}, got ${value}`);
  }
}

/** Computes R and MOS for one direction of a call (see the model above). */
export function computeQuality(input: QualityInput): QualityResult {
  const { lossPercent, burstRatio = 1, delayMs = 0, plc = true } = input;
  const codec = typeof input.codec === 'string' ? findCodec(input.codec) : input.codec;
  if (!codec) {
    throw new QualityInputError(`unknown codec "${String(input.codec)}" (known: ${KNOWN_CODECS.join(', ')})`);
  }
  requireRange(lossPercent, 'loss percent', 0, 100);
  requireRange(burstRatio, 'burst ratio', 0, Infinity, true);
  requireRange(delayMs, 'delay (ms)', 0, Infinity);

  const bpl = plc ? codec.bplWithPlc : codec.bplWithoutPlc;
  if (codec.wideband === true) {
    const ieEff = effectiveIe(codec.ie, bpl, lossPercent, burstRatio);
    const id = WB_SCALE * delayImpairment(delayMs);
    const r = R_WB_DEFAULT - id - ieEff;
    return { r_factor: round(r, 2), mos: round(rToMos(r / WB_SCALE), 2), ie_eff: round(ieEff, 3), id: round(id, 3), emodel: 'G.107.1' };
  }
  const ieEff = effectiveIe(codec.ie, bpl, lossPercent, burstRatio);
  const id = delayImpairment(delayMs);
  const r = R_DEFAULT - id - ieEff;
  return { r_factor: round(r, 2), mos: round(rToMos(r), 2), ie_eff: round(ieEff, 3), id: round(id, 3), emodel: 'G.107' };
}
