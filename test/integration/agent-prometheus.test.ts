// Acceptance 1 + 2: `probe agent` with the lab's continuous probes, scraped by a
// REAL Prometheus (Debian's binary, own config and TSDB in a temp dir, random
// free port, started and stopped by PID). Every probe reaches probe_success 1;
// with Kamailio stopped the options/register probes drop to 0 within two
// intervals and come back after a restart; /metrics passes promtool; SIGTERM
// stops the agent within 10 s.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { availableKinds } from '../../src/probes/index.js';
import { freeTcpPort, spawnTracked, startKamailio, stopKamailio, USERS, type TrackedProcess } from '../lab/lab.js';
import { requiredInCi } from '../ci-required.js';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'cp-agent-prom-'));
const hasPrometheus = requiredInCi(existsSync('/usr/bin/prometheus'), 'prometheus');

/** Short intervals so the test sees two of them quickly; the shipped file uses 15-60 s. */
const INTERVAL_S: Record<string, number> = { options: 3, register: 3, call: 20, cert: 30, scenario: 30 };
const TIMEOUT_S: Record<string, number> = { options: 1, register: 2, cert: 5 };

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const v = await fn();
      if (v !== undefined) return { value: v, ms: Date.now() - t0 };
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

let agent: TrackedProcess | undefined;
let prometheus: TrackedProcess | undefined;
let agentPort = 0;
let promPort = 0;
let probes: { name: string; kind: string }[] = [];
const missingKinds = new Set<string>();

async function promQuery(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`);
  return body.data.result;
}

async function successOf(probe: string): Promise<number | undefined> {
  const r = await promQuery(`probe_success{probe="${probe}"}`);
  return r[0] === undefined ? undefined : Number(r[0].value[1]);
}

beforeAll(async () => {
  if (!hasPrometheus) return;
  [agentPort, promPort] = [await freeTcpPort(), await freeTcpPort()];
  const accounts = Object.fromEntries(Object.entries(USERS).map(([ext, pw]) => [ext, { password: pw }]));
  writeFileSync(
    join(dir, 'callprobe.yaml'),
    stringify({
      pbx: { uri: 'sip:127.0.0.1:5060', transport: 'udp' },
      accounts,
      probes_dir: join(ROOT, 'probes'),
      state_dir: dir,
      listen: { metrics: `127.0.0.1:${agentPort}` },
    }),
  );
  const shipped = parse(readFileSync(join(ROOT, 'probes/continuous.yaml'), 'utf8')) as { probes: Record<string, unknown>[] };
  const kinds = new Set<string>(availableKinds());
  const defs: Record<string, unknown>[] = shipped.probes
    .filter((p) => kinds.has(String(p.kind)) || (missingKinds.add(String(p.kind)), false))
    .map((p) => {
      const kind = String(p.kind);
      const t = TIMEOUT_S[kind];
      return { ...p, interval: `${INTERVAL_S[kind] ?? 30}s`, ...(t !== undefined ? { timeout: `${t}s` } : {}) };
    });
  probes = defs.map((p) => ({ name: String(p.name), kind: String(p.kind) }));
  writeFileSync(join(dir, 'probes.yaml'), stringify({ probes: defs }));

  agent = spawnTracked(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', join(dir, 'callprobe.yaml'), '--probes', join(dir, 'probes.yaml'), '--log-level', 'warn'],
    { cwd: ROOT, name: 'callprobe-agent' },
  );
  await until('the agent to listen', async () => ((await fetch(`http://127.0.0.1:${agentPort}/-/ready`)).ok ? true : undefined), 20_000);

  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [{ job_name: 'callprobe', static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] }],
    }),
  );
  prometheus = spawnTracked(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { cwd: dir, name: 'prometheus' },
  );
  await until('Prometheus to be ready', async () => ((await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok ? true : undefined), 30_000);
});

afterAll(async () => {
  await prometheus?.stop(5000);
  await agent?.stop(10_000);
  await startKamailio().catch(() => undefined);
});

