// Webhook alerts end to end over real HTTP on 127.0.0.1: the state machine fed
// a failing probe stream, a receiver that is down then up, 429 Retry-After,
// and no secret in any log line, body or spool file.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REDACT_PATHS } from '../../src/log.js';
import type { ProbeResult } from '../../src/probes/result.js';
import { Notifier, type NotifierOptions } from '../../src/report/notifier.js';
import { LAB, USERS } from '../lab/lab.js';

const PORT = 28461; // fixed test port (< 32768), only this file uses it
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SIP_PASSWORDS = Object.values(USERS);

interface Received {
  at: number;
  path: string;
  headers: Record<string, string>;
  body: string;
}

class Receiver {
  readonly received: Received[] = [];
  private server: Server | null = null;
  /** Answers the next requests with these statuses/headers (then 204). */
  script: [number, Record<string, string>][] = [];

  async up(): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        this.received.push({ at: Date.now(), path: req.url ?? '', headers, body: Buffer.concat(chunks).toString() });
        const [status, h] = this.script.shift() ?? [204, {}];
        res.writeHead(status, h).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(PORT, LAB.host, resolve);
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream), lines };
}

const failing = (probe: string, mos = 3.1): ProbeResult => ({
  probe,
  success: false,
  failures: [{ check: 'mos_min', expected: 3.5, actual: mos, phase: 'media', message: `MOS ${mos} below 3.5` }],
});
const passing = (probe: string): ProbeResult => ({ probe, success: true, failures: [] });

let stateDir: string;
let rx: Receiver;
let notifier: Notifier | null = null;
const sink = logSink();

function open(over: Partial<NotifierOptions> = {}): Promise<Notifier> {
  return Notifier.open({
    stateDir,
    logger: sink.logger,
    webhooks: [{ name: 'it', url: `http://${LAB.host}:${PORT}/hook`, format: 'json', secret: SECRET }],
    rules: { for: 3, resolve_after: 2 },
    delivery: { timeoutMs: 2000, backoff: { initialMs: 200, maxMs: 1000, factor: 2, jitter: 0.2 } },
    labels: { instance: 'lab' },
    ...over,
  }).then((n) => (notifier = n));
}

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'callprobe-whit-'));
  rx = new Receiver();
});
afterEach(async () => {
  await notifier?.close();
  notifier = null;
  await rx.down();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('webhook alerts over HTTP', () => {
  it('a failing stream gives exactly one firing after `for`, one resolved after recovery, signed', async () => {
    await rx.up();
    const n = await open();
    const stream = [failing('call'), failing('call'), failing('call'), failing('call'), failing('call'), passing('call'), failing('call'), passing('call'), passing('call'), passing('call')];
    const statuses: string[][] = [];
    for (const r of stream) statuses.push((await n.observe(r)).map((e) => e.status));
    expect(statuses).toEqual([[], [], ['firing'], [], [], [], [], [], ['resolved'], []]);
    expect(await n.idle(10_000)).toBe(true);
    expect(rx.received).toHaveLength(2);
    const bodies = rx.received.map((r) => new Webhook(SECRET).verify(r.body, r.headers) as { type: string; data: Record<string, unknown> });
    expect(bodies.map((b) => b.type)).toEqual(['alert.firing', 'alert.resolved']);
    expect(bodies[0]?.data).toMatchObject({ probe: 'call', check: 'mos_min', severity: 'critical', actual: 3.1, expected: 3.5, consecutive_failures: 3, labels: { instance: 'lab' } });
    expect(bodies[1]?.data['fingerprint']).toBe(bodies[0]?.data['fingerprint']);
    expect(rx.received[0]?.headers['webhook-id']).not.toBe(rx.received[1]?.headers['webhook-id']);
  });

  it('receiver down for 5 s, then up: every alert arrives once, in order', async () => {
    const n = await open({ rules: { for: 1 } });
    for (let i = 0; i < 6; i++) await n.observe(failing(`probe-${i}`));
    expect(n.stats().spool_depth).toBe(6);
    await new Promise((r) => setTimeout(r, 5000));
    expect(n.stats().delivery_failures_total).toBeGreaterThanOrEqual(3);
    expect(n.stats().spool_depth).toBe(6);
    await rx.up();
    expect(await n.idle(15_000)).toBe(true);
    const probes = rx.received.map((r) => (JSON.parse(r.body) as { data: { probe: string } }).data.probe);
    expect(probes).toEqual(['probe-0', 'probe-1', 'probe-2', 'probe-3', 'probe-4', 'probe-5']);
    expect(new Set(rx.received.map((r) => r.headers['webhook-id'])).size).toBe(6);
    expect(readdirSync(join(stateDir, 'alerts', 'spool', 'it'))).toEqual([]);
    expect(n.stats().webhooks[0]).toMatchObject({ delivered_total: 6, spool_depth: 0 });
  });

  it('429 with Retry-After: 2 → the next try is not before 2 s, same webhook-id', async () => {
    await rx.up();
    rx.script = [[429, { 'retry-after': '2' }]];
    const n = await open({ rules: { for: 1 } });
    await n.observe(failing('rate-limited'));
    expect(await n.idle(10_000)).toBe(true);
    expect(rx.received).toHaveLength(2);
    const [a, b] = rx.received;
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(b?.headers['webhook-id']).toBe(a?.headers['webhook-id']);
  });

  it('503 with an HTTP-date Retry-After is honoured too', async () => {
    await rx.up();
    const retryAt = new Date(Date.now() + 3000).toUTCString();
    rx.script = [[503, { 'retry-after': retryAt }]];
    const n = await open({ rules: { for: 1 } });
    await n.observe(failing('unavailable'));
    expect(await n.idle(10_000)).toBe(true);
    const [a, b] = rx.received;
    expect(a).toBeDefined();
    // Not before the date itself (whole seconds; the same clock here). The gap from the first try
    // is no bound: that try may come late on a loaded machine, eating into the 2-3 s.
    // (-2 ms: a Node timer fires on its millisecond loop clock, Date.now() is read separately.)
    expect(b?.at ?? 0).toBeGreaterThanOrEqual(Date.parse(retryAt) - 2);
  });

  it('never puts the webhook secret or SIP passwords in logs, bodies or the spool', async () => {
    // a result that carries credentials in extra fields must not leak them
    const leaky: ProbeResult = { ...failing('leaky'), account: { user: '1001', password: USERS['1001'] }, config: { secret: SECRET } };
    const n = await open({ rules: { for: 1 } });
    await n.observe(leaky); // receiver down: stays spooled
    const spoolDir = join(stateDir, 'alerts', 'spool', 'it');
    const spooled = readdirSync(spoolDir).map((f) => readFileSync(join(spoolDir, f), 'utf8'));
    expect(spooled).toHaveLength(1);
    expect(statSync(join(spoolDir, readdirSync(spoolDir)[0] ?? '')).mode & 0o077).toBe(0);
    await rx.up();
    expect(await n.idle(10_000)).toBe(true);
    const haystack = [...sink.lines, ...spooled, ...rx.received.map((r) => r.body), readFileSync(join(stateDir, 'alerts', 'state.json'), 'utf8')].join('\n');
    expect(sink.lines.length).toBeGreaterThan(0);
    for (const secret of [SECRET, SECRET.slice('whsec_'.length), ...SIP_PASSWORDS]) expect(haystack).not.toContain(secret);
  });
});
