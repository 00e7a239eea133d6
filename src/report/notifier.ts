// The Notifier: ProbeResults in, alerts delivered to every configured webhook.
// AlertTracker decides (pure), each WebhookDelivery spools and sends. The
// tracker's state is persisted next to the spools so a restart neither
// re-pages a firing alert nor forgets the "resolved" it owes.
//
// State directory layout:
//   <stateDir>/alerts/state.json              tracker state (pending/firing alerts)
//   <stateDir>/alerts/spool/<webhook>/        one file per undelivered alert
//   <stateDir>/alerts/dead-letter/<webhook>/  alerts the receiver refused (4xx)
//
// A disk that refuses writes (full, read-only, I/O error) loses nothing that is
// in memory: alerts are still sent, the state and spool are written once the
// disk allows, and degraded() says so meanwhile (/healthz answers 503).
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { ProbeResult } from '../probes/result.js';
import { AlertTracker, DEFAULT_SEVERITY_THRESHOLDS, type AlertEvent, type AlertRules, type AlertState, type SeverityThresholds } from './alerts.js';
import { errorCode, writeFileDurable } from './spool.js';
import { ALERTMANAGER_RESEND_MS } from './formats/alertmanager.js';
import { DEFAULT_DELIVERY, newMessageId, WebhookDelivery, type BackoffOptions, type DeliveryOptions, type WebhookConfig, type WebhookStats } from './webhook.js';

export interface NotifierOptions {
  /** systemd StateDirectory (e.g. /var/lib/callprobe). */
  stateDir: string;
  webhooks: WebhookConfig[];
  logger: Logger;
  rules?: Partial<AlertRules>;
  thresholds?: SeverityThresholds;
  /** Labels added to every alert (e.g. { instance: 'pbx-a' }); never secrets. */
  labels?: Record<string, string>;
  delivery?: Partial<Omit<DeliveryOptions, 'backoff'>> & { backoff?: Partial<BackoffOptions> };
  now?: () => number;
  /** Re-send interval of firing alerts to `alertmanager` webhooks (default 60 s). */
  alertmanagerResendMs?: number;
  /** Begin delivering (and replaying the spool) at open; default true. */
  autoStart?: boolean;
}

export interface NotifierStats {
  firing: number;
  /** Sum over webhooks. */
  spool_depth: number;
  delivery_failures_total: number;
  dropped_total: number;
  /** Failed writes of the spools, the dead-letter folders and state.json. */
  spool_write_failures_total: number;
  /** Why the alert store cannot be written (e.g. "ENOSPC"), or null. */
  degraded: string | null;
  webhooks: WebhookStats[];
}

const STATE_VERSION = 1;


export class Notifier {
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  /** state.json could not be written: this error, and the next observe() writes it again. */
  private stateError: string | null = null;
  private stateWriteFailures = 0;

  private constructor(
    readonly tracker: AlertTracker,
    readonly deliveries: WebhookDelivery[],
    private readonly alertsDir: string,
    private readonly labels: Record<string, string>,
    private readonly logger: Logger,
  ) {}

  static async open(opts: NotifierOptions): Promise<Notifier> {
    const now = opts.now ?? Date.now;
    const alertsDir = join(opts.stateDir, 'alerts');
    await mkdir(alertsDir, { recursive: true, mode: 0o700 });
    const delivery: DeliveryOptions = {
      ...DEFAULT_DELIVERY,
      fetch: globalThis.fetch,
      now,
      random: Math.random,
      ...opts.delivery,
      backoff: { ...DEFAULT_DELIVERY.backoff, ...opts.delivery?.backoff },
    };
    const names = new Set<string>();
    const deliveries: WebhookDelivery[] = [];
    for (const cfg of opts.webhooks) {
      const d = await WebhookDelivery.open(join(alertsDir, 'spool'), cfg, delivery, opts.logger, join(alertsDir, 'dead-letter'));
      if (names.has(d.name)) throw new Error(`two webhooks share the spool name "${d.name}": give them distinct names`);
      names.add(d.name);
      deliveries.push(d);
    }
    const tracker = new AlertTracker(opts.rules, opts.thresholds ?? DEFAULT_SEVERITY_THRESHOLDS, now);
    const saved = await readFile(join(alertsDir, 'state.json'), 'utf8').catch(() => null);
    if (saved) {
      try {
        const parsed = JSON.parse(saved) as { v?: number; alerts?: AlertState[] };
        if (parsed.v === STATE_VERSION && Array.isArray(parsed.alerts)) tracker.restore(parsed.alerts);
      } catch {
        opts.logger.warn('alert state file unreadable; starting with no active alerts');
      }
    }
    // Alertmanager forgets an alert that is not re-sent before its endsAt
    for (const d of deliveries) if (d.format === 'alertmanager') d.refreshEvery({ intervalMs: opts.alertmanagerResendMs ?? ALERTMANAGER_RESEND_MS, current: () => tracker.firingEvents() });
    const n = new Notifier(tracker, deliveries, alertsDir, opts.labels ?? {}, opts.logger);
    if (opts.autoStart !== false) n.start();
    return n;
  }

