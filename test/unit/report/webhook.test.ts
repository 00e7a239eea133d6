import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { REDACT_PATHS } from '../../../src/log.js';
import { alertEvent } from './fixtures.js';
import { Notifier } from '../../../src/report/notifier.js';
import { writeFileDurable, type WriteFile } from '../../../src/report/spool.js';
import {
  backoffDelay,
  DEFAULT_DELIVERY,
  parseRetryAfter,
  redactUrl,
  WebhookDelivery,
  webhookKey,
  type DeliveryOptions,
  type WebhookConfig,
} from '../../../src/report/webhook.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-wh-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream), lines };
}

const ev = alertEvent;

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Call {
  at: number;
  headers: Record<string, string>;
  body: string;
}

/** A fetch that answers from a script of statuses (then 200), recording each call. */
function scriptedFetch(script: (number | [number, Record<string, string>] | 'neterr')[]) {
  const calls: Call[] = [];
  const fn = (async (_url: string | URL | Request, init?: RequestInit) => {
    calls.push({ at: Date.now(), headers: { ...(init?.headers as Record<string, string>) }, body: String(init?.body) });
    const step = script.shift() ?? 200;
    if (step === 'neterr') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const [status, headers] = Array.isArray(step) ? step : [step, {}];
    return new Response(status === 204 ? null : 'x', { status, headers });
  }) as typeof fetch;
  return { fn, calls };
}

function opts(f: typeof fetch, over: Partial<DeliveryOptions> = {}): DeliveryOptions {
  return {
    ...DEFAULT_DELIVERY,
    backoff: { initialMs: 20, maxMs: 200, factor: 2, jitter: 0 },
    fetch: f,
    now: Date.now,
    random: Math.random,
    ...over,
  };
}

const SECRET = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw==';
const URL_WITH_TOKEN = 'https://hooks.example.test/services/T000/B000/XXXXSECRETPATH';

