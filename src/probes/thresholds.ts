// Thresholds, once: the defaults (the config schema's, config/threshold-defaults.ts), how the config, a probe
// definition, a scenario file and CLI flags overlay them, and the checks common to every
// kind (MOS, loss and jitter per media direction, post-dial delay). A leaf of probes/: the
// runner, the scenario kind and `probe call` all come here.
import type { ProbeDefinition } from '../config/probes.js';
import type { Config, Thresholds } from '../config/schema.js';
import { THRESHOLD_DEFAULTS } from '../config/threshold-defaults.js';
import type { Failure, ProbeResult } from './result.js';

/** What a probe run is judged by: the config's thresholds without the traffic-level ASR floor. */
export type ThresholdSet = Omit<Thresholds, 'asr_min_percent'>;

/** Per-key overrides; an absent or undefined key keeps the base value. */
export type ThresholdOverrides = { readonly [K in keyof ThresholdSet]?: ThresholdSet[K] | undefined };

function withoutAsr(t: Thresholds): ThresholdSet {
  const { asr_min_percent: _asr, ...rest } = t;
  return rest;
}

/** The schema's defaults (config key `thresholds` left out entirely). */
export const DEFAULT_THRESHOLDS: Readonly<ThresholdSet> = Object.freeze(withoutAsr({ ...THRESHOLD_DEFAULTS }));

/** The config's thresholds, or the defaults without a config. */
export function baseThresholds(config?: Pick<Config, 'thresholds'>): ThresholdSet {
  return config === undefined ? { ...DEFAULT_THRESHOLDS } : withoutAsr(config.thresholds);
}

/** `base` with every override that is set. */
export function overlayThresholds(base: ThresholdSet, overrides: ThresholdOverrides): ThresholdSet {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return merged as ThresholdSet;
}

/** Config thresholds overlaid with the probe's own. */
export function effectiveThresholds(def: ProbeDefinition, config: Pick<Config, 'thresholds'>): ThresholdSet {
  return overlayThresholds(baseThresholds(config), def.thresholds);
}

/**
 * Thresholds common to kinds, checked on whatever the result measured: MOS,
 * loss and jitter per media direction, post-dial delay. A check the probe
 * already reported is not repeated.
 */
export function evaluateThresholds(result: ProbeResult, t: ThresholdSet): Failure[] {
  const out: Failure[] = [];
  const reported = new Set(result.failures.map((f) => f.check));
  const add = (f: Failure) => out.push(f);
  for (const dir of result.media?.directions ?? []) {
    const name = dir.direction;
    const { mos, loss_percent: loss, jitter_ms: jitter } = dir;
    if (typeof mos === 'number' && mos < t.mos_min && !reported.has('mos_min')) {
      add({ check: 'mos_min', expected: t.mos_min, actual: mos, phase: 'media', message: `${name}: MOS ${mos} < ${t.mos_min}` });
    }
    if (typeof loss === 'number' && loss > t.loss_max_percent && !reported.has('loss_max_percent')) {
      add({ check: 'loss_max_percent', expected: t.loss_max_percent, actual: loss, phase: 'media', message: `${name}: loss ${loss}% > ${t.loss_max_percent}%` });
    }
    if (typeof jitter === 'number' && t.jitter_max_ms !== undefined && jitter > t.jitter_max_ms && !reported.has('jitter_max_ms')) {
      add({ check: 'jitter_max_ms', expected: t.jitter_max_ms, actual: jitter, phase: 'media', message: `${name}: jitter ${jitter} ms > ${t.jitter_max_ms} ms` });
    }
  }
  const pdd = result.sip?.timings_ms?.pdd;
  if (pdd !== undefined && pdd > t.pdd_max_ms && !reported.has('pdd_max_ms')) {
    add({ check: 'pdd_max_ms', expected: t.pdd_max_ms, actual: pdd, phase: 'invite' });
  }
  return out;
}
