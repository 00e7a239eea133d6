// Delivery to one webhook: a durable spool drained head-first by one loop, so
// alerts arrive in order. An alert leaves the spool only after a 2xx, or, on a
// permanent refusal (4xx), into the dead-letter folder (counted, logged once).
// Failures back off exponentially with jitter; 429/503 `Retry-After` is
// honoured. A spool the disk refuses keeps its alerts in memory (still sent)
// and is written again every `spoolRetryMs`. Secrets and the URL path (Slack
// puts its token there) never reach a log line or a body.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { atLeast, type AlertEvent, type Severity } from './alerts.js';
import { renderAlertmanager } from './formats/alertmanager.js';
import { endpointOf, renderAlert, type WebhookFormat } from './formats/render.js';
import { standardWebhookHeaders } from './signing.js';
import { errorCode, Spool, spoolFileName, type SpoolEntry, type WriteFile } from './spool.js';

export interface WebhookConfig {
  /** Names the spool directory, logs and stats; default derived from a hash of the URL. */
  name?: string;
  url: string;
  format: WebhookFormat;
  /** Standard Webhooks signing secret (`whsec_<base64>` or any string); resolved value, not `env:`/`file:`. */
  secret?: string;
  /** Alerts below this severity are not sent to this webhook (default info: all). */
  min_severity?: Severity;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: each delay is reduced by up to this fraction at random (spreads a fleet's retries). */
  jitter: number;
}

export interface DeliveryOptions {
  /** Per attempt, connect + response. */
  timeoutMs: number;
  backoff: BackoffOptions;
  /** Longest Retry-After honoured; longer values are capped to this. */
  maxRetryAfterMs: number;
  /** Spool bound per webhook (also the bound of its dead-letter folder). */
  maxSpool: number;
  /** While the spool cannot be written: how often to try again. */
  spoolRetryMs: number;
  /** The spool's durable write (tests inject disk faults). */
  writeFile?: WriteFile;
  externalURL?: string;
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
}

export const DEFAULT_DELIVERY: Omit<DeliveryOptions, 'fetch' | 'now' | 'random'> = {
  timeoutMs: 10_000,
  backoff: { initialMs: 1_000, maxMs: 300_000, factor: 2, jitter: 0.2 },
  maxRetryAfterMs: 3_600_000,
  maxSpool: 1_000,
  spoolRetryMs: 5_000,
};

export interface WebhookStats {
  name: string;
  format: WebhookFormat;
  spool_depth: number;
  delivered_total: number;
  /** Attempts that failed (network error, timeout, non-2xx); each retry counts. */
  delivery_failures_total: number;
  /** Alerts the receiver refused permanently (3xx, 4xx other than 408/425/429): not retried. */
  rejected_total: number;
  /** Refused alerts kept in the dead-letter folder. */
  dead_lettered_total: number;
  /** Alerts dropped by the spool bound. */
  dropped_total: number;
  /** Alerts not sent here because of min_severity. */
  filtered_total: number;
  /** Unix ms of the last 2xx, or null. */
  last_success_ms: number | null;
  /** Failed spool writes, renames or unlinks. */
  spool_write_failures_total: number;
  /** The spool's last disk error (e.g. ENOSPC) while it cannot be written; null when writable. */
  spool_error: string | null;
}

/** RFC 9110 10.2.3: delay-seconds or an HTTP-date. Returns ms from now, or undefined if unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined; // "-1", "1.5": not a delay-seconds, not a date
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** attempt 1 → initialMs, doubling (factor) up to maxMs, minus up to `jitter` of it at random. */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  const base = Math.min(b.maxMs, b.initialMs * b.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - b.jitter * random()));
}

/** For logs: scheme + host only (Slack and others carry the credential in the path). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(invalid url)';
  }
}

export function webhookKey(cfg: WebhookConfig): string {
  if (cfg.name && /^[A-Za-z0-9_.-]{1,64}$/.test(cfg.name) && !cfg.name.startsWith('.')) return cfg.name;
  return `wh-${createHash('sha256').update(`${cfg.format}\u0000${cfg.url}`).digest('hex').slice(0, 12)}`;
}

/** A `webhook-id`: unique per alert notification, fixed before the first attempt. */
export function newMessageId(): string {
  return `msg_${randomUUID().replace(/-/g, '')}`;
}

