import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  computeQuality,
  delayImpairment,
  effectiveIe,
  QualityInputError,
  R_DEFAULT,
  rToMos,
} from '../../../src/quality/emodel.js';
import { findCodec } from '../../../src/quality/codecs.js';
import { roundingSteps } from '../../rounding.js';

interface Vector {
  codec: string;
  loss_percent: number;
  burst_ratio: number;
  delay_ms: number;
  r_factor: number;
  mos: number;
  idd?: number;
}
interface Reference {
  codecs: Record<string, { Ie: number; Bpl: number }>;
  tolerance: { mos: number; r_factor: number };
  vectors: Vector[];
}

const ref = JSON.parse(readFileSync(new URL('./fixtures/emodel.json', import.meta.url), 'utf8')) as Reference;

// The reference names "PCMU_PLC"/"PCMU_NOPLC": map them to codec + plc flag.
function inputOf(v: Vector): { codec: string; plc: boolean } {
  if (v.codec.endsWith('_NOPLC')) return { codec: v.codec.replace('_NOPLC', ''), plc: false };
  if (v.codec.endsWith('_PLC')) return { codec: v.codec.replace('_PLC', ''), plc: true };
  return { codec: v.codec, plc: true };
}

describe('computeQuality vs the reference vectors (copy of /work/shared/reference/emodel.json)', () => {
  it.each(ref.vectors.map((v) => [`${v.codec} loss ${v.loss_percent}% burst ${v.burst_ratio} delay ${v.delay_ms}`, v] as const))(
    '%s',
    (_name, v) => {
      const q = computeQuality({ ...inputOf(v), lossPercent: v.loss_percent, burstRatio: v.burst_ratio, delayMs: v.delay_ms });
      // R and MOS are rounded to 2 decimals, Idd to 3: tolerances counted in rounding steps (issue 14.5).
      expect(roundingSteps(q.r_factor, v.r_factor, 2)).toBeLessThanOrEqual(Math.round(ref.tolerance.r_factor * 100));
      expect(roundingSteps(q.mos, v.mos, 2)).toBeLessThanOrEqual(Math.round(ref.tolerance.mos * 100));
      if (v.idd !== undefined) expect(roundingSteps(q.id, v.idd, 3)).toBeLessThanOrEqual(50);
    },
  );

  it('uses the same Ie/Bpl as the reference codec table', () => {
    const pcmu = findCodec('pcmu');
    const g729a = findCodec('G.729a');
    expect(pcmu?.ie).toBe(ref.codecs.PCMU_PLC?.Ie);
    expect(pcmu?.bplWithPlc).toBe(ref.codecs.PCMU_PLC?.Bpl);
    expect(pcmu?.bplWithoutPlc).toBe(ref.codecs.PCMU_NOPLC?.Bpl);
    expect(g729a?.ie).toBe(ref.codecs.G729A?.Ie);
    expect(g729a?.bplWithPlc).toBe(ref.codecs.G729A?.Bpl);
  });
});

describe('E-model pieces', () => {
  it('Ie,eff equals Ie without loss and tends to 95 with total loss', () => {
    expect(effectiveIe(11, 19, 0, 1)).toBe(11);
    expect(effectiveIe(0, 25.1, 100, 1)).toBeCloseTo((95 * 100) / 125.1, 10);
    // Bursty loss hurts more than random loss at the same rate.
    expect(effectiveIe(0, 25.1, 5, 2)).toBeGreaterThan(effectiveIe(0, 25.1, 5, 1));
  });

  it('Idd is 0 up to 100 ms and grows monotonically after', () => {
    expect(delayImpairment(0)).toBe(0);
    expect(delayImpairment(100)).toBe(0);
    let prev = 0;
    for (const ta of [150, 200, 300, 400, 600]) {
      const idd = delayImpairment(ta);
      expect(idd).toBeGreaterThan(prev);
      prev = idd;
    }
  });

  it('maps R to MOS with clipping', () => {
    expect(rToMos(-5)).toBe(1);
    expect(rToMos(0)).toBe(1);
    expect(rToMos(120)).toBe(4.5);
    expect(rToMos(100)).toBe(4.5);
    expect(rToMos(R_DEFAULT)).toBeCloseTo(4.409, 3);
    expect(rToMos(50)).toBeCloseTo(1 + 1.75 + 50 * -10 * 50 * 7e-6, 10);
  });

  it('rounds R and MOS to 2 decimals', () => {
    const q = computeQuality({ codec: 'PCMA', lossPercent: 2.345, delayMs: 180 });
    expect(Math.round(q.r_factor * 100) / 100).toBe(q.r_factor);
    expect(Math.round(q.mos * 100) / 100).toBe(q.mos);
    expect(q.mos).toBeGreaterThanOrEqual(1);
    expect(q.mos).toBeLessThanOrEqual(4.5);
  });

  it('rejects unknown codecs and out-of-range numbers with a coded error', () => {
    expect(() => computeQuality({ codec: 'iLBC', lossPercent: 0 })).toThrow(QualityInputError);
    expect(() => computeQuality({ codec: 'PCMU', lossPercent: -1 })).toThrow(/loss percent/);
    expect(() => computeQuality({ codec: 'PCMU', lossPercent: 101 })).toThrow(QualityInputError);
    expect(() => computeQuality({ codec: 'PCMU', lossPercent: 1, burstRatio: 0 })).toThrow(/burst ratio/);
    expect(() => computeQuality({ codec: 'PCMU', lossPercent: 1, delayMs: Number.NaN })).toThrow(/delay/);
    try {
      computeQuality({ codec: 'nope', lossPercent: 0 });
    } catch (e) {
      expect((e as QualityInputError).code).toBe('E_QUALITY_INPUT');
    }
  });
});

