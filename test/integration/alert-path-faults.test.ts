// Issue 14 item 2, alert path faults, with the agent as a user runs it (config
// file + `probe agent`).
//
// 1. Full disk: state_dir
// state_dir on a tmpfs the test mounts and fills. An options probe at a closed
// port starts failing: the firing alert cannot be spooled, is not "sent" anyway
// (it is held in memory and attempted), /healthz answers 503 and the write
// failures are counted on /metrics while the disk is full. Space freed: the alert
// is written to the spool, /healthz is 200 again, and the alert reaches the
// receiver (same webhook-id as the attempts made from memory).
// 2. Refusals: three webhooks answering 401, 404 and 410 get the alerts of three
// failing probes: nothing is deleted (dead-letter folder), /metrics counts them,
// and the log has one error per webhook.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requiredInCi } from '../ci-required.js';
import { freeTcpPort } from '../lab/lab.js';
import { HookReceiver, startCliAgent, until, type CliAgent } from './helpers/agent.js';

const isRoot = requiredInCi(process.getuid?.() === 0, 'root (mounting a tmpfs state_dir)');
if (!isRoot && process.env.CI === 'true') throw new Error('alert-disk-full needs root (mount -t tmpfs) under CI');

const dir = mkdtempSync(join(tmpdir(), 'cp-disk-full-'));
const stateDir = join(dir, 'state');
let mounted = false;
const agents: CliAgent[] = [];
const rx = new HookReceiver();