  start(): void {
    for (const d of this.deliveries) d.start();
  }

  /**
   * Feeds one probe result. Resolves once every resulting alert is durably
   * spooled (delivery continues in the background). Calls are serialised.
   */
  observe(result: ProbeResult, labels: Record<string, string> = {}): Promise<AlertEvent[]> {
    const run = async (): Promise<AlertEvent[]> => {
      if (this.closed) return [];
      const before = this.stateKey();
      const events = this.tracker.observe(result, { ...this.labels, ...labels });
      for (const e of events) await this.spoolEvent(e);
      // spool first, state second: a crash in between may repeat a firing, never lose one
      if (events.length > 0 || this.stateKey() !== before || this.stateError !== null) await this.saveState();
      return events;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Sends an alert produced elsewhere (e.g. a fraud detector) through the same spools. */
  notify(event: AlertEvent): Promise<void> {
    const run = (): Promise<void> => this.spoolEvent(event);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async spoolEvent(e: AlertEvent): Promise<void> {
    const id = newMessageId();
    for (const d of this.deliveries) await d.enqueue(id, e);
    this.logger.info({ fingerprint: e.fingerprint, status: e.status, severity: e.severity, probe: e.probe, check: e.check, id }, 'alert');
  }

  private stateKey(): string {
    return this.tracker
      .active()
      .map((s) => `${s.fingerprint}:${s.status}`)
      .sort()
      .join(',');
  }

  /** A failed write keeps the state in memory; the next observe() tries again. */
  private async saveState(): Promise<void> {
    try {
      await writeFileDurable(this.alertsDir, 'state.json', JSON.stringify({ v: STATE_VERSION, alerts: this.tracker.snapshot() }));
      if (this.stateError !== null) this.logger.warn('alert state file writable again');
      this.stateError = null;
    } catch (err) {
      this.stateWriteFailures += 1;
      if (this.stateError === null) this.logger.error({ err: errorCode(err) }, 'alert state file cannot be written; kept in memory, retried on the next probe result');
      this.stateError = errorCode(err);
    }
  }

  /** Why alerts cannot be stored durably right now (for /healthz), or undefined. */
  degraded(): string | undefined {
    const reasons = this.deliveries.flatMap((d) => {
      const err = d.stats().spool_error;
      return err === null ? [] : [`alert spool ${d.name}: ${err}`];
    });
    if (this.stateError !== null) reasons.push(`alert state file: ${this.stateError}`);
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  stats(): NotifierStats {
    const webhooks = this.deliveries.map((d) => d.stats());
    return {
      firing: this.tracker.firingCount(),
      spool_depth: webhooks.reduce((a, w) => a + w.spool_depth, 0),
      delivery_failures_total: webhooks.reduce((a, w) => a + w.delivery_failures_total, 0),
      dropped_total: webhooks.reduce((a, w) => a + w.dropped_total, 0),
      spool_write_failures_total: webhooks.reduce((a, w) => a + w.spool_write_failures_total, this.stateWriteFailures),
      degraded: this.degraded() ?? null,
      webhooks,
    };
  }

  /** Resolves true when every spool is empty, false after timeoutMs. */
  async idle(timeoutMs = Infinity): Promise<boolean> {
    await this.chain;
    const all = await Promise.all(this.deliveries.map((d) => d.idle(timeoutMs)));
    return all.every(Boolean);
  }

  /** Stops delivery; undelivered alerts stay spooled for the next start. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await Promise.all(this.deliveries.map((d) => d.close()));
  }
}
