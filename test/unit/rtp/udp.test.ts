import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../../src/rtp/clock.js';
import { bindPair, openMediaSockets, type PortPair } from '../../../src/rtp/ports.js';
import { beginSendBatch, endSendBatch, openUdpioSockets, udpBackend, udpioMonotonicMs, type MediaMessageListener, type MediaRemoteInfo } from '../../../src/rtp/udp.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const open: PortPair[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.release()));
});

function nextMessage(pair: PortPair): Promise<{ msg: Buffer; rinfo: MediaRemoteInfo }> {
  return new Promise((resolve) => pair.rtp.on('message', (msg, rinfo) => resolve({ msg, rinfo })));
}

/** The next datagram on pair.rtp, and a way to take its listener off again. */
function nextMessageOnce(pair: PortPair): { got: Promise<{ msg: Buffer; rinfo: MediaRemoteInfo }>; done: () => void } {
  let listener: MediaMessageListener = () => undefined;
  const got = new Promise<{ msg: Buffer; rinfo: MediaRemoteInfo }>((resolve) => {
    listener = (msg, rinfo) => resolve({ msg, rinfo });
    pair.rtp.on('message', listener);
  });
  return { got, done: () => pair.rtp.off('message', listener) };
}

const native = udpBackend().name === 'udpio';

/**
 * The kernel stamps arrivals only once stamping is switched on system-wide,
 * which the first stamping socket does through a deferred kernel work item
 * (the addon opens one at load; on a loaded machine the worker may still be
 * pending). Until then a datagram is stamped when read. Sends one datagram,
 * keeps the loop blocked 3 ms, and waits (bounded) until its stamp is the
 * send time, not the read time.
 */
async function untilKernelStamps(from: PortPair, to: PortPair, port: number): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { got, done } = nextMessageOnce(to);
    const sentAt = monotonicClock.now();
    from.rtp.send(Buffer.from([255]), port, '127.0.0.1');
    while (monotonicClock.now() < sentAt + 3) {
      /* busy wait: the datagram waits unread */
    }
    const { rinfo } = await got;
    done();
    if ((rinfo.arrivalMs ?? Number.POSITIVE_INFINITY) < sentAt + 1.5) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the kernel never stamped a datagram at its arrival within 50 tries (about 1.2 s)');
}