/** Fills the tmpfs: one file in 4 KiB blocks until ENOSPC. */
function fill(path: string): void {
  const block = Buffer.alloc(4096, 1);
  let i = 0;
  try {
    for (;;) {
      writeFileSync(path, block, { flag: i++ === 0 ? 'w' : 'a' });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

beforeAll(() => {
  if (!isRoot) return;
  mkdirSync(stateDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'callprobe-test', stateDir]);
  mounted = true;
});

afterAll(async () => {
  for (const a of agents) await a.proc.stop(10_000);
  await rx.stop();
  if (mounted) execFileSync('umount', [stateDir]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('agent with a full state_dir', () => {
  it('holds the firing alert, answers /healthz 503, and delivers once space is freed', async () => {
    fill(join(stateDir, 'ballast'));
    expect(statfsSync(stateDir).bavail).toBe(0);
    rx.status = 503; // the receiver is down too: the alert must survive until the disk has room
    rx.headers = { 'retry-after': '1' };
    const hookPort = await rx.start();
    const closed = await freeTcpPort(); // nothing listens here: the options probe fails at once
    const a = await startCliAgent(
      dir,
      { state_dir: stateDir, webhooks: [{ url: `http://127.0.0.1:${hookPort}/hook`, format: 'json', min_severity: 'warning' }], alerts: { for: 1 } },
      [{ name: 'pbx-down', kind: 'options', target: `sip:127.0.0.1:${closed};transport=tcp`, transport: 'tcp', interval: '2s', timeout: '1s' }],
    );
    agents.push(a);

    const t0 = Date.now();
    const degraded = await until('/healthz to report the spool', async () => {
      const h = await a.get('/healthz');
      return h.status !== 200 ? h : undefined;
    }, 15_000);
    const degradedMs = Date.now() - t0;
    expect(degraded.status).toBe(503);
    expect(degraded.body).toMatch(/degraded: alert spool wh-[0-9a-f]{12}: ENOSPC/);
    const metrics = (await a.get('/metrics')).body;
    expect(Number(/^callprobe_alert_spool_write_failures_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^callprobe_alert_spool_writable 0$/m);
    expect(metrics).toMatch(/^callprobe_alert_webhook_spool_depth\{webhook="wh-[0-9a-f]{12}",format="json"\} 1$/m);
    // attempted from memory (503), nothing on disk
    await until('an attempt from memory', () => (rx.received.length > 0 ? true : undefined), 10_000);
    const spoolRoot = join(stateDir, 'alerts', 'spool');
    const [hookDir] = readdirSync(spoolRoot);
    expect(readdirSync(join(spoolRoot, hookDir ?? ''))).toEqual([]);
    // still degraded a few seconds later (the disk is retried, and still full)
    await new Promise((r) => setTimeout(r, 3000));
    expect((await a.get('/healthz')).status).toBe(503);

    unlinkSync(join(stateDir, 'ballast'));
    const tFreed = Date.now();
    await until('/healthz 200 after space is freed', async () => ((await a.get('/healthz')).status === 200 ? true : undefined), 15_000);
    const recoveredMs = Date.now() - tFreed;
    expect(readdirSync(join(spoolRoot, hookDir ?? '')).filter((f) => f.endsWith('.json'))).toHaveLength(1); // spooled later
    rx.status = 204;
    await until('the firing alert at the receiver', () => (rx.received.some((r) => r.answered === 204 && r.body.includes('alert.firing')) ? true : undefined), 15_000);
    const firing = rx.received.filter((r) => r.body.includes('alert.firing'));
    expect(new Set(firing.map((r) => r.headers['webhook-id'])).size).toBe(1); // the same notification, never a second one
    const body = JSON.parse(firing.at(-1)?.body ?? '{}') as { data: { probe: string; status: string } };
    expect(body.data).toMatchObject({ probe: 'pbx-down', status: 'firing' });
    await until('the spool to empty', () => (readdirSync(join(spoolRoot, hookDir ?? '')).length === 0 ? true : undefined), 5000);
    console.log(`disk-full: /healthz 503 ${degradedMs} ms after start; 200 again ${recoveredMs} ms after space was freed; ${rx.received.length} requests`);
  }, 60_000);
});

describe('agent with webhooks that refuse', () => {
  it('keeps 401/404/410-refused alerts in the dead-letter folder, counts them, logs once per webhook', async () => {
    const refusing = new HookReceiver();
    refusing.byPath = { '/wrong-secret': 401, '/gone': 404, '/revoked': 410 };
    const port = await refusing.start();
    const work = mkdtempSync(join(dir, 'refused-'));
    const closed = await freeTcpPort();
    try {
      const a = await startCliAgent(
        work,
        {
          state_dir: join(work, 'state'),
          webhooks: ['/wrong-secret', '/gone', '/revoked'].map((path) => ({ url: `http://127.0.0.1:${port}${path}`, format: 'json', secret: 'whsec_d3Jvbmctc2VjcmV0LWZvci10ZXN0cw==' })),
          alerts: { for: 1 },
        },
        ['a', 'b', 'c'].map((n) => ({ name: `down-${n}`, kind: 'options', target: `sip:127.0.0.1:${closed};transport=tcp`, transport: 'tcp', interval: '2s', timeout: '1s' })),
      );
      agents.push(a);
      const deadRoot = join(work, 'state', 'alerts', 'dead-letter');
      const deadFiles = (): string[] => {
        try {
          return readdirSync(deadRoot).flatMap((h) => readdirSync(join(deadRoot, h)).map((f) => `${h}/${f}`));
        } catch {
          return [];
        }
      };
      await until('nine dead letters', () => (deadFiles().length === 9 ? true : undefined), 20_000);
      const byStatus = (st: number) => deadFiles().filter((f) => f.endsWith(`-${st}.json`)).length;
      expect([byStatus(401), byStatus(404), byStatus(410)]).toEqual([3, 3, 3]);
      const [first] = deadFiles();
      expect(JSON.parse(readFileSync(join(deadRoot, first ?? ''), 'utf8'))).toMatchObject({ v: 1, event: { status: 'firing', probe: expect.stringMatching(/^down-[abc]$/) } });
      const metrics = (await a.get('/metrics')).body;
      const dead = [...metrics.matchAll(/^callprobe_alert_webhook_dead_lettered_total\{webhook="(wh-[0-9a-f]{12})",format="json"\} (\d+)$/gm)];
      expect(dead.map((m) => m[2])).toEqual(['3', '3', '3']);
      expect([...metrics.matchAll(/^callprobe_alert_webhook_rejected_total\{[^}]*\} (\d+)$/gm)].map((m) => m[1])).toEqual(['3', '3', '3']);
      expect(metrics).toMatch(/^callprobe_alert_webhook_spool_depth\{webhook="wh-[0-9a-f]{12}",format="json"\} 0$/m);
      const log = a.proc.stdout() + a.proc.stderr();
      const errors = log.split('\n').filter((l) => l.includes('webhook refused the alert (check'));
      expect(errors).toHaveLength(3);
      expect(errors.map((l) => (JSON.parse(l) as { status: number }).status).sort()).toEqual([401, 404, 410]);
      expect((await a.get('/healthz')).status).toBe(200);
    } finally {
      await refusing.stop();
    }
  }, 40_000);
});
