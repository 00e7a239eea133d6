import { describe, expect, it } from 'vitest';
import { boundRoute, callResult, kpiFailure, PbxKpi } from '../../../src/agent/pbx-kpi.js';
import type { CallFinalEvent } from '../../../src/analytics/events.js';
import { KpiTracker } from '../../../src/analytics/kpi.js';
import { classifySeverity } from '../../../src/report/alerts.js';
import { ProbeMetrics } from '../../../src/report/metrics.js';

describe('route labels and outcomes', () => {
  it('keeps named routes and folds everything else into "other"', () => {
    const named = new Set(['trunk-a']);
    expect(boundRoute('trunk-a', named)).toBe('trunk-a');
    expect(boundRoute('trunk-b', named)).toBe('other');
    expect(boundRoute(undefined, named)).toBe('other');
  });

  it('maps final statuses to answered / busy / no_answer / failed', () => {
    expect([200, 202, 486, 600, 603, 480, 408, 487, 404, 403, 503, 488, 302].map(callResult)).toEqual([
      'answered', 'answered', 'busy', 'busy', 'busy', 'no_answer', 'no_answer', 'no_answer', 'failed', 'failed', 'failed', 'failed', 'failed',
    ]);
  });

  it('an asr_drop is critical, an asr_min a warning, whatever the runbook thresholds say', () => {
    const drop = kpiFailure({ check: 'asr_drop', source: 'cdr', route: 'trunk-a', expected: 60, actual: 30.04, previous: 90, seizures: 20 });
    expect(drop).toMatchObject({ check: 'asr_drop', expected: 60, actual: 30, phase: 'internal' });
    expect(drop.message).toBe('ASR of route trunk-a (cdr) fell from 90 % to 30 % over the last hour (20 seizures)');
    expect(classifySeverity(drop)).toBe('critical');
    expect(classifySeverity(kpiFailure({ check: 'asr_min', source: 'cdr', route: 'x', expected: 50, actual: 10, seizures: 20 }))).toBe('warning');
  });
});

describe('PbxKpi', () => {
  const T0 = Date.parse('2026-12-03T12:00:00Z');
  const final = (at: number, route: string, status: number): CallFinalEvent => ({ type: 'call_final', source: 'cdr', at, callId: `${at}-${route}-${status}`, route, status, inviteAt: at - 1000 });

  function feed(k: PbxKpi, from: number, route: string, answered: number, failed: number): void {
    for (let i = 0; i < answered + failed; i++) k.observe(final(from + i * 1000, route, i < answered ? 200 : 503));
  }

  it('judges each named route and "other" once (not the "*" aggregates), and keeps judging a failing route until it recovers', async () => {
    let now = T0;
    const metrics = new ProbeMetrics();
    const k = new PbxKpi(new KpiTracker({ now: () => now }), { routes: ['trunk-a'], asr_drop_points: 30, min_seizures: 10 }, metrics);
    feed(k, T0 - 100 * 60_000, 'trunk-a', 18, 2);
    feed(k, T0 - 30 * 60_000, 'trunk-a', 6, 14);
    for (let i = 0; i < 30; i++) feed(k, T0 - (i + 1) * 60_000, `ctx-${i}`, 1, 0);
    const v = k.judge();
    expect(v.map((x) => [x.result.probe, x.result.failures.map((f) => f.check)]).sort()).toEqual([
      ['pbx:cdr:other', []],
      ['pbx:cdr:trunk-a', ['asr_drop']],
    ]);
    expect(v.find((x) => x.result.probe === 'pbx:cdr:trunk-a')?.labels).toEqual({ kind: 'pbx_kpi', source: 'cdr', route: 'trunk-a' });
    k.publish();
    const text = await metrics.metrics();
    const routes = new Set([...text.matchAll(/^callprobe_(?:pbx_calls_total|asr_ratio|ner_ratio)\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]));
    expect(routes).toEqual(new Set(['trunk-a', 'other', '*']));
    expect(text).toMatch(/^callprobe_pbx_calls_total\{source="cdr",route="trunk-a",result="failed"\} 16$/m);
    expect(text).toMatch(/^callprobe_asr_ratio\{source="cdr",route="trunk-a",window="3600s"\} 0\.3$/m);
    // three hours later nothing is in the window: trunk-a still gets a verdict, an ok one, and only once
    now = T0 + 3 * 3_600_000;
    expect(k.judge().map((x) => [x.result.probe, x.result.success])).toEqual([['pbx:cdr:trunk-a', true]]);
    expect(k.judge()).toEqual([]);
    k.publish();
    expect(await metrics.metrics()).not.toMatch(/^callprobe_asr_ratio\{/m);
    metrics.close();
  });
});
