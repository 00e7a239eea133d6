// Shared-port mode (src/rtp/shared-port.ts): many RtpSessions on one bound port pair, each
// stream delivered to its own session by SSRC and source address. Real sockets on 127.0.0.1
// (19340-19399), the real clock and pacer.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindPair, PortAllocatorError, type PortPair } from '../../../src/rtp/ports.js';
import { ReceiveStreams } from '../../../src/rtp/receive-streams.js';
import { RtpSession } from '../../../src/rtp/session.js';
import { SharedPort } from '../../../src/rtp/shared-port.js';
import { udpBackend } from '../../../src/rtp/udp.js';

const sessions: RtpSession[] = [];
const shared: SharedPort[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await Promise.all(shared.splice(0).map((p) => p.close()));
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function session(ports: PortPair, remote?: { port: number; ssrc?: number }): RtpSession {
  const s = new RtpSession({ ports, codec: 'PCMU', rtcpIntervalMs: 300, ...(remote ? { remote: { address: '127.0.0.1', ...remote } } : {}) });
  sessions.push(s);
  return s;
}

async function open(port: number, capacity?: number): Promise<SharedPort> {
  const p = await SharedPort.open({ address: '127.0.0.1', port, dscp: null, ...(capacity !== undefined ? { capacity } : {}) });
  shared.push(p);
  return p;
}

/** Each receiver heard exactly its sender's SSRC, every packet sent (the tail in flight aside). */
function expectOwnStream(tx: RtpSession, rx: RtpSession): void {
  const streams = rx.receivedStreams();
  expect(streams.map((s) => s.ssrc)).toEqual([tx.ssrc]);
  const st = rx.stats();
  expect(st.packets_received).toBe(tx.sentPackets);
  expect(st.packets_lost).toBe(0);
  expect(st.invalid_packets).toBe(0);
}

describe('SharedPort', () => {
  it('three callers on their own ports, three sessions on one shared port: every stream reaches its own session, both ways, RTCP too', async () => {
    const port = await open(19340);
    const callers = await Promise.all([19350, 19352, 19354].map((p) => bindPair('127.0.0.1', p, { dscp: null })));
    const pairs = await Promise.all(callers.map(() => port.allocate()));
    expect(port.allocated).toBe(3);
    expect(new Set(pairs.map((p) => p.rtpPort))).toEqual(new Set([19340])); // one port for every call
    const far = callers.map((c) => session(c, { port: 19340 }));
    const near = pairs.map((p, i) => session(p, { port: callers[i]?.rtpPort ?? 0 }));
    for (const s of [...far, ...near]) s.start();
    await sleep(900);
    for (const s of [...far, ...near]) s.stop();
    await sleep(60);
    for (let i = 0; i < 3; i++) {
      expectOwnStream(far[i] as RtpSession, near[i] as RtpSession);
      expectOwnStream(near[i] as RtpSession, far[i] as RtpSession);
      expect(far[i]?.sentPackets).toBeGreaterThan(30);
      // RTCP over the shared RTCP port: each side got the other's reports (an RTT needs the round trip)
      expect(near[i]?.stats().remote_report).not.toBeNull();
      expect(far[i]?.stats().rtt_ms).not.toBeNull();
    }
    expect(port.unmatched).toBe(0);
  });

  it('two shared ports talking to each other: the streams of one source are told apart by the SSRCs the signalling named', async () => {
    const inPlace = vi.spyOn(ReceiveStreams.prototype, 'updateInPlace');
    const full = vi.spyOn(ReceiveStreams.prototype, 'update');
    const [a, b] = await Promise.all([open(19360), open(19362)]);
    const n = 6;
    const ssrcs = Array.from({ length: 2 * n }, (_, i) => 0x10000 + i);
    const aPairs = await Promise.all(Array.from({ length: n }, () => a.allocate()));
    const bPairs = await Promise.all(Array.from({ length: n }, () => b.allocate()));
    const as = aPairs.map((p, i) => new RtpSession({ ports: p, ssrc: ssrcs[i] as number, rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19362, ssrc: ssrcs[n + i] as number } }));
    const bs = bPairs.map((p, i) => new RtpSession({ ports: p, ssrc: ssrcs[n + i] as number, rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19360, ssrc: ssrcs[i] as number } }));
    sessions.push(...as, ...bs);
    for (const s of [...as, ...bs]) s.start();
    await sleep(500);
    for (const s of [...as, ...bs]) s.stop();
    await sleep(60);
    for (let i = 0; i < n; i++) {
      expectOwnStream(as[i] as RtpSession, bs[i] as RtpSession);
      expectOwnStream(bs[i] as RtpSession, as[i] as RtpSession);
    }
    expect(a.unmatched + b.unmatched).toBe(0);
    if (udpBackend().name === 'udpio') {
      // udpio fast path through the demultiplexer: each stream's first packet the full way, the rest in place
      const received = [...as, ...bs].reduce((n, s) => n + s.stats().packets_received, 0);
      expect(full.mock.calls.length).toBe(2 * n);
      expect(inPlace.mock.results.filter((r) => r.value === true).length).toBe(received - 2 * n);
    }
    inPlace.mockRestore();
    full.mockRestore();
  });

  it('drops (and counts) what no session expects, even while one waits for its stream, and what arrives for a released session; the port stays open', async () => {
    const port = await open(19370);
    const [c1, stranger] = await Promise.all([bindPair('127.0.0.1', 19380, { dscp: null }), bindPair('127.0.0.1', 19382, { dscp: null })]);
    const near = session(await port.allocate(), { port: 19380 });
    const far = session(c1, { port: 19370 });
    const intruder = session(stranger, { port: 19370 });
    intruder.start(); // first: a shared port does not latch onto what it did not expect
    await sleep(100);
    far.start();
    await sleep(300);
    expect(near.receivedStreams().map((s) => s.ssrc)).toEqual([far.ssrc]);
    const dropped = port.unmatched;
    expect(dropped).toBeGreaterThan(5); // the stranger's packets
    await near.close();
    await sleep(200);
    expect(port.unmatched).toBeGreaterThan(dropped + 5); // far's packets now match nobody
    expect(port.allocated).toBe(0);
    // a new session on the same port works
    const again = session(await port.allocate(), { port: 19380 });
    await sleep(200);
    expect(again.receivedStreams().map((s) => s.ssrc)).toEqual([far.ssrc]);
  });

  it('says E_PORTS_EXHAUSTED beyond its capacity, and refuses an odd or zero port', async () => {
    const port = await open(19390, 2);
    await port.allocate();
    const second = await port.allocate();
    await expect(port.allocate()).rejects.toMatchObject({ code: 'E_PORTS_EXHAUSTED' });
    await second.release();
    await expect(port.allocate()).resolves.toBeDefined();
    await expect(SharedPort.open({ address: '127.0.0.1', port: 19391 })).rejects.toBeInstanceOf(PortAllocatorError);
    await expect(SharedPort.open({ address: '127.0.0.1', port: 0 })).rejects.toBeInstanceOf(PortAllocatorError);
    expect(udpBackend().name).toBe('udpio');
  });
});
