import { afterEach, describe, expect, it, vi } from 'vitest';
import { monotonicClock } from '../../../src/rtp/clock.js';
import { Pacer, sharedPacer } from '../../../src/rtp/pacer.js';
import { openMediaSockets, PortAllocator } from '../../../src/rtp/ports.js';
import { ReceiveStreams } from '../../../src/rtp/receive-streams.js';
import { RtpSession } from '../../../src/rtp/session.js';
import { udpBackend } from '../../../src/rtp/udp.js';

const alloc = new PortAllocator({ min: 19500, max: 19599, address: '127.0.0.1' });
const sessions: RtpSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

async function pair(opts: { rtcpIntervalMs?: number; pacer?: Pacer } = {}): Promise<[RtpSession, RtpSession]> {
  const [pa, pb] = await Promise.all([alloc.allocate(), alloc.allocate()]);
  const a = new RtpSession({ ports: pa, codec: 'PCMU', rtcpIntervalMs: opts.rtcpIntervalMs ?? 0, ...(opts.pacer ? { pacer: opts.pacer } : {}) });
  const b = new RtpSession({ ports: pb, codec: 'PCMU', rtcpIntervalMs: opts.rtcpIntervalMs ?? 0, ...(opts.pacer ? { pacer: opts.pacer } : {}) });
  sessions.push(a, b);
  a.setRemote({ address: '127.0.0.1', port: pb.rtpPort });
  b.setRemote({ address: '127.0.0.1', port: pa.rtpPort });
  return [a, b];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
};

function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

