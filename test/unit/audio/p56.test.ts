import { describe, expect, it } from 'vitest';
import { ActiveLevelMeter, P56_STEP } from '../../../src/audio/p56.js';

/** Feeds samples the way AudioAnalyzer's hot loop does. */
function feed(meter: ActiveLevelMeter, samples: Iterable<number>): void {
  for (const v of samples) {
    meter.sumSquares += v * v;
    if (++meter.samples % P56_STEP === 0) meter.envelopeStep(Math.abs(v), meter.samples);
  }
}

function* tone(amplitude: number, seconds: number): Generator<number> {
  for (let i = 0; i < seconds * 8000; i++) yield amplitude * Math.sin((2 * Math.PI * 1000 * i) / 8000);
}

function* zeros(seconds: number): Generator<number> {
  for (let i = 0; i < seconds * 8000; i++) yield 0;
}

describe('ActiveLevelMeter (P.56 method B)', () => {
  it('a steady tone is active all the time at its mean-square level', () => {
    const m = new ActiveLevelMeter();
    feed(m, tone(8000, 2));
    const r = m.result();
    expect(r.levelDb).not.toBeNull();
    expect(r.levelDb ?? 0).toBeCloseTo(10 * Math.log10((8000 * 8000) / 2), 0);
    expect(r.activity).toBeGreaterThan(0.97);
  });

  it('speech half the time: the active level stays the tone level, activity about a half (plus the 0.2 s hangover)', () => {
    const m = new ActiveLevelMeter();
    feed(m, tone(8000, 1));
    feed(m, zeros(1));
    const r = m.result();
    // the 0.2 s hangover counts as active: the level sits up to 10·log10(1.2 / 1) ≈ 0.8 dB (plus the envelope's rise) below
    const below = 10 * Math.log10((8000 * 8000) / 2) - (r.levelDb ?? 0);
    expect(below).toBeGreaterThan(0);
    expect(below).toBeLessThan(1.5);
    expect(r.activity).toBeGreaterThan(0.5);
    expect(r.activity).toBeLessThan(0.65);
  });

  it('silence and nothing at all have no active level', () => {
    const silent = new ActiveLevelMeter();
    feed(silent, zeros(1));
    expect(silent.result()).toEqual({ levelDb: null, activity: 0 });
    expect(new ActiveLevelMeter().result()).toEqual({ levelDb: null, activity: 0 });
  });
});
