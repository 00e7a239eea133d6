// Acceptance 4-5: the timeout and retransmission behaviour, measured.
// 4: nothing listening on UDP → `probe options --timeout 2s` exits 1 after 2 s (±10 %)
//    with "no response (Timer F)".
// 5: a relay in front of Kamailio drops the first datagram; Timer E resends it
//    after T1 (500 ms ± 50) and the probe succeeds; tshark sees both copies.
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register as registerOptionsCommand } from '../../src/cli/options.js';
import { createLogger } from '../../src/log.js';
import { probeOptions } from '../../src/probes/options.js';
import { probeRegister } from '../../src/probes/register.js';
import { capture, LAB, removeBindings, USERS } from '../lab/lab.js';

const execFileP = promisify(execFile);
const ctx = () => ({ logger: createLogger('silent'), signal: new AbortController().signal });
const sockets: dgram.Socket[] = [];
afterEach(() => {
  while (sockets.length) sockets.pop()?.close();
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

async function runCli(args: string[]): Promise<{ code: number | undefined; stdout: string; ms: number }> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const program = new Command().exitOverride();
  registerOptionsCommand(program);
  const t0 = performance.now();
  await program.parseAsync(['node', 'probe', ...args]);
  const ms = performance.now() - t0;
  vi.restoreAllMocks();
  const code = process.exitCode as number | undefined;
  process.exitCode = undefined;
  return { code, stdout, ms };
}

/** Relays client ↔ Kamailio, dropping the client's first datagram; records arrival times. */
async function dropFirstRelay(target: number): Promise<{ port: number; arrivals: number[] }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  const arrivals: number[] = [];
  let client: dgram.RemoteInfo | undefined;
  s.on('message', (data, rinfo) => {
    if (rinfo.port === target) {
      if (client) s.send(data, client.port, client.address);
      return;
    }
    client = rinfo;
    arrivals.push(performance.now());
    if (arrivals.length > 1) s.send(data, target, LAB.host);
  });
  await new Promise<void>((r) => s.bind(0, LAB.host, r));
  return { port: s.address().port, arrivals };
}

describe('timers against a silent port and a lossy relay', () => {
  it('probe options --timeout 2s to a silent UDP port: exit 1 after 2 s ±10 % with "no response (Timer F)"', async () => {
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((r) => silent.bind(0, LAB.host, r));
    const r = await runCli(['options', `sip:${LAB.host}:${silent.address().port}`, '--timeout', '2s']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('no response (Timer F)');
    expect(r.ms).toBeGreaterThan(1800);
    expect(r.ms).toBeLessThan(2200);
  });

  it('--json prints the result object; 200 from Kamailio exits 0', async () => {
    const r = await runCli(['options', `sip:${LAB.host}:${LAB.ports.udp}`, '--timeout', '3s', '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { success: boolean; status: number; timings_ms: Record<string, number> };
    expect(json).toMatchObject({ success: true, status: 200 });
    expect(Object.keys(json.timings_ms)).toEqual(['dns', 'connect', 'request']);
  });

  it('Timer E retransmits the dropped OPTIONS after T1 and the probe succeeds', async () => {
    const relay = await dropFirstRelay(LAB.ports.udp);
    const cap = await capture({ filter: `udp port ${relay.port}` });
    await new Promise((resolve) => setTimeout(resolve, 700)); // dumpcap starts a moment after "Capturing on"
    let r;
    try {
      // Request-URI without the relay port: Kamailio answers OPTIONS for itself only.
      r = await probeOptions(ctx(), { target: `sip:${LAB.host}:${relay.port}`, requestUri: `sip:${LAB.host}`, timeoutMs: 4000 });
    } finally {
      await cap.stop();
    }
    expect(r.failures).toEqual([]);
    expect(r.success).toBe(true);
    expect(relay.arrivals).toHaveLength(2);
    const gap = (relay.arrivals[1] ?? 0) - (relay.arrivals[0] ?? 0);
    expect(gap).toBeGreaterThan(450);
    expect(gap).toBeLessThan(550);
    const { stdout } = await execFileP('tshark', ['-r', await cap.stop(), '-Y', `sip.Method == "OPTIONS" && udp.dstport == ${relay.port}`, '-T', 'fields', '-e', 'frame.time_epoch']);
    const times = stdout.trim().split('\n').filter(Boolean).map(Number);
    expect(times).toHaveLength(2);
    const wireGap = ((times[1] ?? 0) - (times[0] ?? 0)) * 1000;
    expect(wireGap).toBeGreaterThan(450);
    expect(wireGap).toBeLessThan(550);
  });

  it('REGISTER through the lossy relay still succeeds (retransmission absorbed by Kamailio)', async () => {
    const relay = await dropFirstRelay(LAB.ports.udp);
    const r = await probeRegister(ctx(), { server: `sip:${LAB.host}:${relay.port}`, user: '1001', password: USERS['1001'], domain: LAB.host, timeoutMs: 4000, expires: 60 });
    expect(r.failures).toEqual([]);
    expect(r.success).toBe(true);
    await removeBindings(['1001']);
  });
});