describe('wideband E-model (G.107.1) for G.722, hand-computed', () => {
  it('no loss, no delay: R_WB = 129 − Ie,WB 13 = 116; MOS = G.107 MOS of 116/1.29 = 89.92 → 4.34', () => {
    // 1 + 0.035·89.9225 + 89.9225·29.9225·10.0775·7e-6 = 1 + 3.1473 + 0.1898 = 4.337
    expect(computeQuality({ codec: 'G722', lossPercent: 0 })).toEqual({ r_factor: 116, mos: 4.34, ie_eff: 13, id: 0, emodel: 'G.107.1' });
  });
  it('2 % random loss: Ie,eff,WB = 13 + (95 − 13)·2/(2 + 24.4) = 19.212 (G.107.1 eq. 7-15, constant 95); R 109.79; MOS of 85.11 → 4.20', () => {
    // 1 + 0.035·85.107 + 85.107·25.107·14.893·7e-6 = 1 + 2.9788 + 0.2228 = 4.2015
    expect(computeQuality({ codec: 'g.722', lossPercent: 2 })).toEqual({ r_factor: 109.79, mos: 4.2, ie_eff: 19.212, id: 0, emodel: 'G.107.1' });
  });
  it('the loss term saturates at 95, not at Ro,WB 129: 100 % loss leaves Ie,eff,WB = 13 + 82·100/124.4 = 78.916, R 50.08', () => {
    expect(computeQuality({ codec: 'G722', lossPercent: 100 })).toMatchObject({ r_factor: 50.08, ie_eff: 78.916 });
  });
  it('bursty loss: 5 %, BurstR 2: Ie,eff,WB = 13 + 82·5/(2.5 + 24.4) = 28.242; R 100.76; MOS 3.95', () => {
    expect(computeQuality({ codec: 'G722', lossPercent: 5, burstRatio: 2 })).toEqual({ r_factor: 100.76, mos: 3.95, ie_eff: 28.242, id: 0, emodel: 'G.107.1' });
  });
  it('G.722 parameters as cited in docs/quality.md: Ie,WB 13, Bpl,WB 24.4 (placeholder), the same with and without PLC', () => {
    expect(findCodec('G722')).toMatchObject({ ie: 13, bplWithPlc: 24.4, bplWithoutPlc: 24.4, wideband: true });
  });
  it('Opus WB VBR 13 kbit/s (Alahmadi/Počta/Melvin): clean R 109.04; 3 % loss: Ie,eff,WB = 19.96 + 75.04·3/22.5 = 29.965, R 99.03, MOS 3.90', () => {
    expect(computeQuality({ codec: 'opus', lossPercent: 0 })).toMatchObject({ r_factor: 109.04, mos: 4.18, ie_eff: 19.96 });
    expect(computeQuality({ codec: 'opus', lossPercent: 3 })).toEqual({ r_factor: 99.03, mos: 3.9, ie_eff: 29.965, id: 0, emodel: 'G.107.1' });
  });
  it('200 ms one-way delay: Id,WB = 1.29 · Idd(200) = 1.29 · 3.0444 = 3.927; R 112.07', () => {
    const q = computeQuality({ codec: 'G722', lossPercent: 0, delayMs: 200 });
    expect(q.id).toBe(3.927);
    expect(q.r_factor).toBe(112.07);
  });
  it('G.711 stays on the narrowband model', () => {
    expect(computeQuality({ codec: 'PCMU', lossPercent: 0 }).emodel).toBe('G.107');
  });
});