describe('media sockets (udpio addon)', () => {
  it('the addon is built and in use under CI (a missing toolchain is a CI failure, not a silent fallback)', () => {
    if (process.env.CI === 'true') expect(udpBackend()).toEqual({ name: 'udpio', reason: 'loaded' });
    else if (!native) process.stderr.write(`udp.test: running on node:dgram: ${udpBackend().reason}\n`);
  });

  it.runIf(native)('reads the same monotonic clock as process.hrtime', () => {
    const before = monotonicClock.now();
    const addon = udpioMonotonicMs() ?? Number.NaN;
    const after = monotonicClock.now();
    expect(addon).toBeGreaterThanOrEqual(before);
    expect(addon).toBeLessThanOrEqual(after);
  });

  it('delivers datagrams with their source and a kernel arrival time before the handler runs', async () => {
    const a = await bindPair('127.0.0.1', 19460);
    const b = await bindPair('127.0.0.1', 19462);
    open.push(a, b);
    const got = nextMessage(b);
    const sentAt = monotonicClock.now();
    a.rtp.send(Buffer.from('hello rtp'), 19462, '127.0.0.1');
    const { msg, rinfo } = await got;
    const handledAt = monotonicClock.now();
    expect(msg.toString()).toBe('hello rtp');
    expect(rinfo).toMatchObject({ address: '127.0.0.1', port: 19460, family: 'IPv4', size: 9 });
    if (native) {
      expect(rinfo.arrivalMs).toBeGreaterThanOrEqual(sentAt);
      expect(rinfo.arrivalMs).toBeLessThanOrEqual(handledAt);
    } else {
      expect(rinfo.arrivalMs).toBeUndefined();
    }
  });

  it('stamps each datagram of a burst separately, in order, when the loop was blocked while they arrived', async () => {
    const a = await bindPair('127.0.0.1', 19464);
    const b = await bindPair('127.0.0.1', 19466);
    open.push(a, b);
    if (native) await untilKernelStamps(a, b, 19466);
    const arrivals: (number | undefined)[] = [];
    const all = new Promise<void>((resolve) =>
      b.rtp.on('message', (_m, rinfo) => {
        arrivals.push(rinfo.arrivalMs);
        if (arrivals.length === 3) resolve();
      }),
    );
    // Three sends 5 ms apart while this thread never yields: dgram could only
    // stamp them together when the loop wakes; the kernel stamped each one
    // while its sendto() ran (loopback delivers inside the send).
    const sends: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      const before = monotonicClock.now();
      a.rtp.send(Buffer.from([i]), 19466, '127.0.0.1');
      sends.push([before, monotonicClock.now()]);
      const until = monotonicClock.now() + 5;
      while (monotonicClock.now() < until) {
        /* busy wait: keep the event loop blocked */
      }
    }
    await all;
    if (!native) return;
    sends.forEach(([before, after], i) => {
      expect(arrivals[i]).toBeGreaterThanOrEqual(before - 0.05);
      expect(arrivals[i]).toBeLessThanOrEqual(after + 0.05);
    });
  });

  it('reports a busy port as EADDRINUSE, frees the port on release, and counts open sockets', async () => {
    const base = openMediaSockets();
    const a = await bindPair('127.0.0.1', 19468);
    expect(openMediaSockets()).toBe(base + 2);
    await expect(bindPair('127.0.0.1', 19468)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await a.release();
    await a.release();
    expect(openMediaSockets()).toBe(base);
    if (native) expect(openUdpioSockets()).toBe(base);
    const again = await bindPair('127.0.0.1', 19468);
    open.push(again);
    expect(again.rtp.address().port).toBe(19468);
  });

  it('passes a send error to the callback (never throws)', async () => {
    const a = await bindPair('127.0.0.1', 19470);
    open.push(a);
    const err = await new Promise<Error | null>((resolve) => a.rtp.send(Buffer.from('x'), 0, '127.0.0.1', resolve));
    expect(err).toBeInstanceOf(Error);
    const ok = await new Promise<Error | null>((resolve) => a.rtp.send(Buffer.from('x'), 19471, '127.0.0.1', resolve));
    expect(ok).toBeNull();
  });

  it.runIf(native)('sends a batch in one call when it ends: in order, from the right sockets, the buffer reusable at once', async () => {
    const a = await bindPair('127.0.0.1', 19476);
    const b = await bindPair('127.0.0.1', 19478);
    const c = await bindPair('127.0.0.1', 19480);
    open.push(a, b, c);
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      c.rtp.on('message', (msg, rinfo) => {
        got.push(`${rinfo.port}:${msg.toString()}`);
        if (got.length === 5) resolve();
      }),
    );
    const buf = Buffer.alloc(2);
    beginSendBatch();
    beginSendBatch(); // nests: only the outermost end sends
    for (const [sock, text] of [[a, 'a1'], [a, 'a2'], [b, 'b1'], [a, 'a3'], [b, 'b2']] as const) {
      buf.write(text); // one buffer for every packet: staging copies it
      sock.rtp.send(buf, 19480, '127.0.0.1');
    }
    endSendBatch();
    await new Promise((r) => setTimeout(r, 30));
    expect(got).toEqual([]); // still staged
    endSendBatch();
    await all;
    // grouped by socket (a3 goes out in a's sendmmsg run, before b's), each socket's in staged order
    expect(got).toEqual(['19476:a1', '19476:a2', '19476:a3', '19478:b1', '19478:b2']);
  });

  it.runIf(native)('reports a staged send that fails as the socket\'s error event; a closing socket sends what it staged first', async () => {
    const a = await bindPair('127.0.0.1', 19482);
    const b = await bindPair('127.0.0.1', 19484);
    open.push(a, b);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => a.rtp.on('error', resolve));
    const got = new Promise<string>((resolve) => b.rtp.on('message', (msg) => resolve(msg.toString())));
    beginSendBatch();
    a.rtp.send(Buffer.from('to port 0'), 0, '127.0.0.1'); // sendto() to port 0: EINVAL
    a.rtp.send(Buffer.from('last words'), 19484, '127.0.0.1');
    a.rtp.close(); // flushes the batch before its slot is freed
    endSendBatch();
    expect((await error).syscall).toBe('send');
    expect(await got).toBe('last words');
  });

  it('CALLPROBE_UDPIO=0 falls back to node:dgram, and a loopback session still measures (also on a shared port)', () => {
    const script = `
      import { udpBackend } from './src/rtp/udp.ts';
      import { bindPair } from './src/rtp/ports.ts';
      import { RtpSession } from './src/rtp/session.ts';
      import { SharedPort } from './src/rtp/shared-port.ts';
      const pa = await bindPair('127.0.0.1', 19472), pb = await bindPair('127.0.0.1', 19474);
      const a = new RtpSession({ ports: pa, rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19474 } });
      const b = new RtpSession({ ports: pb, rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19472 } });
      const sp = await SharedPort.open({ address: '127.0.0.1', port: 19396, dscp: null });
      const c = new RtpSession({ ports: await bindPair('127.0.0.1', 19398), rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19396 } });
      const d = new RtpSession({ ports: await sp.allocate(), rtcpIntervalMs: 0, remote: { address: '127.0.0.1', port: 19398 } });
      for (const s of [a, b, c, d]) s.start();
      await new Promise((r) => setTimeout(r, 500));
      for (const s of [a, b, c, d]) s.stop();
      await new Promise((r) => setTimeout(r, 60));
      const rx = b.stats();
      console.log(JSON.stringify({ backend: udpBackend().name, sent: a.stats().packets_sent, received: rx.packets_received,
        shared: [c.sentPackets, d.receivedPackets, d.sentPackets, c.receivedPackets, sp.unmatched] }));
      for (const s of [a, b, c, d]) await s.close();
      await sp.close();
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, CALLPROBE_UDPIO: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim()) as { backend: string; sent: number; received: number; shared: number[] };
    expect(out.backend).toBe('dgram');
    expect(out.sent).toBeGreaterThanOrEqual(20);
    expect(out.received).toBe(out.sent);
    const [cSent, dGot, dSent, cGot, unmatched] = out.shared;
    expect(cSent).toBeGreaterThanOrEqual(20);
    expect(dGot).toBe(cSent); // into the shared port
    expect(cGot).toBe(dSent); // out of it
    expect(unmatched).toBe(0);
  });
});
