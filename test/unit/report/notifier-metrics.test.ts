import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { NotifierStats } from '../../../src/report/notifier.js';
import { registerNotifierMetrics } from '../../../src/report/notifier-metrics.js';
import type { WebhookStats } from '../../../src/report/webhook.js';

const hook = (over: Partial<WebhookStats>): WebhookStats => ({
  name: 'ops',
  format: 'json',
  spool_depth: 2,
  delivered_total: 5,
  delivery_failures_total: 7,
  rejected_total: 3,
  dead_lettered_total: 3,
  dropped_total: 1,
  filtered_total: 4,
  last_success_ms: 1_764_000_000_500,
  spool_write_failures_total: 6,
  spool_error: 'ENOSPC',
  ...over,
});

describe('notifier metrics', () => {
  it('export every notifier counter per webhook, read at scrape time', async () => {
    const registry = new Registry();
    let stats: NotifierStats = {
      firing: 1,
      spool_depth: 2,
      delivery_failures_total: 7,
      dropped_total: 1,
      spool_write_failures_total: 8,
      degraded: 'alert spool ops: ENOSPC',
      webhooks: [hook({}), hook({ name: 'new', format: 'slack', last_success_ms: null, delivered_total: 0, spool_depth: 0 })],
    };
    registerNotifierMetrics(registry, () => stats);
    const text = await registry.metrics();
    for (const line of [
      'callprobe_alert_webhook_delivered_total{webhook="ops",format="json"} 5',
      'callprobe_alert_webhook_delivery_failures_total{webhook="ops",format="json"} 7',
      'callprobe_alert_webhook_rejected_total{webhook="ops",format="json"} 3',
      'callprobe_alert_webhook_dead_lettered_total{webhook="ops",format="json"} 3',
      'callprobe_alert_webhook_dropped_total{webhook="ops",format="json"} 1',
      'callprobe_alert_webhook_filtered_total{webhook="ops",format="json"} 4',
      'callprobe_alert_webhook_spool_depth{webhook="ops",format="json"} 2',
      'callprobe_alert_webhook_last_success_timestamp_seconds{webhook="ops",format="json"} 1764000000.5',
      'callprobe_alert_webhook_delivered_total{webhook="new",format="slack"} 0',
      'callprobe_alert_spool_depth 2',
      'callprobe_alerts_firing 1',
      'callprobe_alert_spool_write_failures_total 8',
      'callprobe_alert_spool_writable 0',
    ]) {
      expect(text.split('\n')).toContain(line);
    }
    expect(text).not.toMatch(/last_success_timestamp_seconds\{webhook="new"/); // absent until the first success
    stats = { ...stats, degraded: null, spool_write_failures_total: 9 };
    const again = await registry.metrics();
    expect(again).toContain('callprobe_alert_spool_writable 1');
    expect(again).toContain('callprobe_alert_spool_write_failures_total 9');
    if (existsSync('/usr/bin/promtool')) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: again, encoding: 'utf8' });
      expect(`${lint.stdout}${lint.stderr}`).toBe('');
    }
  });
});
