import { describe, expect, it, vi } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { parseProbeFileText, type ProbeDefinition } from '../../../src/config/probes.js';
import { createLogger } from '../../../src/log.js';
import type { ProbeKindMap } from '../../../src/probes/index.js';
import { PROBE_KIND_MAP, availableKinds } from '../../../src/probes/index.js';
import { runProbe, runSuite, suiteOutcome } from '../../../src/probes/runner.js';
import { evaluateThresholds } from '../../../src/probes/thresholds.js';

const config = parseConfigText(
  'pbx: { uri: "sip:127.0.0.1:5060" }\naccounts: { "1001": { password: a }, "1002": { password: b } }\nthresholds: { mos_min: 3.5, pdd_max_ms: 1000 }\n',
  '/x/c.yaml',
  {},
);
const logger = createLogger('silent');

function def(yaml: string): ProbeDefinition {
  const d = parseProbeFileText(`probes:\n  - ${yaml}\n`, '/p/t.yaml', config)[0];
  if (!d) throw new Error('no probe');
  return d;
}

const callResult = (mosA: number, mosB: number, pdd = 12) => ({
  probe: 'call',
  success: true,
  sip: { final_status: 200, timings_ms: { pdd } },
  media: {
    directions: [
      { direction: 'caller_to_callee', mos: mosA, loss_percent: 0, jitter_ms: 0.2 },
      { direction: 'callee_to_caller', mos: mosB, loss_percent: 2.5, jitter_ms: 0.3 },
    ],
  },
  failures: [],
});

describe('runProbe', () => {
  it('times the probe, names it and hands the result to the reporter', async () => {
    const report = vi.fn();
    const kinds: ProbeKindMap = {
      options: { run: async () => ({ probe: 'x', success: true, failures: [], sip: { final_status: 200 } }) },
    };
    const r = await runProbe(def('{ name: o1, kind: options, labels: { site: lab } }'), { config, logger, kinds, report });
    expect(r).toMatchObject({ probe: 'o1', kind: 'options', success: true, failures: [], labels: { site: 'lab' } });
    expect(r.duration_s).toBeGreaterThanOrEqual(0);
    expect(Date.parse(r.started_at)).not.toBeNaN();
    expect(report).toHaveBeenCalledWith(r, expect.objectContaining({ name: 'o1' }));
  });

  it('turns a throwing probe into phase "internal" without throwing', async () => {
    const kinds: ProbeKindMap = { options: { run: async () => Promise.reject(Object.assign(new Error('boom'), { code: 'E_X' })) } };
    const r = await runProbe(def('{ name: o2, kind: options }'), { config, logger, kinds });
    expect(r.success).toBe(false);
    expect(r.failures).toEqual([{ check: 'exception', phase: 'internal', message: 'boom (E_X)' }]);
  });

  it('reports a kind missing from the map as a config failure', async () => {
    const r = await runProbe(def('{ name: s1, kind: scenario, file: x.yaml }'), { config, logger, kinds: {} });
    expect(r.success).toBe(false);
    expect(r.failures[0]).toMatchObject({ check: 'kind_available', phase: 'config' });
  });

  it('aborts at the timeout and adds a timeout failure keeping the probe phase', async () => {
    let seenSignal: AbortSignal | undefined;
    const kinds: ProbeKindMap = {
      register: {
        run: (ctx) =>
          new Promise((resolve) => {
            seenSignal = ctx.signal;
            ctx.signal.addEventListener('abort', () =>
              resolve({ probe: 'r', success: false, failures: [{ check: 'register', phase: 'register', message: 'aborted' }] }),
            );
          }),
      },
    };
    const r = await runProbe(def('{ name: r1, kind: register, account: "1001", timeout: 100ms }'), { config, logger, kinds });
    expect(seenSignal?.aborted).toBe(true);
    expect(r.success).toBe(false);
    expect(r.failures.map((f) => [f.check, f.phase])).toEqual([
      ['register', 'register'],
      ['timeout', 'register'],
    ]);
    expect(r.duration_s).toBeGreaterThanOrEqual(0.09);
  });

  it('gives up on a probe that ignores the abort after the grace period', async () => {
    const kinds: ProbeKindMap = { options: { run: () => new Promise(() => undefined) } };
    const r = await runProbe(def('{ name: o3, kind: options, timeout: 100ms }'), { config, logger, kinds, abortGraceMs: 50 });
    expect(r.success).toBe(false);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ check: 'timeout', phase: 'internal', expected: 100 });
  });

  it('applies probe thresholds over config thresholds', async () => {
    const kinds: ProbeKindMap = { call: { run: async () => callResult(4.4, 4.1, 1500) } };
    const report = vi.fn();
    const r = await runProbe(def('{ name: c1, kind: call, from: "1001", to: "1002", thresholds: { mos_min: 4.2 } }'), {
      config,
      logger,
      kinds,
      report,
    });
    expect(r.success).toBe(false);
    expect(r.failures.map((f) => [f.check, f.phase, f.actual])).toEqual([
      ['mos_min', 'media', 4.1],
      ['loss_max_percent', 'media', 2.5],
      ['pdd_max_ms', 'invite', 1500],
    ]);
    expect(report.mock.calls[0]?.[0]).toBe(r);
  });

  it('does not report runs cut short by shutdown, but marks them', async () => {
    const shutdown = new AbortController();
    const report = vi.fn();
    const kinds: ProbeKindMap = {
      options: {
        run: (ctx) =>
          new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ probe: 'o', success: false, failures: [] }))),
      },
    };
    const p = runProbe(def('{ name: o4, kind: options }'), { config, logger, kinds, report, signal: shutdown.signal });
    setTimeout(() => shutdown.abort(), 20);
    const r = await p;
    expect(r.aborted).toBe(true);
    expect(report).not.toHaveBeenCalled();
  });

  it('survives a throwing reporter', async () => {
    const kinds: ProbeKindMap = { options: { run: async () => ({ probe: 'o', success: true, failures: [] }) } };
    const r = await runProbe(def('{ name: o5, kind: options }'), {
      config,
      logger,
      kinds,
      report: () => {
        throw new Error('reporter bug');
      },
    });
    expect(r.success).toBe(true);
  });
});