describe('Retry-After and backoff', () => {
  it('parses delay-seconds and HTTP-dates (RFC 9110 10.2.3)', () => {
    const now = Date.parse('Wed, 25 Nov 2026 12:00:00 GMT');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
  it('doubles up to the cap; jitter only shortens', () => {
    const b = { initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.5 };
    expect([1, 2, 3, 7, 20].map((a) => backoffDelay(a, b, () => 0))).toEqual([1000, 2000, 4000, 60_000, 60_000]);
    expect(backoffDelay(3, b, () => 1)).toBe(2000);
  });
  it('keeps URL credentials out of logs and names', () => {
    expect(redactUrl(URL_WITH_TOKEN)).toBe('https://hooks.example.test/…');
    expect(webhookKey({ url: URL_WITH_TOKEN, format: 'slack' })).toMatch(/^wh-[0-9a-f]{12}$/);
    expect(webhookKey({ name: 'ops', url: URL_WITH_TOKEN, format: 'slack' })).toBe('ops');
    expect(webhookKey({ name: '../x', url: URL_WITH_TOKEN, format: 'slack' })).toMatch(/^wh-/);
  });
});

describe('WebhookDelivery', () => {
  it('retries with backoff, keeps order and the webhook-id, signs each attempt', async () => {
    const f = scriptedFetch(['neterr', 500, 200, 200]);
    const { logger, lines } = captureLogger();
    const cfg: WebhookConfig = { name: 'ops', url: URL_WITH_TOKEN, format: 'json', secret: SECRET };
    const d = await WebhookDelivery.open(dir, cfg, opts(f.fn), logger);
    await d.enqueue('msg_a', ev(1));
    await d.enqueue('msg_b', ev(2));
    d.start();
    expect(await d.idle(5000)).toBe(true);
    await d.close();
    expect(f.calls.map((c) => c.headers['webhook-id'])).toEqual(['msg_a', 'msg_a', 'msg_a', 'msg_b']);
    expect(f.calls.map((c) => JSON.parse(c.body).data.probe)).toEqual(['p1', 'p1', 'p1', 'p2']);
    // backoff 20 ms then 40 ms
    expect((f.calls[1]?.at ?? 0) - (f.calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(18);
    expect((f.calls[2]?.at ?? 0) - (f.calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(38);
    for (const c of f.calls) expect(() => new Webhook(SECRET).verify(c.body, c.headers)).not.toThrow();
    expect(d.stats()).toMatchObject({ name: 'ops', spool_depth: 0, delivered_total: 2, delivery_failures_total: 2, rejected_total: 0 });
    const log = lines.join('');
    expect(log).toContain('webhook delivery failed');
    expect(log).not.toContain('XXXXSECRETPATH');
    expect(log).not.toContain(SECRET.slice(6));
    for (const c of f.calls) expect(c.body).not.toContain(SECRET.slice(6));
  });

  it('honours 429 Retry-After over the backoff', async () => {
    const f = scriptedFetch([[429, { 'retry-after': '1' }], 200]);
    const d = await WebhookDelivery.open(dir, { url: 'http://127.0.0.1:9/x', format: 'json' }, opts(f.fn), captureLogger().logger);
    await d.enqueue('msg_a', ev(1));
    d.start();
    expect(await d.idle(5000)).toBe(true);
    await d.close();
    expect(f.calls).toHaveLength(2);
    expect((f.calls[1]?.at ?? 0) - (f.calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(990);
  });

  it('moves a refused alert (401, 404, 410, redirect) to the dead-letter folder, logs it once, goes on', async () => {
    const f = scriptedFetch([401, 404, [301, { location: 'http://elsewhere.test/' }], 204, 410]);
    const { logger, lines } = captureLogger();
    const d = await WebhookDelivery.open(join(dir, 'spool'), { name: 'hook', url: URL_WITH_TOKEN, format: 'json' }, opts(f.fn), logger, join(dir, 'dead'));
    for (const [i, id] of ['msg_a', 'msg_b', 'msg_c', 'msg_d', 'msg_e'].entries()) await d.enqueue(id, ev(i + 1));
    d.start();
    expect(await d.idle(5000)).toBe(true);
    await d.close();
    expect(d.stats()).toMatchObject({ delivered_total: 1, rejected_total: 4, dead_lettered_total: 4, delivery_failures_total: 0, spool_depth: 0 });
    const dead = readdirSync(join(dir, 'dead', 'hook')).sort();
    expect(dead).toEqual(['0000000000000001-401.json', '0000000000000002-404.json', '0000000000000003-301.json', '0000000000000005-410.json']);
    expect(JSON.parse(readFileSync(join(dir, 'dead', 'hook', dead[0] ?? ''), 'utf8'))).toMatchObject({ id: 'msg_a', event: { probe: 'p1' } });
    // one error per run of refusals: 401 (first), then 410 after the 2xx in between
    const errors = lines.filter((l) => l.includes('webhook refused the alert (check'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('"status":401');
    expect(lines.join('')).not.toContain('XXXXSECRETPATH');
  });

  it('a spool the disk refuses: the alert is sent from memory, written later, and the spool reports why meanwhile', async () => {
    const f = scriptedFetch([503, 503, 503, 503, 503, 503, 503, 503]);
    const disk = { fail: 'ENOSPC' as string | null };
    const writeFile: WriteFile = async (d, n, data) => {
      if (disk.fail !== null) throw Object.assign(new Error('injected'), { code: disk.fail });
      await writeFileDurable(d, n, data);
    };
    const d = await WebhookDelivery.open(dir, { name: 'full', url: 'http://127.0.0.1:9/x', format: 'json' }, opts(f.fn, { writeFile, spoolRetryMs: 30 }), captureLogger().logger);
    d.start();
    expect(await d.enqueue('msg_a', ev(1))).toBe(true);
    await until(() => f.calls.length >= 1 && d.stats().spool_write_failures_total >= 2); // sent from memory; disk retried every spoolRetryMs
    expect(d.stats()).toMatchObject({ spool_depth: 1, spool_error: 'ENOSPC' });
    expect(readdirSync(join(dir, 'full'))).toEqual([]);
    disk.fail = null;
    await until(() => d.stats().spool_error === null);
    expect(readdirSync(join(dir, 'full'))).toEqual(['0000000000000001.json']);
    // the receiver comes back (the script runs out of 503s): delivered and removed
    expect(await d.idle(5000)).toBe(true);
    await d.close();
    expect(readdirSync(join(dir, 'full'))).toEqual([]);
    expect(new Set(f.calls.map((c) => c.headers['webhook-id']))).toEqual(new Set(['msg_a']));
  });

  it('filters below min_severity and counts it', async () => {
    const f = scriptedFetch([]);
    const d = await WebhookDelivery.open(dir, { url: 'http://127.0.0.1:9/x', format: 'slack', min_severity: 'critical' }, opts(f.fn), captureLogger().logger);
    expect(await d.enqueue('w', ev(1, 'warning'))).toBe(false);
    expect(await d.enqueue('c', ev(2, 'critical'))).toBe(true);
    d.start();
    await d.idle(2000);
    await d.close();
    expect(f.calls).toHaveLength(1);
    expect(d.stats().filtered_total).toBe(1);
  });

  it('times out a hanging attempt and keeps the alert spooled across close/reopen', async () => {
    const hanging = ((_u: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as typeof fetch;
    const d = await WebhookDelivery.open(dir, { name: 'slow', url: 'http://127.0.0.1:9/x', format: 'json' }, opts(hanging, { timeoutMs: 50 }), captureLogger().logger);
    await d.enqueue('msg_a', ev(1));
    d.start();
    await until(() => d.stats().delivery_failures_total >= 1); // the 50 ms timeout fired and was counted
    await d.close();
    await d.close();
    const f = scriptedFetch([]);
    const again = await WebhookDelivery.open(dir, { name: 'slow', url: 'http://127.0.0.1:9/x', format: 'json' }, opts(f.fn), captureLogger().logger);
    again.start();
    expect(await again.idle(2000)).toBe(true);
    await again.close();
    expect(f.calls.map((c) => c.headers['webhook-id'])).toEqual(['msg_a']);
  });
});

describe('Notifier', () => {
  it('fans out to every webhook with its own format and filter, and persists alert state', async () => {
    const f = scriptedFetch([]);
    const { logger } = captureLogger();
    let t = Date.UTC(2026, 10, 25, 12);
    const webhooks: WebhookConfig[] = [
      { name: 'slack', url: 'http://127.0.0.1:9/slack', format: 'slack', min_severity: 'critical' },
      { name: 'am', url: 'http://127.0.0.1:9/am', format: 'alertmanager_webhook' },
    ];
    const n = await Notifier.open({ stateDir: dir, webhooks, logger, rules: { for: 1 }, delivery: { fetch: f.fn }, now: () => t, labels: { instance: 'a' } });
    const bad = { probe: 'call', success: false, failures: [{ check: 'mos_min', expected: 3.5, actual: 3.8, phase: 'media' as const }] };
    expect((await n.observe(bad)).map((e) => e.severity)).toEqual(['warning']);
    expect(await n.idle(2000)).toBe(true);
    expect(f.calls).toHaveLength(1); // slack filtered the warning
    expect(JSON.parse(f.calls[0]?.body ?? '{}')).toMatchObject({ version: '4', commonLabels: { instance: 'a' } });
    expect(n.stats()).toMatchObject({ firing: 1, spool_depth: 0 });
    await n.close();

    // restart: still firing, so a recovery sends exactly one resolved
    t += 60_000;
    const n2 = await Notifier.open({ stateDir: dir, webhooks, logger, rules: { for: 1 }, delivery: { fetch: f.fn }, now: () => t });
    expect(await n2.observe(bad)).toEqual([]);
    expect((await n2.observe({ probe: 'call', success: true, failures: [] })).map((e) => e.status)).toEqual(['resolved']);
    await n2.idle(2000);
    await n2.close();
    expect(JSON.parse(f.calls[1]?.body ?? '{}').status).toBe('resolved');
  });

  it('a disk that refuses the spool and the state file: alerts still go out, degraded() says why, counters count', async () => {
    const f = scriptedFetch([]);
    const disk = { fail: 'EROFS' as string | null };
    const writeFile: WriteFile = async (d, n, data) => {
      if (disk.fail !== null) throw Object.assign(new Error('injected'), { code: disk.fail });
      await writeFileDurable(d, n, data);
    };
    const webhooks: WebhookConfig[] = [{ name: 'ro', url: 'http://127.0.0.1:9/ro', format: 'json' }];
    const n = await Notifier.open({ stateDir: dir, webhooks, logger: captureLogger().logger, rules: { for: 1 }, delivery: { fetch: f.fn, writeFile, spoolRetryMs: 20 } });
    mkdirSync(join(dir, 'alerts', 'state.json')); // the state file cannot be replaced either
    writeFileSync(join(dir, 'alerts', 'state.json', 'x'), '');
    const bad = { probe: 'opt', success: false, failures: [{ check: 'options', phase: 'options' as const, message: 'no answer' }] };
    expect((await n.observe(bad)).map((e) => e.status)).toEqual(['firing']);
    expect(await n.idle(2000)).toBe(true);
    expect(f.calls).toHaveLength(1); // delivered from memory: never "sent" without being sent
    expect(n.degraded()).toMatch(/alert spool ro: EROFS; alert state file: E(NOTEMPTY|ISDIR|EXIST)/);
    expect(n.stats().spool_write_failures_total).toBeGreaterThanOrEqual(2);
    disk.fail = null;
    rmSync(join(dir, 'alerts', 'state.json'), { recursive: true });
    await until(() => n.stats().webhooks[0]?.spool_error === null);
    await n.observe(bad); // the next result writes the state again
    expect(n.degraded()).toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, 'alerts', 'state.json'), 'utf8'))).toMatchObject({ alerts: [{ probe: 'opt', status: 'firing' }] });
    await n.close();
  });

  it('alertmanager: posts to /api/v2/alerts, re-sends what fires every interval, ends it on resolve', async () => {
    const urls: string[] = [];
    const bodies: { labels: Record<string, string>; endsAt: string }[][] = [];
    const fetchFn = (async (url: string | URL | Request, init?: RequestInit) => {
      urls.push(String(url));
      bodies.push(JSON.parse(String(init?.body)) as { labels: Record<string, string>; endsAt: string }[]);
      return new Response(null, { status: 200 });
    }) as typeof fetch;
    const webhooks: WebhookConfig[] = [{ name: 'am', url: 'http://127.0.0.1:9/', format: 'alertmanager', min_severity: 'warning' }];
    const n = await Notifier.open({ stateDir: dir, webhooks, logger: captureLogger().logger, rules: { for: 1 }, delivery: { fetch: fetchFn }, alertmanagerResendMs: 40 });
    const bad = (probe: string) => ({ probe, success: false, failures: [{ check: 'options', phase: 'options' as const, message: 'no answer' }] });
    await n.observe(bad('a'));
    await n.observe(bad('b'));
    await until(() => bodies.length >= 5);
    expect(new Set(urls)).toEqual(new Set(['http://127.0.0.1:9/api/v2/alerts']));
    const refresh = bodies.at(-1) ?? [];
    expect(refresh.map((a) => a.labels['probe']).sort()).toEqual(['a', 'b']); // both in one request
    for (const a of refresh) expect(Date.parse(a.endsAt)).toBeGreaterThan(Date.now() + 200_000); // valid ~4 min ahead
    await n.observe({ probe: 'a', success: true, failures: [] });
    await until(() => bodies.some((b) => b.length === 1 && b[0]?.labels['probe'] === 'a' && Date.parse(b[0].endsAt) <= Date.now()));
    const count = bodies.length;
    await until(() => bodies.length >= count + 2);
    // Two refreshes within until()'s bound (10 s) can only come from the 40 ms interval: the default is 60 s.
    for (const b of bodies.slice(count)) expect(b.map((a) => a.labels['probe'])).toEqual(['b']); // a is no longer refreshed
    await n.close();
  });
});