describe('RtpSession on loopback', () => {
  it('streams 50+ packets each way on loopback with no loss, never more than its deadlines', async () => {
    // Counts follow from what was sent, not from how long a timer ran: a loaded process skips pacer
    // ticks (counted in send_skipped), so the test waits for 50 packets instead of sleeping 1 s, and
    // the receiver must count exactly what the sender sent.
    const [a, b] = await pair();
    expect(a.hasReceivedRtp).toBe(false);
    const t0 = monotonicClock.now();
    a.start();
    b.start();
    expect(await b.waitForRtp(1000)).toBe(true);
    await until(() => a.stats().packets_received >= 50 && b.stats().packets_received >= 50, 10_000);
    a.stop();
    b.stop();
    const elapsedMs = monotonicClock.now() - t0;
    await until(() => a.stats().packets_received === b.stats().packets_sent && b.stats().packets_received === a.stats().packets_sent, 2000);
    for (const [tx, rx] of [
      [a, b],
      [b, a],
    ] as const) {
      const sent = tx.stats().packets_sent;
      const got = rx.stats();
      expect(sent).toBeGreaterThanOrEqual(50);
      // One tick per 20 ms deadline from start to stop (tick 0 at start; the pacer may take a deadline
      // up to batchEarlyMs, 0.5 ms, early): never a burst beyond that.
      expect(sent + tx.stats().send_skipped).toBeLessThanOrEqual(Math.floor((elapsedMs + 0.5) / 20) + 1);
      expect(got.packets_received).toBe(sent);
      expect(got.packets_lost).toBe(0);
      expect(got.loss_percent).toBe(0);
      expect(got.duplicates).toBe(0);
      // A sender stall up to the pacer's catchUpMs sends the missed packets late (jitter, not
      // loss): |D| of two packets is at most the spread of their send lateness, so the RFC 3550
      // estimate stays under twice the worst lateness this process's pacer measured (+1 ms of
      // early-send window and loopback). Wrong timestamps would read hundreds of ms.
      expect(got.jitter_max_ms).toBeLessThanOrEqual(2 * sharedPacer().lateness().max_ms + 1);
      expect(got.first_packet_at).not.toBeNull();
      expect(got.mos).toBeGreaterThan(4.3);
      const streams = rx.receivedStreams();
      expect(streams).toHaveLength(1);
      expect(streams[0]?.ssrc).toBe(tx.ssrc);
      expect(streams[0]?.payloadType).toBe(0);
      expect(streams[0]?.source).toBe(`127.0.0.1:${tx.localPort}`);
    }
  });

  it('counts a steady stream in place (udpio fast path), and a second listener still gets every datagram', async () => {
    const inPlace = vi.spyOn(ReceiveStreams.prototype, 'updateInPlace');
    const full = vi.spyOn(ReceiveStreams.prototype, 'update');
    try {
      const [pa, pb] = await Promise.all([alloc.allocate(), alloc.allocate()]);
      const a = new RtpSession({ ports: pa, codec: 'PCMU', rtcpIntervalMs: 0 });
      const b = new RtpSession({ ports: pb, codec: 'PCMU', rtcpIntervalMs: 0 });
      sessions.push(a, b);
      a.setRemote({ address: '127.0.0.1', port: pb.rtpPort });
      b.setRemote({ address: '127.0.0.1', port: pa.rtpPort });
      a.start();
      await sleep(400);
      const fullBefore = full.mock.calls.length;
      let seen = 0;
      const count = (): void => {
        seen++;
      };
      pb.rtp.on('message', count); // now every datagram must reach it too (no fast path)
      const receivedBefore = b.stats().packets_received;
      await sleep(300);
      a.stop();
      await sleep(60);
      pb.rtp.off('message', count);
      const got = b.stats();
      expect(got.packets_received).toBe(a.stats().packets_sent);
      expect(got.packets_lost).toBe(0);
      expect(got.out_of_order + got.duplicates).toBe(0);
      expect(seen).toBe(got.packets_received - receivedBefore);
      expect(seen).toBeGreaterThan(5);
      if (udpBackend().name === 'udpio') {
        // before the second listener: the first packet the full way, the rest in place
        expect(fullBefore).toBe(1);
        expect(inPlace.mock.results.filter((r) => r.value === true).length).toBe(receivedBefore - 1);
        expect(full.mock.calls.length - fullBefore).toBe(seen);
      }
    } finally {
      inPlace.mockRestore();
      full.mockRestore();
    }
  });

  it('reports "no RTP yet" when the peer never sends', async () => {
    const [a] = await pair();
    expect(await a.waitForRtp(100)).toBe(false);
    expect(a.hasReceivedRtp).toBe(false);
    expect(a.stats()).toMatchObject({ packets_received: 0, first_packet_at: null, rtt_ms: null });
  });

  it('latches to the address media really comes from (symmetric RTP)', async () => {
    const [pa, pb] = await Promise.all([alloc.allocate(), alloc.allocate()]);
    const a = new RtpSession({ ports: pa, rtcpIntervalMs: 0 });
    const b = new RtpSession({ ports: pb, rtcpIntervalMs: 0 });
    sessions.push(a, b);
    a.setRemote({ address: '127.0.0.1', port: pb.rtpPort });
    // b was told a wrong port (say, from SDP behind a NAT): it latches to a's real one.
    b.setRemote({ address: '127.0.0.1', port: 19598 });
    const latched = new Promise((resolve) => b.once('latched', resolve));
    a.start();
    b.start();
    expect(await latched).toEqual({ address: '127.0.0.1', port: pa.rtpPort, rtcpPort: pa.rtcpPort });
    expect(await a.waitForRtp(1000)).toBe(true);
  });

  it('sends and detects RFC 4733 DTMF', async () => {
    const [a, b] = await pair();
    const digits: string[] = [];
    b.on('dtmf', (d) => digits.push(d.digit));
    a.start();
    await a.sendDtmf('1#', { durationMs: 60, pauseMs: 40 });
    await until(() => digits.length >= 2, 2000);
    expect(digits).toEqual(['1', '#']);
    expect(b.receivedDigits).toBe('1#');
    // start, continuation, 3 end packets: counted as normal RTP, no loss, no duplicates
    expect(b.stats()).toMatchObject({ packets_lost: 0, duplicates: 0 });
    await expect(a.sendDtmf('x')).rejects.toMatchObject({ code: 'E_DTMF' });
  });

  it('exchanges RTCP SR/RR and measures RTT', async () => {
    const [a, b] = await pair({ rtcpIntervalMs: 150 });
    a.start();
    b.start();
    const deadline = Date.now() + 3000;
    while ((a.stats().rtt_ms === null || b.stats().rtt_ms === null) && Date.now() < deadline) await sleep(50);
    const sa = a.stats();
    expect(sa.rtt_ms).not.toBeNull();
    expect(sa.rtt_ms ?? -1).toBeGreaterThanOrEqual(0);
    expect(sa.rtt_ms ?? 99).toBeLessThan(50);
    expect(sa.remote_report).toMatchObject({ cumulative_lost: 0 });
  });

  it('reflect mode echoes packets back with its own SSRC', async () => {
    const [pa, pb] = await Promise.all([alloc.allocate(), alloc.allocate()]);
    const sender = new RtpSession({ ports: pa, rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: pb.rtpPort } });
    const echo = new RtpSession({ ports: pb, rtcpIntervalMs: 0, reflect: true });
    sessions.push(sender, echo);
    sender.start();
    echo.start(); // no-op in reflect mode
    await until(() => sender.stats().packets_received > 10, 10_000);
    sender.stop();
    await until(() => sender.stats().packets_received === sender.stats().packets_sent, 2000);
    const s = sender.stats();
    expect(s.packets_sent).toBeGreaterThan(10);
    expect(s.packets_received).toBe(s.packets_sent);
    expect(echo.stats().packets_sent).toBe(s.packets_sent);
    expect(sender.receivedStreams()[0]?.ssrc).toBe(echo.ssrc);
  });

  it('close is idempotent and leaves no socket or timer behind', async () => {
    await sleep(20); // let handles closed by the previous test's afterEach finish closing
    const before = resourceCounts();
    const mediaBefore = openMediaSockets();
    const pacer = new Pacer();
    const [a, b] = await pair({ rtcpIntervalMs: 5000, pacer });
    a.start();
    b.start();
    await sleep(100);
    await Promise.all([a.close(), a.close(), b.close()]);
    await a.close();
    expect(pacer.size).toBe(0);
    await sleep(10);
    const after = resourceCounts();
    expect(after.get('UDPWrap') ?? 0).toBe(before.get('UDPWrap') ?? 0);
    expect(openMediaSockets()).toBe(mediaBefore);
    expect(after.get('Timeout') ?? 0).toBeLessThanOrEqual(before.get('Timeout') ?? 0);
    expect(() => a.start()).not.toThrow();
    expect(a.stats().packets_sent).toBeGreaterThan(0);
  });
});
