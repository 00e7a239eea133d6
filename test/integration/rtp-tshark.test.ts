// `probe rtp send` → `probe rtp listen` on 127.0.0.1 while tshark captures:
// the listener's RFC 3550 figures must match tshark's analysis of the same
// stream (packets and loss equal, mean jitter within 0.1 ms).
import { jitterTolerance } from './helpers/jitter.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { boundUdpPorts, capture, rtpStreams } from '../lab/lab.js';
import type { StreamReport, SendResult } from '../../src/rtp/listen-send.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LISTEN_PORT = 19000;
const SEND_PORT = 19002;
const PACKETS = 500; // 10 s at 20 ms

/** Runs `probe rtp <args>` as its own process (the command module only, not the whole CLI). */
function probeRtp(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script =
    "import { Command } from 'commander'; import { register } from './src/cli/rtp.ts';" +
    "const p = new Command(); p.exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2)); register(p);" +
    `await p.parseAsync(['node', 'probe', 'rtp', ...${JSON.stringify(args)}]);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitForUdpPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!boundUdpPorts().has(port)) {
    if (Date.now() > deadline) throw new Error(`udp port ${port} not bound after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('probe rtp vs tshark', () => {
  it('reports the same packets, loss and mean jitter as tshark for a 500-packet stream', async () => {
    const cap = await capture({ filter: `udp and portrange ${LISTEN_PORT}-${SEND_PORT + 1}` });
    let listenOut: Awaited<ReturnType<typeof probeRtp>>;
    let sendOut: Awaited<ReturnType<typeof probeRtp>>;
    try {
      const listening = probeRtp(['listen', '--bind', `127.0.0.1:${LISTEN_PORT}`, '--duration', '40s', '--idle', '1500ms', '--json']);
      await waitForUdpPort(LISTEN_PORT, 15_000);
      sendOut = await probeRtp([
        'send', '--to', `127.0.0.1:${LISTEN_PORT}`, '--bind', `127.0.0.1:${SEND_PORT}`, '--duration', `${PACKETS * 20}ms`, '--json',
      ]);
      listenOut = await listening;
    } finally {
      await cap.stop();
    }
    expect(sendOut.code, sendOut.stderr).toBe(0);
    expect(listenOut.code, listenOut.stderr).toBe(0);
    const sent = JSON.parse(sendOut.stdout) as SendResult;
    const heard = JSON.parse(listenOut.stdout) as { streams: StreamReport[]; stopped_by: string };
    expect(heard.stopped_by).toBe('idle');
    expect(heard.streams).toHaveLength(1);
    const ours = heard.streams[0] as StreamReport;

    const rows = await rtpStreams(cap.file, { decodeAs: [LISTEN_PORT] });
    const theirs = rows.find((r) => r.srcPort === SEND_PORT && r.dstPort === LISTEN_PORT && r.ssrc === ours.ssrc);
    expect(theirs, `tshark streams: ${JSON.stringify(rows)}`).toBeDefined();
    if (!theirs) return;

    process.stderr.write(
      `rtp-tshark: ${ours.packets_received} pkts, jitter mean ours ${ours.jitter_mean_ms} / tshark ${theirs.meanJitter} ms, ` +
        `max ${ours.jitter_max_ms} / ${theirs.maxJitter} ms, send lateness p99 ${sent.send_lateness.p99_ms} ms\n`,
    );
    // ticks the pacer had to skip (process starved for > 20 ms) are not packets
    expect(sent.packets_sent + sent.send_skipped).toBeGreaterThanOrEqual(PACKETS - 2);
    expect(ours.packets_received).toBe(theirs.packets);
    expect(ours.packets_received).toBe(sent.packets_sent);
    expect(ours.packets_lost).toBe(theirs.lost);
    const tolerance = jitterTolerance('rtp-tshark');
    expect(Math.abs(ours.jitter_mean_ms - theirs.meanJitter)).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(ours.jitter_max_ms - theirs.maxJitter)).toBeLessThanOrEqual(tolerance * 2.5);
  });
});