describe.skipIf(!hasPrometheus)('probe agent scraped by Prometheus', () => {
  it('reports probe_success 1 for every probe (and MOS ≥ 4.3 once calls exist)', async () => {
    if (missingKinds.size > 0) console.warn(`agent: kinds not in this build, left out: ${[...missingKinds].join(', ')}`);
    expect(probes.length).toBeGreaterThanOrEqual(3);
    for (const p of probes) {
      const budget = (INTERVAL_S[p.kind] ?? 30) * 1000 + 15_000; // first run within the start offset (≤ 10 s)
      const { value } = await until(`probe_success{probe="${p.name}"}`, () => successOf(p.name), budget);
      expect(value, p.name).toBe(1);
    }
    const up = await promQuery('up{job="callprobe"}');
    expect(up[0]?.value[1]).toBe('1');
    if (probes.some((p) => p.kind === 'call')) {
      const mos = await promQuery('callprobe_mos');
      expect(mos.length).toBe(2);
      for (const m of mos) expect(Number(m.value[1])).toBeGreaterThanOrEqual(4.3);
    }
  });

  it('serves /metrics that promtool check metrics accepts', async () => {
    const text = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('answers /probe?target= blackbox style', async () => {
    const target = probes.find((p) => p.kind === 'options')?.name ?? '';
    const res = await fetch(`http://127.0.0.1:${agentPort}/probe?target=${target}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(new RegExp(`^probe_success\\{probe="${target}",kind="options"\\} 1$`, 'm'));
  });

  it('sees options/register fail within two intervals of Kamailio stopping, and recover after a restart', async () => {
    const sip = probes.filter((p) => p.kind === 'options' || p.kind === 'register');
    const slack = 1000 /* scrape */ + 2000 /* timeout */ + 1000;
    await stopKamailio();
    try {
      for (const p of sip) {
        const { ms } = await until(`${p.name} down`, async () => ((await successOf(p.name)) === 0 ? true : undefined), 30_000);
        expect(ms, p.name).toBeLessThanOrEqual(2 * (INTERVAL_S[p.kind] ?? 0) * 1000 + slack);
      }
    } finally {
      await startKamailio();
    }
    for (const p of sip) {
      const { ms } = await until(`${p.name} up`, async () => ((await successOf(p.name)) === 1 ? true : undefined), 30_000);
      expect(ms, p.name).toBeLessThanOrEqual(2 * (INTERVAL_S[p.kind] ?? 0) * 1000 + slack);
    }
  });

  it('reloads probes on SIGHUP and keeps the running set when the new one is invalid', async () => {
    if (agent === undefined) throw new Error('agent not started');
    const file = join(dir, 'probes.yaml');
    const current = parse(readFileSync(file, 'utf8')) as { probes: Record<string, unknown>[] };
    const extra = { name: 'extra-options', kind: 'options', target: 'sip:127.0.0.1:5060', interval: '2s', timeout: '1s' };
    writeFileSync(file, stringify({ probes: [...current.probes, extra] }));
    process.kill(agent.pid, 'SIGHUP');
    const metrics = async () => (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text();
    await until('the reloaded probe', async () => ((await metrics()).includes('probe_success{probe="extra-options",kind="options"} 1') ? true : undefined), 15_000);

    writeFileSync(file, 'probes:\n  - { name: broken, kind: optionz }\n');
    process.kill(agent.pid, 'SIGHUP');
    await until('the reload error', async () => (/reload failed, keeping the running config/.test(agent?.stderr() ?? '') ? true : undefined), 5000);
    expect(agent.stderr()).toMatch(/probes\[0\]\.kind/);
    const runs = async () => Number(/callprobe_probe_runs_total\{probe="extra-options",kind="options",result="success"\} (\d+)/.exec(await metrics())?.[1] ?? 0);
    const before = await runs();
    await until('the kept probe to run again', async () => ((await runs()) > before ? true : undefined), 10_000);
  });

  it('stops within 10 s of SIGTERM with exit code 0', async () => {
    if (agent === undefined) throw new Error('agent not started');
    const t0 = Date.now();
    process.kill(agent.pid, 'SIGTERM');
    const exit = await agent.exited;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agent.stderr()).not.toMatch(/internal error/);
    agent = undefined;
  });
});
