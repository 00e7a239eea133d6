// config/threshold-defaults.ts is the schema's defaults as plain numbers (so `probe demo`
// and a config-less `probe call` need not load zod): they must stay the schema's.
import { describe, expect, it } from 'vitest';
import { thresholdsSchema } from '../../../src/config/schema.js';
import { THRESHOLD_DEFAULTS } from '../../../src/config/threshold-defaults.js';
import { baseThresholds, DEFAULT_THRESHOLDS } from '../../../src/probes/thresholds.js';

describe('threshold defaults', () => {
  it('are exactly what the config schema fills in for an empty thresholds: block', () => {
    expect({ ...THRESHOLD_DEFAULTS }).toStrictEqual(thresholdsSchema.parse({}));
  });

  it('are what a probe run without a config is judged by (ASR floor aside)', () => {
    const { asr_min_percent: _asr, ...rest } = thresholdsSchema.parse({});
    expect({ ...DEFAULT_THRESHOLDS }).toStrictEqual(rest);
    expect(baseThresholds()).toStrictEqual(rest);
  });
});
