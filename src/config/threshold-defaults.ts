// The defaults of the config's `thresholds:` keys, as plain numbers: config/schema.ts
// declares them with these values, and probes/thresholds.ts uses them when there is
// no config, so a one-shot `probe call`/`probe demo` without a config file does not
// load zod and build the config schema just to read six numbers (issue 19: demo
// start-up). test/unit/probes/thresholds.test.ts holds them equal to the schema's.
export const THRESHOLD_DEFAULTS = Object.freeze({
  mos_min: 3.5,
  loss_max_percent: 1,
  pdd_max_ms: 3000,
  cert_warn_days: 30,
  cert_crit_days: 7,
  asr_min_percent: 95,
});