describe('evaluateThresholds', () => {
  it('skips checks the probe already reported and measurements that are absent', () => {
    const t = { mos_min: 4.5, loss_max_percent: 1, pdd_max_ms: 10, cert_warn_days: 30, cert_crit_days: 7 };
    const r = callResult(4.4, 4.4);
    expect(evaluateThresholds({ ...r, failures: [{ check: 'mos_min', phase: 'media' }] }, t).map((f) => f.check)).toEqual([
      'loss_max_percent',
      'pdd_max_ms',
    ]);
    expect(evaluateThresholds({ probe: 'o', success: true, failures: [] }, t)).toEqual([]);
  });
});

describe('PROBE_KIND_MAP', () => {
  it('wires only kinds whose modules exist', () => {
    expect(availableKinds()).toContain('cert');
    expect(availableKinds().every((k) => typeof PROBE_KIND_MAP[k]?.run === 'function')).toBe(true);
  });
});

describe('runSuite / suiteOutcome', () => {
  it('runs every probe once in order, within the concurrency limit', async () => {
    let active = 0;
    let peak = 0;
    const kinds: ProbeKindMap = {
      options: {
        run: async (_ctx, d) => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 20));
          active--;
          return { probe: d.name, success: d.name !== 'b', failures: d.name === 'b' ? [{ check: 'final_status', expected: 200, actual: 503, phase: 'options' }] : [] };
        },
      },
    };
    const defs = parseProbeFileText('probes:\n  - { name: a, kind: options }\n  - { name: b, kind: options }\n  - { name: c, kind: options }\n', '/p/s.yaml', config);
    const s = await runSuite(defs, { config, logger, kinds, concurrency: 2 });
    expect(s.results.map((r) => [r.probe, r.success])).toEqual([['a', true], ['b', false], ['c', true]]);
    expect([s.passed, s.failed, s.success]).toEqual([2, 1, false]);
    expect(peak).toBe(2);
    expect(suiteOutcome(s.results)).toBe('failed');
  });

  it('ranks outcomes: internal > config > failed > passed', () => {
    const ok = { probe: 'a', success: true, failures: [] };
    const bad = { probe: 'b', success: false, failures: [{ check: 'mos_min', phase: 'media' as const }] };
    const missing = { probe: 'c', success: false, failures: [{ check: 'kind_available', phase: 'config' as const }] };
    const crashed = { probe: 'd', success: false, failures: [{ check: 'exception', phase: 'internal' as const }] };
    expect(suiteOutcome([ok])).toBe('passed');
    expect(suiteOutcome([ok, bad])).toBe('failed');
    expect(suiteOutcome([bad, missing])).toBe('config');
    expect(suiteOutcome([missing, crashed, ok])).toBe('internal');
  });
});
