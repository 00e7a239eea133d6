// `probe call` against the real lab: Kamailio (+ rtpengine), baresip, the SIPp
// carrier. Ground truth for media comes from tshark on a capture the test takes.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, LAB, labWorkdir, removeBindings, rtpStreams, USERS } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';
import { jitterTolerance } from './helpers/jitter.js';
import { udpBackend } from '../../src/rtp/udp.js';
import { TAIL_FRAMES } from '../../src/call/media-end.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function probe(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const t0 = Date.now();
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      timeout: 90_000,
      maxBuffer: 8 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr, ms: Date.now() - t0 };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '', ms: Date.now() - t0 };
  }
}

function writeConfig(name: string, opts: { port: number; accounts: string[]; allowed?: string[]; rtp?: [number, number]; passwords?: Record<string, string> }): string {
  const file = path.join(labWorkdir(), name);
  const accounts = opts.accounts.map((a) => `  "${a}": { password: "${opts.passwords?.[a] ?? USERS[a as keyof typeof USERS]}" }`).join('\n');
  const [min, max] = opts.rtp ?? [16500, 16599];
  fs.writeFileSync(
    file,
    `pbx: { uri: "sip:127.0.0.1:${opts.port}", transport: udp }
accounts:
${accounts}
rtp: { port_min: ${min}, port_max: ${max}, codecs: [PCMU, PCMA] }
allowed_destinations: [${(opts.allowed ?? []).map((a) => `"${a}"`).join(', ')}]
state_dir: ${labWorkdir()}/state
`,
  );
  return file;
}

/** First to last RTP timestamp (8 kHz) of the packets one of our ports sent to rtpengine, in seconds. */
async function rtpClockSpan(pcap: string, srcPort: number): Promise<{ seconds: number; packets: number }> {
  const { stdout } = await execFileP('tshark', ['-r', pcap, '-n', '-Y', `rtp && udp.srcport == ${srcPort} && udp.dstport >= 10000 && udp.dstport <= 14999`, '-T', 'fields', '-e', 'rtp.timestamp'], { maxBuffer: 16 * 1024 * 1024 });
  const ts = stdout.split('\n').filter((l) => l.trim() !== '').map(Number);
  const first = ts[0] ?? 0;
  const last = ts.at(-1) ?? 0;
  return { seconds: ((last - first) >>> 0) / 8000, packets: ts.length };
}

