// The Notifier's counters on /metrics: read from Notifier.stats() at scrape
// time (collect), so the numbers are the notifier's own, never a second count.
// Per webhook the label is its spool name (a hash of format + URL unless
// named): the URL itself may hold a token.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { NotifierStats } from './notifier.js';
import type { WebhookStats } from './webhook.js';

type WebhookCounter = keyof Pick<
  WebhookStats,
  'delivered_total' | 'delivery_failures_total' | 'rejected_total' | 'dead_lettered_total' | 'dropped_total' | 'filtered_total'
>;

const COUNTERS: Record<WebhookCounter, string> = {
  delivered_total: 'Alert notifications the webhook accepted (2xx).',
  delivery_failures_total: 'Failed delivery attempts (network error, timeout, 408/425/429, 5xx); every retry counts.',
  rejected_total: 'Alert notifications the webhook refused permanently (3xx, other 4xx); not retried.',
  dead_lettered_total: 'Refused alert notifications kept in the dead-letter folder under state_dir.',
  dropped_total: 'Alert notifications dropped because the spool was at its bound.',
  filtered_total: 'Alert notifications not sent to this webhook because of its min_severity.',
};

/** Registers the notifier metrics on `registry`; `stats` is called on every scrape. */
export function registerNotifierMetrics(registry: Registry, stats: () => NotifierStats): void {
  const labelsOf = (w: WebhookStats): { webhook: string; format: string } => ({ webhook: w.name, format: w.format });
  for (const [key, help] of Object.entries(COUNTERS) as [WebhookCounter, string][]) {
    new Counter({
      name: `callprobe_alert_webhook_${key}`,
      help,
      labelNames: ['webhook', 'format'],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of stats().webhooks) this.inc(labelsOf(w), w[key]);
      },
    });
  }
  new Gauge({
    name: 'callprobe_alert_webhook_last_success_timestamp_seconds',
    help: 'Unix time of the last alert notification the webhook accepted (absent until the first).',
    labelNames: ['webhook', 'format'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of stats().webhooks) if (w.last_success_ms !== null) this.set(labelsOf(w), w.last_success_ms / 1000);
    },
  });
  new Gauge({
    name: 'callprobe_alert_webhook_spool_depth',
    help: 'Alert notifications waiting for delivery to this webhook (on disk, or in memory while the disk refuses writes).',
    labelNames: ['webhook', 'format'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of stats().webhooks) this.set(labelsOf(w), w.spool_depth);
    },
  });
  new Gauge({
    name: 'callprobe_alert_spool_depth',
    help: 'Alert notifications waiting for delivery, all webhooks.',
    registers: [registry],
    collect() {
      this.set(stats().spool_depth);
    },
  });
  new Gauge({
    name: 'callprobe_alerts_firing',
    help: 'Alerts currently firing (webhook notifier).',
    registers: [registry],
    collect() {
      this.set(stats().firing);
    },
  });
  new Counter({
    name: 'callprobe_alert_spool_write_failures_total',
    help: 'Failed writes of the alert spool, dead-letter folder or alert state file (disk full, read-only, I/O error).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().spool_write_failures_total);
    },
  });
  new Gauge({
    name: 'callprobe_alert_spool_writable',
    help: '1 when the alert spool and state file can be written, 0 while the disk refuses (the agent is degraded).',
    registers: [registry],
    collect() {
      this.set(stats().degraded === null ? 1 : 0);
    },
  });
}
