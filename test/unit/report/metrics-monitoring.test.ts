// monitoring/: the alert rules pass promtool's own unit tests, and every metric
// the rules and the Grafana dashboard query is one the agent actually exports.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PbxKpi } from '../../../src/agent/pbx-kpi.js';
import { PbxVoice } from '../../../src/agent/pbx-voice.js';
import { KpiTracker } from '../../../src/analytics/kpi.js';
import { ProbeMetrics } from '../../../src/report/metrics.js';
import { registerNotifierMetrics } from '../../../src/report/notifier-metrics.js';
import { requiredInCi } from '../../ci-required.js';

const DIR = resolve(import.meta.dirname, '../../../monitoring');
const hasPromtool = requiredInCi(existsSync('/usr/bin/promtool'), 'promtool (package prometheus)');

function exportedNames(): Set<string> {
  const m = new ProbeMetrics({ selfMetrics: true, lateness: { lateness: () => ({ count: 0, p99_ms: 0, max_ms: 0 }), resetLateness: () => undefined } });
  try {
    // the agent's passive side registers these on the same registry (src/agent/analytics.ts)
    new PbxKpi(new KpiTracker(), { routes: [], asr_drop_points: 20, min_seizures: 20 }, m);
    new PbxVoice(m);
    registerNotifierMetrics(m.registry, () => ({ firing: 0, spool_depth: 0, delivery_failures_total: 0, dropped_total: 0, spool_write_failures_total: 0, degraded: null, webhooks: [] }));
    const names = new Set<string>();
    for (const metric of m.registry.getMetricsAsArray()) {
      const name = (metric as unknown as { name: string }).name;
      names.add(name);
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
    return names;
  } finally {
    m.close();
  }
}

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
}

const rules = (parse(readFileSync(join(DIR, 'callprobe.rules.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

/** Metric names in a PromQL expression: identifiers of our namespaces (labels and functions excluded). */
function metricNames(expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '{}');
  return [...withoutLabels.matchAll(/\b((?:probe|callprobe|nodejs|process)_[a-z0-9_]*|callprobe:[a-z0-9_:]+)\b/g)].map((m) => m[1] ?? '');
}

describe('Prometheus rules', () => {
  it.skipIf(!hasPromtool)('pass promtool check rules and promtool test rules', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'callprobe.rules.yml'], { cwd: DIR, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const test = spawnSync('promtool', ['test', 'rules', 'callprobe.rules.test.yml'], { cwd: DIR, encoding: 'utf8' });
    expect(`${test.stdout}${test.stderr}`).toMatch(/SUCCESS/);
    expect(test.status).toBe(0);
  });

  it('cover the runbook alerts with their severities', () => {
    const sev = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert, r.labels?.severity]));
    expect(sev).toMatchObject({
      CallprobeMOSLow: 'critical',
      CallprobeCallSuccessLow: 'critical',
      CallprobeCertExpiringSoon: 'warning',
      CallprobeCertExpiryCritical: 'critical',
      CallprobeProbeDown: 'critical',
      CallprobeWebhookFailing: 'critical',
      CallprobeWebhookRejecting: 'critical',
      CallprobeAlertSpoolNotWritable: 'critical',
      CallprobeScenarioFailing: 'critical',
      CallprobeCertProbeFailing: 'critical',
      CallprobePbxAsrDrop: 'critical',
      CallprobePbxAsrLow: 'warning',
      CallprobePbxFailedCallsHigh: 'critical',
      CallprobePbxMosLowShare: 'critical',
      CallprobeFraudCritical: 'critical',
      CallprobeFraudWarning: 'warning',
    });
  });

  it('query only exported metrics', () => {
    const names = exportedNames();
    for (const r of rules) for (const n of metricNames(r.expr)) expect(names.has(n) || recorded.has(n), `${n} in ${r.expr}`).toBe(true);
  });
});

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string }[] }[];
  };
  const panels = dash.panels.filter((p) => p.type !== 'row');

  it('has the panels operators asked for, each with a query', () => {
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const want of ['call success', 'mos per direction', 'loss', 'jitter', 'post-dial delay', 'certificate days left', 'fraud events', 'real calls: asr', 'real calls: share at mos 3.5']) {
      expect(titles).toContain(want);
    }
    expect(dash.panels.filter((p) => p.type === 'row').map((p) => p.title.toLowerCase()).join('\n')).toContain('real traffic');
    for (const p of panels) expect(p.targets?.length, p.title).toBeGreaterThan(0);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
  });

  it('queries only exported metrics', () => {
    const names = exportedNames();
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        const used = metricNames(t.expr);
        expect(used.length, t.expr).toBeGreaterThan(0);
        for (const n of used) expect(names.has(n) || recorded.has(n), `${n} in panel "${p.title}"`).toBe(true);
      }
    }
  });

  it('lays panels out without overlap on the 24-column grid', () => {
    const boxes = dash.panels.map((p) => p.gridPos);
    boxes.forEach((a, i) => {
      expect(a.x + a.w).toBeLessThanOrEqual(24);
      boxes.slice(i + 1).forEach((b) => {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap).toBe(false);
      });
    });
  });
});
