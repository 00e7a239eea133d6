// Hostile-peer suite, agent level (issue 14 item 1, issue 21 item 2): the agent runs
// call probes 20 times against a PBX that rings, answers our CANCEL with 200 and never
// sends 487. Every run must end by itself and leave nothing behind: the agent's open
// file descriptors and bound UDP sockets, read from /proc, stay flat.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freeTcpPort, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import { startFarEnd } from './helpers/far-end.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callprobe-no487-'));
let agent: TrackedProcess | undefined;
afterAll(async () => {
  await agent?.stop(3000);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Open fds of `pid`, and how many of them are UDP sockets (inodes listed in /proc/<pid>/net/udp). */
function handles(pid: number): { fds: number; udp: number } {
  const links = fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [];
    }
  });
  const udpInodes = new Set(
    fs
      .readFileSync(`/proc/${pid}/net/udp`, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[9])
      .filter((x): x is string => x !== undefined),
  );
  const udp = links.filter((l) => udpInodes.has(/^socket:\[(\d+)\]$/.exec(l)?.[1] ?? '')).length;
  return { fds: links.length, udp };
}

describe('agent: 20 runs against a PBX that never sends 487', () => {
  it('every run ends by itself (phase invite) and fds / UDP sockets stay flat', async () => {
    const callIds = new Map<string, number>();
    const fe = await startFarEnd((req, f) => {
      if (req.method === 'REGISTER') f.reply(req, 200, { headers: [['Contact', `${req.headers.get('contact') ?? ''};expires=60`]] });
      else if (req.method === 'INVITE') {
        if (!callIds.has(req.callId)) callIds.set(req.callId, performance.now());
        f.reply(req, 100);
        f.reply(req, 180);
      } else if (req.method === 'CANCEL') f.reply(req, 200);
    });
    try {
      const port = await freeTcpPort();
      const config = path.join(dir, 'callprobe.yaml');
      const probes = path.join(dir, 'probes.yaml');
      fs.writeFileSync(
        config,
        stringify({
          pbx: { uri: `sip:127.0.0.1:${fe.port}`, transport: 'udp' },
          accounts: { '1001': { password: 'pw-1001' } },
          allowed_destinations: ['9*'],
          rtp: { port_min: 19200, port_max: 19299 },
          probes_dir: dir,
          state_dir: dir,
        }),
      );
      // Two probes, 2 s apart each; ring 300 ms, a 2 s run budget (SIP timeout 600 ms: the
      // CANCEL's missing 487 ends the INVITE 600 ms after the CANCEL).
      const probe = (name: string) => ({ name, kind: 'call', from: '1001', to: '9555', duration: '1s', ring_timeout: '300ms', interval: '2s', timeout: '2s' });
      fs.writeFileSync(probes, stringify({ probes: [probe('no487-a'), probe('no487-b')] }));
      agent = spawnTracked(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'agent', '--config', config, '--probes', probes, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
        { cwd: ROOT, name: 'callprobe-agent-no487' },
      );
      const pid = agent.pid;
      // Sample between runs too: a leak raises the floor (the fewest handles seen in a window).
      const samples: Array<{ runs: number; fds: number; udp: number }> = [];
      const deadline = performance.now() + 60_000;
      while (callIds.size < 21 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          samples.push({ runs: callIds.size, ...handles(pid) });
        } catch {
          break; // the agent exited
        }
      }
      expect(callIds.size, agent.stderr()).toBeGreaterThanOrEqual(21);
      const floor = (from: number, to: number, key: 'fds' | 'udp') => Math.min(...samples.filter((s) => s.runs >= from && s.runs <= to).map((s) => s[key]));
      const early = { fds: floor(3, 6, 'fds'), udp: floor(3, 6, 'udp') };
      const late = { fds: floor(17, 20, 'fds'), udp: floor(17, 20, 'udp') };
      expect(late.udp, JSON.stringify({ early, late })).toBeLessThanOrEqual(early.udp);
      expect(late.fds, JSON.stringify({ early, late })).toBeLessThanOrEqual(early.fds + 1);
      // Each run got its CANCEL answered and then gave up without a 487, by itself.
      expect(fe.requests('CANCEL').length).toBeGreaterThanOrEqual(19);
      // One more run, blackbox style: it ended by itself, in phase invite, naming the missing 487.
      const result = (await (await fetch(`http://127.0.0.1:${port}/probe?target=no487-a&format=json`)).json()) as { failures: Array<{ phase: string; message?: string }> };
      expect(result.failures[0]?.phase, JSON.stringify(result)).toBe('invite');
      expect(result.failures[0]?.message).toMatch(/487/);
    } finally {
      fe.close();
    }
  });
});