/** Re-sends what is firing now (Alertmanager forgets alerts that are not refreshed). */
export interface Refresh {
  intervalMs: number;
  current: () => AlertEvent[];
}

type Outcome = { kind: 'ok' } | { kind: 'retry'; status?: number; retryAfterMs?: number; reason: string } | { kind: 'reject'; status: number };

const PERMANENT_EXCEPT = new Set([408, 425, 429]);

export class WebhookDelivery {
  readonly name: string;
  readonly format: WebhookFormat;
  private closed = false;
  private readonly closer = new AbortController();
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private attempt = 0;
  /** Unix ms before which no attempt is made (backoff / Retry-After). */
  nextAttemptAt = 0;
  /** Unix ms before which the spool is not retried (while it cannot be written). */
  private nextFlushAt = 0;
  private refresh: Refresh | null = null;
  private nextRefreshAt = 0;
  /** A refusal was logged as an error; reset by the next 2xx. */
  private refusalLogged = false;
  private readonly counters = { delivered: 0, failures: 0, rejected: 0, deadLettered: 0, filtered: 0, lastSuccess: null as number | null };

  private constructor(
    private readonly cfg: WebhookConfig,
    readonly spool: Spool,
    /** Where refused alerts are kept: `<deadLetterRoot>/<webhook>/`. */
    readonly deadLetterDir: string,
    private readonly opts: DeliveryOptions,
    private readonly logger: Logger,
  ) {
    this.name = webhookKey(cfg);
    this.format = cfg.format;
  }

  /**
   * Opens this webhook's spool under `spoolRoot` (alerts left by a previous run
   * are kept, in order); refused alerts go to `deadLetterRoot/<webhook>/`.
   */
  static async open(spoolRoot: string, cfg: WebhookConfig, opts: DeliveryOptions, logger: Logger, deadLetterRoot = join(spoolRoot, '..', 'dead-letter')): Promise<WebhookDelivery> {
    const name = webhookKey(cfg);
    const spool = await Spool.open(join(spoolRoot, name), { maxEntries: opts.maxSpool, ...(opts.writeFile ? { writeFile: opts.writeFile } : {}) });
    const d = new WebhookDelivery(cfg, spool, join(deadLetterRoot, name), opts, logger);
    if (spool.corrupt > 0) logger.error({ webhook: d.name, corrupt: spool.corrupt }, 'unreadable spool files moved aside');
    if (spool.depth > 0) logger.info({ webhook: d.name, pending: spool.depth }, 'replaying spooled alerts');
    return d;
  }

  /**
   * Re-sends every alert firing now, in one request, every `intervalMs` while
   * nothing waits in the spool (spooled alerts go first, so a refresh never
   * overtakes a "resolved"). Not spooled: a lost refresh is replaced by the next.
   */
  refreshEvery(refresh: Refresh): void {
    this.refresh = refresh;
    this.nextRefreshAt = this.opts.now() + refresh.intervalMs;
  }

  /** Starts (or resumes) draining the spool. Idempotent. */
  start(): void {
    if (this.loop || this.closed) return;
    this.loop = this.run().catch((err: unknown) => {
      this.logger.error({ webhook: this.name, err: err instanceof Error ? err.message : String(err) }, 'webhook delivery loop stopped');
    });
  }

  /** Spools an alert (durably) for this webhook; false when its severity is below min_severity. */
  async enqueue(id: string, event: AlertEvent): Promise<boolean> {
    if (!atLeast(event.severity, this.cfg.min_severity ?? 'info')) {
      this.counters.filtered += 1;
      return false;
    }
    const { dropped, written } = await this.spool.append(id, event, new Date(this.opts.now()));
    this.logDropped(dropped);
    if (!written) {
      this.logger.error(
        { webhook: this.name, id, err: this.spool.writeError, unwritten: this.spool.unwrittenCount },
        'alert spool cannot be written: alert kept in memory, sent anyway, written once the disk allows',
      );
      this.nextFlushAt = this.opts.now() + this.opts.spoolRetryMs;
    }
    this.wake?.();
    return true;
  }

  private logDropped(dropped: SpoolEntry[]): void {
    for (const d of dropped) this.logger.warn({ webhook: this.name, dropped_id: d.id, severity: d.severity }, 'spool full: oldest alert dropped');
  }