function parse(run: CliRun): CallResult {
  try {
    return JSON.parse(run.stdout) as CallResult;
  } catch {
    throw new Error(`probe printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

beforeAll(async () => {
  // Bindings other tests left behind would fork our INVITEs to dead contacts.
  await removeBindings(['1001', '1002']);
});

describe('probe call through Kamailio', () => {
  it('1001 → 1002 via rtpengine for 10 s: each way our counts equal the wire (tshark), 0 lost, 10 s of RTP clock, MOS 4.41, mean jitter within 0.1 ms of tshark', async () => {
    const config = writeConfig('call-main.yaml', { port: LAB.ports.udp, accounts: ['1001', '1002'] });
    const cap = await capture({ filter: 'udp and (port 5060 or portrange 10000-14999 or portrange 16500-16599)' });
    const run = await probe(['call', '1001', '1002', '--duration', '10s', '--json', '--config', config]);
    const pcap = await cap.stop();
    const r = parse(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    expect(r.success).toBe(true);
    expect(r.sip.final_status).toBe(200);
    expect(r.sip.timings_ms.pdd).toBeGreaterThan(0);
    expect(r.media?.codec).toBe('PCMU');
    expect(r.media?.arrival_timestamps).toBe(udpBackend().name === 'udpio' ? 'kernel' : 'event_loop');
    const streams = await rtpStreams(pcap);
    const tolerance = jitterTolerance('call-probe');
    // caller→rtpengine, rtpengine→callee, callee→rtpengine, rtpengine→caller
    expect(streams.length).toBe(4);
    const dirs = r.media?.directions ?? [];
    expect(dirs).toHaveLength(2);
    const relay = (port: number): boolean => port >= 10000 && port <= 14999;
    for (const d of dirs) {
      // Counts follow from what was sent, not from 50 pps × 10 s: a sender whose process stalls
      // past the pacer's catch-up skips ticks (fewer packets, the RTP clock still advances), so the
      // ground truth is the same packets on the wire. Our sender's port is the other direction's receiver port.
      const senderPort = dirs.find((o) => o !== d)?.local_rtp_port;
      const sent = streams.find((s) => s.srcPort === senderPort && relay(s.dstPort));
      const seen = streams.find((s) => s.dstPort === d.local_rtp_port && relay(s.srcPort));
      expect(sent, `no tshark stream from our sender port ${senderPort}`).toBeDefined();
      expect(seen, `no tshark stream to port ${d.local_rtp_port}`).toBeDefined();
      const span = await rtpClockSpan(pcap, senderPort ?? 0);
      process.stderr.write(
        `call-probe: ${d.direction} sent ${d.packets_sent} (wire ${sent?.packets}), received ${d.packets_received} + tail ${d.tail_packets ?? 0} ` +
          `(wire ${seen?.packets}), RTP clock span ${span.seconds} s over ${span.packets} packets; jitter mean ours ${d.jitter_mean_ms} / tshark ${seen?.meanJitter} ms\n`,
      );
      expect(sent?.packets).toBe((d.packets_sent ?? NaN) + TAIL_FRAMES); // the measured stream and the unmeasured tail
      expect(seen?.packets).toBe(sent?.packets); // rtpengine relayed every packet
      expect(seen?.packets).toBe((d.packets_received ?? NaN) + (d.tail_packets ?? 0)); // our own sender's tail is on the wire, not counted
      expect(d.packets_received).toBe(d.packets_sent);
      expect(d.packets_lost).toBe(0);
      expect(seen?.lost).toBe(0);
      // 10 s of media: the RTP clock of the measured packets covers the media phase (skipped ticks
      // advance it too); the phase ends at answer + 10 s, a timer that can fire late, never early.
      expect(span.seconds).toBeGreaterThanOrEqual(9.9);
      expect(d.mos).toBe(4.41);
      expect(Math.abs((d.jitter_mean_ms ?? 99) - (seen?.meanJitter ?? 0)), `ours ${d.jitter_mean_ms} tshark ${seen?.meanJitter}`).toBeLessThanOrEqual(tolerance);
    }
  });

  it('without rtpengine (direct media) and with PCMA', async () => {
    const config = writeConfig('call-direct.yaml', { port: LAB.ports.direct, accounts: ['1001', '1002'], rtp: [16600, 16699] });
    const cap = await capture({ filter: 'udp and (port 5160 or portrange 16600-16699)' });
    const run = await probe(['call', '1001', '1002', '--duration', '3s', '--codec', 'PCMA', '--json', '--config', config]);
    const pcap = await cap.stop();
    const r = parse(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(r.media?.codec).toBe('PCMA');
    const streams = await rtpStreams(pcap);
    // Media flows endpoint to endpoint: 2 streams, both between our own ports.
    expect(streams.length).toBe(2);
    for (const s of streams) {
      expect(s.srcPort).toBeGreaterThanOrEqual(16600);
      expect(s.dstPort).toBeGreaterThanOrEqual(16600);
      expect(s.payload).toMatch(/g711A/i);
    }
  });

  it('calls baresip 1003 (auto-answer) with media measured', async () => {
    const config = writeConfig('call-baresip.yaml', { port: LAB.ports.udp, accounts: ['1001'], allowed: ['1003'], rtp: [16700, 16799] });
    const run = await probe(['call', '1001', '1003', '--duration', '3s', '--json', '--config', config]);
    const r = parse(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(r.success).toBe(true);
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.packets_received).toBeGreaterThan(100);
    expect(back?.packets_lost).toBe(0);
  });

  it('trunk call 9155501234 to the SIPp carrier succeeds with media measured', async () => {
    const config = writeConfig('call-trunk.yaml', { port: LAB.ports.udp, accounts: ['1001'], allowed: ['9*'], rtp: [16800, 16899] });
    const run = await probe(['call', '1001', '9155501234', '--duration', '3s', '--json', '--config', config]);
    const r = parse(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(r.media?.codec).toBe('PCMA');
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.packets_received).toBeGreaterThan(100);
  });

  it('a number outside allowed_destinations is refused with exit 2 before any packet', async () => {
    const config = writeConfig('call-refuse.yaml', { port: LAB.ports.udp, accounts: ['1001'], allowed: ['9*'] });
    const run = await probe(['call', '1001', '+8821234567', '--json', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to dial: \+8821234567/);
    expect(run.stdout).toBe('');
  });

  it('callee not registered → exit 1, 404 at phase invite', async () => {
    await removeBindings(['1002']);
    const config = writeConfig('call-404.yaml', { port: LAB.ports.udp, accounts: ['1001'], allowed: ['1002'] });
    const run = await probe(['call', '1001', '1002', '--json', '--config', config]);
    const r = parse(run);
    expect(run.code).toBe(1);
    expect(r.sip.final_status).toBe(404);
    expect(r.failures[0]).toMatchObject({ check: 'invite', phase: 'invite', actual: 404 });
  });

  it('wrong password → exit 1 at phase register', async () => {
    const config = writeConfig('call-badpw.yaml', { port: LAB.ports.udp, accounts: ['1001', '1002'], passwords: { '1001': 'wrong' } });
    const run = await probe(['call', '1001', '1002', '--json', '--config', config]);
    const r = parse(run);
    expect(run.code).toBe(1);
    expect(r.failures[0]?.phase).toBe('register');
    expect(r.failures[0]?.message).toMatch(/1001/);
  });

  it('callee never answers (baresip 1004, manual) → CANCEL, 487 within the ring timeout', async () => {
    const config = writeConfig('call-ring.yaml', { port: LAB.ports.udp, accounts: ['1001'], allowed: ['1004'] });
    const run = await probe(['call', '1001', '1004', '--ring-timeout', '3s', '--json', '--config', config]);
    const r = parse(run);
    expect(run.code).toBe(1);
    expect(r.sip.final_status).toBe(487);
    expect(r.failures[0]).toMatchObject({ check: 'ring_timeout', phase: 'invite' });
    expect(r.duration_s).toBeLessThan(8);
  });
});
