// Issue 15 item 5 acceptance: `format: alertmanager` against Debian's
// prometheus-alertmanager (0.25), two instances as an HA pair (each is given
// every alert, as Prometheus does), each with its own config and storage on a
// free 127.0.0.1 port, no clustering, stopped by PID. The agent (config file +
// `probe agent`) probes a SIP peer of the test's own that stops answering:
// the alert is active in both within 30 s (labels probe, check, severity);
// `amtool silence add` silences it; the peer answers again and the alert is
// no longer active within 40 s.
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freeTcpPort, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import { startCliAgent, until, type CliAgent } from './helpers/agent.js';
import { requiredInCi } from '../ci-required.js';

const execFileP = promisify(execFile);
const AM_BIN = '/usr/bin/prometheus-alertmanager';
const AMTOOL = '/usr/bin/amtool';
const hasAm = requiredInCi(existsSync(AM_BIN) && existsSync(AMTOOL), 'prometheus-alertmanager (and amtool)');

const dir = mkdtempSync(join(tmpdir(), 'cp-alertmanager-'));
const ams: { proc: TrackedProcess; url: string }[] = [];
let agent: CliAgent | undefined;
let peer: dgram.Socket | undefined;
/** The SIP peer answers OPTIONS only while this is true. */
let answering = false;

interface AmAlert {
  labels: Record<string, string>;
  status: { state: string; silencedBy: string[] };
  endsAt: string;
}

async function alertsOf(url: string): Promise<AmAlert[]> {
  const res = await fetch(`${url}/api/v2/alerts?filter=${encodeURIComponent('probe="sip-peer"')}`);
  if (!res.ok) throw new Error(`GET /api/v2/alerts: ${res.status}`);
  return (await res.json()) as AmAlert[];
}

async function startAlertmanager(n: number): Promise<{ proc: TrackedProcess; url: string }> {
  const port = await freeTcpPort();
  const home = join(dir, `am${n}`);
  mkdirSync(home);
  writeFileSync(
    join(home, 'alertmanager.yml'),
    stringify({ route: { receiver: 'none', group_wait: '1s', group_interval: '1s', repeat_interval: '1h' }, receivers: [{ name: 'none' }] }),
  );
  const proc = spawnTracked(
    AM_BIN,
    [`--config.file=${join(home, 'alertmanager.yml')}`, `--storage.path=${join(home, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    { cwd: home, name: `alertmanager-${n}` },
  );
  const url = `http://127.0.0.1:${port}`;
  await until(`alertmanager ${n} to be ready`, async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 20_000);
  return { proc, url };
}

beforeAll(async () => {
  if (!hasAm) return;
  ams.push(await startAlertmanager(1), await startAlertmanager(2));
  peer = dgram.createSocket('udp4');
  peer.on('message', (msg, rinfo) => {
    if (!answering) return;
    const text = msg.toString('latin1');
    const head = (name: string): string => new RegExp(`^${name}:.*$`, 'im').exec(text)?.[0] ?? '';
    const reply = `SIP/2.0 200 OK\r\n${head('Via')}\r\n${head('From')}\r\n${head('To')};tag=am\r\n${head('Call-ID')}\r\n${head('CSeq')}\r\nContent-Length: 0\r\n\r\n`;
    peer?.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => peer?.bind(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  await agent?.proc.stop(10_000);
  for (const am of ams) await am.proc.stop(5000);
  peer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasAm)('format: alertmanager against prometheus-alertmanager', () => {
  it('fires into both members of the pair, can be silenced with amtool, resolves when the probe recovers', async () => {
    const peerPort = (peer?.address() as AddressInfo).port;
    agent = await startCliAgent(
      dir,
      { state_dir: join(dir, 'state'), webhooks: [{ url: ams.map((a) => a.url), format: 'alertmanager', min_severity: 'warning' }], alerts: { for: 2 } },
      [{ name: 'sip-peer', kind: 'options', target: `sip:127.0.0.1:${peerPort};transport=udp`, interval: '2s', timeout: '1s', labels: { site: 'lab' } }],
    );

    const t0 = Date.now();
    for (const am of ams) {
      await until(`the alert to be active in ${am.url}`, async () => ((await alertsOf(am.url)).some((a) => a.status.state === 'active') ? true : undefined), 30_000 - (Date.now() - t0));
    }
    const firedMs = Date.now() - t0;
    const [first] = await alertsOf(ams[0]?.url ?? '');
    expect(first?.labels).toMatchObject({ probe: 'sip-peer', severity: 'critical', site: 'lab', alertname: expect.stringMatching(/^callprobe_/) });
    expect(first?.labels['check']).toBeTruthy();
    expect(Date.parse(first?.endsAt ?? '')).toBeGreaterThan(Date.now() + 60_000); // valid beyond the next re-send

    const am1 = ams[0]?.url ?? '';
    const { stdout } = await execFileP(AMTOOL, [`--alertmanager.url=${am1}`, 'silence', 'add', 'probe=sip-peer', '--comment=callprobe test', '--author=callprobe-test', '--duration=10m'], { timeout: 10_000 });
    const silenceId = stdout.trim();
    expect(silenceId).toMatch(/^[0-9a-f-]{36}$/);
    const silenced = await until('the alert to be silenced', async () => {
      const [a] = await alertsOf(am1);
      return a?.status.state === 'suppressed' ? a : undefined;
    }, 10_000);
    expect(silenced.status.silencedBy).toEqual([silenceId]);

    answering = true;
    const tUp = Date.now();
    for (const am of ams) await until(`the alert to leave ${am.url}`, async () => ((await alertsOf(am.url)).length === 0 ? true : undefined), 40_000 - (Date.now() - tUp));
    const resolvedMs = Date.now() - tUp;
    console.log(`alertmanager: active in both ${firedMs} ms after agent start; gone from both ${resolvedMs} ms after the peer answered again`);
    expect(resolvedMs).toBeLessThan(40_000);
  }, 90_000);
});