  stats(): WebhookStats {
    return {
      name: this.name,
      format: this.cfg.format,
      spool_depth: this.spool.depth,
      delivered_total: this.counters.delivered,
      delivery_failures_total: this.counters.failures,
      rejected_total: this.counters.rejected,
      dead_lettered_total: this.counters.deadLettered,
      dropped_total: this.spool.dropped,
      filtered_total: this.counters.filtered,
      last_success_ms: this.counters.lastSuccess,
      spool_write_failures_total: this.spool.writeFailures,
      spool_error: this.spool.degraded ? (this.spool.writeError ?? 'unwritten alerts') : null,
    };
  }

  /** Resolves when the spool is empty (or after timeoutMs: false). */
  idle(timeoutMs = Infinity): Promise<boolean> {
    if (this.spool.depth === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => resolve(false), timeoutMs) : null;
      this.idleWaiters.push(() => {
        if (timer) clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stops the loop (an attempt in flight is aborted; its alert stays spooled). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closer.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.step();
      } catch (err) {
        // a disk error on remove must not stop delivery for good: wait, then try again
        this.logger.error({ webhook: this.name, err: err instanceof Error ? err.message : String(err) }, 'webhook spool error');
        await this.sleep(this.opts.backoff.maxMs);
      }
    }
  }

  /** One turn: retry a refused disk, wait for work or for the backoff, or make one attempt. */
  private async step(): Promise<void> {
    if (this.spool.degraded && this.opts.now() >= this.nextFlushAt) {
      const unwritten = this.spool.unwrittenCount;
      const { writable, dropped } = await this.spool.flush();
      if (writable) {
        this.logger.warn({ webhook: this.name, written: unwritten }, 'alert spool writable again');
        this.logDropped(dropped);
      } else {
        this.nextFlushAt = this.opts.now() + this.opts.spoolRetryMs;
      }
    }
    const flushIn = this.spool.degraded ? Math.max(0, this.nextFlushAt - this.opts.now()) : Infinity;
    const entry = this.spool.peek();
    if (!entry) {
      for (const w of this.idleWaiters.splice(0)) w();
      if (this.refresh !== null && this.opts.now() >= this.nextRefreshAt) {
        await this.sendRefresh(this.refresh);
        return;
      }
      const refreshIn = this.refresh !== null ? Math.max(0, this.nextRefreshAt - this.opts.now()) : Infinity;
      await this.waitForWork(Math.min(flushIn, refreshIn));
      return;
    }
    const wait = this.nextAttemptAt - this.opts.now();
    if (wait > 0) {
      await this.sleep(Math.min(wait, flushIn));
      return;
    }
    this.spool.protect(entry.seq);
    const outcome = await this.send(entry);
    this.spool.protect(null);
    if (this.closed) return;
    if (outcome.kind === 'ok') {
      await this.spool.remove(entry);
      this.attempt = 0;
      this.nextAttemptAt = 0;
      this.counters.delivered += 1;
      this.counters.lastSuccess = this.opts.now();
      this.refusalLogged = false;
      return;
    }
    if (outcome.kind === 'reject') {
      this.attempt = 0;
      this.nextAttemptAt = 0;
      this.counters.rejected += 1;
      await this.deadLetter(entry, outcome.status);
      return;
    }
    this.counters.failures += 1;
    this.attempt += 1;
    const backoff = backoffDelay(this.attempt, this.opts.backoff, this.opts.random);
    const delay = outcome.retryAfterMs !== undefined ? Math.min(outcome.retryAfterMs, this.opts.maxRetryAfterMs) : backoff;
    this.nextAttemptAt = this.opts.now() + delay;
    this.logger.warn(
      { webhook: this.name, url: redactUrl(this.cfg.url), id: entry.id, attempt: this.attempt, status: outcome.status, reason: outcome.reason, retry_in_ms: delay },
      'webhook delivery failed; will retry',
    );
  }

