// Durability: a child agent spools alerts and is killed with SIGKILL, either
// before delivery starts or while a delivery is in flight; a restarted child
// replays the spool. Nothing is lost; at most one alert arrives twice, and
// then with the same webhook-id (so a receiver can de-duplicate).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LAB, USERS } from '../lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PORT = 28462; // fixed test port (< 32768), only this file uses it
const SECRET = 'whsec_Zm9yLWNyYXNoLXRlc3RzLW9ubHktbm90LXJlYWw=';
const URL_TOKEN = 'T0CRASH/B0CRASH/urlTokenIsASecretToo';
const COUNT = 5;

/** The child: a minimal agent that spools alerts and (maybe) delivers them. */
const CHILD = `
import { Notifier } from ${JSON.stringify(join(ROOT, 'src/report/notifier.ts'))};
import { createLogger } from ${JSON.stringify(join(ROOT, 'src/log.ts'))};
const [stateDir, mode, url, count] = process.argv.slice(2);
const n = await Notifier.open({
  stateDir,
  logger: createLogger('debug'),
  webhooks: [{ name: 'crash', url, format: 'json', secret: process.env.HOOK_SECRET }],
  rules: { for: 1 },
  delivery: { timeoutMs: 20000, backoff: { initialMs: 100, maxMs: 500 } },
  autoStart: mode !== 'spool',
});
if (mode !== 'replay') {
  for (let i = 0; i < Number(count); i++) {
    await n.observe({ probe: 'p' + i, success: false, failures: [{ check: 'register', phase: 'register', expected: 200, actual: 401,
      message: 'REGISTER 1001 rejected' }], account: { user: '1001', password: process.env.SIP_PASSWORD } });
  }
}
process.stdout.write('SPOOLED\\n');
if (mode === 'replay') {
  await n.idle();
  await n.close();
  process.stdout.write('IDLE\\n');
} else {
  setInterval(() => {}, 60000); // wait to be killed
}
`;

interface Received {
  id: string;
  probe: string;
}

let dir: string;
let stateDir: string;
let script: string;
let server: Server;
const received: Received[] = [];
/** When set, the receiver holds requests instead of answering (an in-flight delivery). */
let hold = false;
const held: ServerResponse[] = [];
const children: ChildProcess[] = [];
const stderrs: string[] = [];
let onRequest: (() => void) | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-crash-'));
  script = join(dir, 'child.mts');
  writeFileSync(script, CHILD);
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const body = Buffer.concat(chunks).toString();
      const payload = new Webhook(SECRET).verify(body, headers) as { data: { probe: string } };
      received.push({ id: headers['webhook-id'] ?? '', probe: payload.data.probe });
      onRequest?.();
      if (hold) held.push(res);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(PORT, LAB.host, r));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  stateDir = mkdtempSync(join(dir, 'state-'));
  received.length = 0;
  hold = false;
});
afterEach(() => {
  for (const r of held.splice(0)) r.destroy();
});

function startChild(mode: 'spool' | 'deliver' | 'replay'): { child: ChildProcess; line: (text: string) => Promise<void>; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, stateDir, mode, `http://${LAB.host}:${PORT}/hook/${URL_TOKEN}`, String(COUNT)],
    { cwd: ROOT, env: { ...process.env, HOOK_SECRET: SECRET, SIP_PASSWORD: USERS['1001'] }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      stderrs.push(err);
      r(code);
    }),
  );
  const line = (text: string): Promise<void> =>
    new Promise((res, rej) => {
      const t = setInterval(() => {
        if (out.includes(text)) {
          clearInterval(t);
          res();
        } else if (child.exitCode !== null) {
          clearInterval(t);
          rej(new Error(`child exited ${child.exitCode} before "${text}": ${err.slice(-2000)}`));
        }
      }, 20);
    });
  return { child, line, exited };
}

function spooledIds(): string[] {
  const d = join(stateDir, 'alerts', 'spool', 'crash');
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => (JSON.parse(readFileSync(join(d, f), 'utf8')) as { id: string }).id);
}

describe('spool survives kill -9', () => {
  it('killed between spooling and delivery: everything is delivered after restart, in order, once', async () => {
    const a = startChild('spool');
    await a.line('SPOOLED');
    const ids = spooledIds();
    expect(ids).toHaveLength(COUNT);
    a.child.kill('SIGKILL');
    expect(await a.exited).toBeNull();
    expect(received).toHaveLength(0);

    const b = startChild('replay');
    await b.line('IDLE');
    expect(await b.exited).toBe(0);
    expect(received.map((r) => r.id)).toEqual(ids);
    expect(received.map((r) => r.probe)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(spooledIds()).toEqual([]);
  });

  it('killed while a delivery is in flight: at most one duplicate, with the same webhook-id', async () => {
    hold = true;
    const inFlight = new Promise<void>((r) => (onRequest = r));
    const a = startChild('deliver');
    await Promise.all([inFlight, a.line('SPOOLED')]);
    onRequest = null;
    a.child.kill('SIGKILL');
    await a.exited;
    const ids = spooledIds();
    expect(ids).toHaveLength(COUNT);
    expect(received).toHaveLength(1);
    expect(received[0]?.id).toBe(ids[0]);

    hold = false;
    const b = startChild('replay');
    await b.line('IDLE');
    expect(await b.exited).toBe(0);
    const all = received.map((r) => r.id);
    expect(new Set(all)).toEqual(new Set(ids)); // none lost
    expect(all.length - new Set(all).size).toBeLessThanOrEqual(1); // at most one duplicate...
    expect(all.slice(1)).toEqual(ids); // ...and it is the in-flight one, same id, then order kept
  });

  it('child logs never contain the webhook secret, the URL token or the SIP password', () => {
    const logs = stderrs.join('\n');
    expect(logs).toContain('"msg":"alert"'); // the children did log (debug level)
    for (const s of [SECRET, SECRET.slice('whsec_'.length), 'urlTokenIsASecretToo', USERS['1001']]) expect(logs).not.toContain(s);
  });
});
