// `probe rtp listen` (the shipped CLI) against a scripted RTP sender that does
// what broken or restarting peers do (issue 14 item 1, issue 21 item 1):
// restarts mid-stream with a new sequence and timestamp base (same SSRC),
// changes SSRC mid-stream, or stops without RTCP BYE. Loss and jitter must
// stay right; a stream that stops early is a media failure with its tail lost.
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { StreamFailure, StreamReport } from '../../src/rtp/listen-send.js';
import { spawnTracked } from '../lab/lab.js';
import { probeCommand, ROOT } from './helpers/impairment.js';

const H = '127.0.0.1';

interface Segment {
  ssrc: number;
  seq: number;
  ts: number;
  packets: number;
  /** Packet indexes not sent (loss the receiver must count). */
  skip?: readonly number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rtp(ssrc: number, seq: number, ts: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** RFC 3550 §6.6 BYE in a compound packet (empty RR first). */
function rtcpBye(ssrc: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(0x80c90001, 0); // RR, RC 0, length 1
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(0x81cb0001, 8); // BYE, SC 1, length 1
  b.writeUInt32BE(ssrc, 12);
  return b;
}

/** Sends the segments back to back at 20 ms per packet (absolute deadlines), then optionally a BYE. */
async function sendScript(port: number, segments: readonly Segment[], byeSsrc?: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, H, () => r()));
  const t0 = performance.now();
  let tick = 0;
  for (const s of segments) {
    for (let i = 0; i < s.packets; i++, tick++) {
      const wait = t0 + tick * 20 - performance.now();
      if (wait > 0) await sleep(wait);
      if (!s.skip?.includes(i)) sock.send(rtp(s.ssrc, s.seq + i, s.ts + i * 160), port, H);
    }
  }
  if (byeSsrc !== undefined) sock.send(rtcpBye(byeSsrc), port + 1, H);
  await sleep(50);
  sock.close();
}

interface Listened {
  code: number | null;
  streams: StreamReport[];
  failures: StreamFailure[];
  stderr: string;
}

async function listen(port: number, args: string[], script: () => Promise<void>): Promise<Listened> {
  const [cmd, argv] = probeCommand(['rtp', 'listen', '--bind', `${H}:${port}`, '--json', ...args]);
  const p = spawnTracked(cmd, argv, { cwd: ROOT });
  // the listener is up once its port is bound: a packet sent before would be lost
  const until = Date.now() + 20_000;
  for (;;) {
    const probe = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((r) => {
      probe.once('error', () => r(false));
      probe.bind(port, H, () => r(true));
    });
    await new Promise<void>((r) => probe.close(() => r()));
    if (!free) break;
    if (Date.now() > until) throw new Error(`probe rtp listen did not bind ${port}: ${p.stderr()}`);
    await sleep(50);
  }
  await script();
  const done = await Promise.race([p.exited, sleep(20_000).then(() => null)]);
  if (done === null) await p.stop(2000);
  let parsed: { streams: StreamReport[]; failures: StreamFailure[] };
  try {
    parsed = JSON.parse(p.stdout()) as typeof parsed;
  } catch {
    throw new Error(`probe rtp listen printed no JSON (exit ${done?.code}):\n${p.stdout()}\n${p.stderr()}`);
  }
  return { code: done?.code ?? null, ...parsed, stderr: p.stderr() };
}

describe('probe rtp listen against a scripted sender', () => {
  it('sender restart mid-stream (same SSRC, new sequence and timestamp): loss and jitter stay right', async () => {
    const r = await listen(18600, ['--count', '145'], () =>
      sendScript(18600, [
        { ssrc: 0xabc, seq: 1000, ts: 5000, packets: 75, skip: [10, 11, 40] },
        { ssrc: 0xabc, seq: 30_000, ts: 3_000_000_000, packets: 75, skip: [20, 50] },
      ]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.streams).toHaveLength(1);
    const s = r.streams[0];
    expect(s).toMatchObject({ packets_received: 145, packets_expected: 150, packets_lost: 5, loss_percent: 3.33 });
    // the bug this guards read ~456,744 ms: the new timestamp base entered the estimate
    expect(s?.jitter_max_ms).toBeLessThan(50);
  }, 40_000);

  it('SSRC change mid-stream, then RTCP BYE: two clean streams, no timeout for the replaced one', async () => {
    const r = await listen(18610, ['--duration', '5s'], () =>
      sendScript(18610, [
        { ssrc: 0x1111, seq: 100, ts: 0, packets: 75 },
        { ssrc: 0x2222, seq: 50_000, ts: 77_777_777, packets: 75, skip: [30] },
      ], 0x2222),
    );
    expect(r.failures).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    const bySsrc = new Map(r.streams.map((s) => [s.ssrc, s]));
    expect(bySsrc.get(0x1111)).toMatchObject({ packets_received: 75, packets_expected: 75, packets_lost: 0 });
    expect(bySsrc.get(0x2222)).toMatchObject({ packets_received: 74, packets_expected: 75, packets_lost: 1, rtcp_bye: true });
    for (const s of r.streams) expect(s.jitter_max_ms).toBeLessThan(50);
  }, 40_000);

  it('a stream that stops without BYE fails (rtp_timeout) and its missing tail counts as loss', async () => {
    const r = await listen(18620, ['--duration', '4s', '--media-timeout', '1s'], () => sendScript(18620, [{ ssrc: 0x3333, seq: 7, ts: 0, packets: 40 }]));
    expect(r.code, r.stderr).toBe(1);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ check: 'rtp_timeout', ssrc_hex: '0x00003333', expected: 1000 });
    expect(r.failures[0]?.message).toMatch(/stopped .* and was silent for the last \d/);
    const s = r.streams[0];
    expect(s?.packets_received).toBe(40);
    expect(s?.loss_percent ?? 0).toBeGreaterThan(50);
    expect(s?.mos ?? 5).toBeLessThan(2.5);
  }, 40_000);
});