  /**
   * A refused alert is not retried (it would block every later one) and not
   * deleted: it moves to the dead-letter folder as `<seq>-<status>.json`. The
   * first refusal is logged as an error; later ones only at debug level until a
   * delivery succeeds again (a revoked hook must not flood the log).
   */
  private async deadLetter(entry: SpoolEntry, status: number): Promise<void> {
    const file = spoolFileName(entry.seq).replace(/\.json$/, `-${status}.json`);
    let kept = true;
    try {
      await this.spool.moveOut(entry, this.deadLetterDir, file);
      this.counters.deadLettered += 1;
      await this.pruneDeadLetters().catch(() => undefined);
    } catch (err) {
      // the disk refuses the dead letter too: the log line is all that is left of it
      kept = false;
      this.spool.writeFailures += 1;
      await this.spool.remove(entry);
      this.logger.error({ webhook: this.name, id: entry.id, status, err: errorCode(err), alert: entry.event.summary }, 'refused alert could not be dead-lettered');
    }
    const fields = { webhook: this.name, url: redactUrl(this.cfg.url), id: entry.id, status, dead_letter: kept ? join(this.deadLetterDir, file) : null };
    if (!this.refusalLogged) {
      this.refusalLogged = true;
      this.logger.error(fields, 'webhook refused the alert (check its URL and secret); kept in the dead-letter folder, further refusals counted in dead_lettered_total');
    } else {
      this.logger.debug(fields, 'webhook refused the alert; dead-lettered');
    }
  }

  /** The dead-letter folder keeps the newest `maxSpool` alerts. */
  private async pruneDeadLetters(): Promise<void> {
    const names = (await readdir(this.deadLetterDir)).filter((n) => /^\d{16}-\d+\.json$/.test(n)).sort();
    for (const n of names.slice(0, Math.max(0, names.length - this.opts.maxSpool))) await unlink(join(this.deadLetterDir, n)).catch(() => undefined);
  }

  /** Waits for an enqueue or close(), or at most ms. */
  private waitForWork(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => done(), ms) : null;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = done;
    });
  }

  /** Waits ms; only close() cuts it short (a new alert does not shorten a backoff). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        if (!this.closed) return;
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private async sendRefresh(refresh: Refresh): Promise<void> {
    this.nextRefreshAt = this.opts.now() + refresh.intervalMs;
    const events = refresh.current().filter((e) => atLeast(e.severity, this.cfg.min_severity ?? 'info'));
    if (events.length === 0) return;
    const body = JSON.stringify(renderAlertmanager(events, { receiver: this.name, externalURL: this.opts.externalURL, now: this.opts.now() }));
    const outcome = await this.post(newMessageId(), body);
    if (outcome.kind === 'ok') {
      this.counters.lastSuccess = this.opts.now();
      return;
    }
    this.counters.failures += 1; // refused or failed alike: nothing to dead-letter, the next re-send replaces it
    const reason = outcome.kind === 'retry' ? outcome.reason : `HTTP ${outcome.status}`;
    this.logger.warn({ webhook: this.name, url: redactUrl(this.cfg.url), firing: events.length, reason }, 're-send of firing alerts failed; next try at the next interval');
  }

  private send(entry: SpoolEntry): Promise<Outcome> {
    return this.post(entry.id, renderAlert(this.cfg.format, entry.event, { receiver: this.name, externalURL: this.opts.externalURL, now: this.opts.now() }));
  }

  private async post(id: string, body: string): Promise<Outcome> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'callprobe-webhook/1',
      ...standardWebhookHeaders(this.cfg.secret, id, this.opts.now(), body),
    };
    const signal = AbortSignal.any([this.closer.signal, AbortSignal.timeout(this.opts.timeoutMs)]);
    try {
      // Redirects are not followed (a signed alert goes only where it was configured to go).
      const res = await this.opts.fetch(endpointOf(this.cfg.format, this.cfg.url), { method: 'POST', headers, body, signal, redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined); // drain so the connection is reused
      if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
      const permanent = (res.status >= 300 && res.status < 400) || (res.status >= 400 && res.status < 500 && !PERMANENT_EXCEPT.has(res.status));
      if (permanent) return { kind: 'reject', status: res.status };
      const retryAfterMs =
        res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), this.opts.now()) : undefined;
      return { kind: 'retry', status: res.status, retryAfterMs, reason: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const reason = e.name === 'TimeoutError' ? `timeout after ${this.opts.timeoutMs} ms` : (e.cause?.code ?? e.name);
      return { kind: 'retry', reason };
    }
  }
}
