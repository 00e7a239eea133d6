import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { bindPair, PortAllocator, PortAllocatorError, type PortPair } from '../../../src/rtp/ports.js';

const open: PortPair[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.release()));
});

function occupy(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

describe('PortAllocator (real sockets on 127.0.0.1)', () => {
  it('hands out even RTP / odd RTCP pairs, bound, never twice', async () => {
    const alloc = new PortAllocator({ min: 19400, max: 19409, address: '127.0.0.1' });
    expect(alloc.capacity).toBe(5);
    const pairs = await Promise.all([1, 2, 3, 4, 5].map(() => alloc.allocate()));
    open.push(...pairs);
    const ports = pairs.map((p) => p.rtpPort);
    expect(new Set(ports).size).toBe(5);
    for (const p of pairs) {
      expect(p.rtpPort % 2).toBe(0);
      expect(p.rtcpPort).toBe(p.rtpPort + 1);
      expect(p.rtp.address().port).toBe(p.rtpPort);
      expect(p.rtcp.address().port).toBe(p.rtcpPort);
    }
    expect(alloc.allocated).toBe(5);
    await expect(alloc.allocate()).rejects.toMatchObject({ code: 'E_PORTS_EXHAUSTED' });
  });

  it('skips a pair whose RTP or RTCP port is busy (EADDRINUSE) and retries the next', async () => {
    const busyRtcp = await occupy(19421); // RTCP port of the first pair
    try {
      const alloc = new PortAllocator({ min: 19420, max: 19425, address: '127.0.0.1' });
      const pair = await alloc.allocate();
      open.push(pair);
      expect(pair.rtpPort).toBe(19422);
      // the half-bound first pair was closed again: 19420 is free
      const again = await occupy(19420);
      again.close();
    } finally {
      busyRtcp.close();
    }
  });

  it('releases on close, idempotently, and reuses the pair later', async () => {
    const alloc = new PortAllocator({ min: 19430, max: 19433, address: '127.0.0.1' });
    const a = await alloc.allocate();
    const b = await alloc.allocate();
    await Promise.all([a.release(), a.release()]);
    expect(alloc.allocated).toBe(1);
    const c = await alloc.allocate();
    open.push(b, c);
    expect(c.rtpPort).toBe(a.rtpPort);
  });

  it('rejects ranges outside 10000-20000 or without a pair', () => {
    expect(() => new PortAllocator({ min: 9000, max: 9999 })).toThrow(PortAllocatorError);
    expect(() => new PortAllocator({ min: 19999, max: 20000 })).toThrow(/no even\/odd pair/);
    expect(() => new PortAllocator({ min: 16000, max: 30000 })).toThrow(/10000-20000/);
    expect(new PortAllocator().min).toBe(16000);
    expect(new PortAllocator({ min: 16001, max: 16010 }).min).toBe(16002);
  });

  it('bindPair binds an explicit port and its RTCP neighbour', async () => {
    const pair = await bindPair('127.0.0.1', 19440);
    open.push(pair);
    expect([pair.rtp.address().port, pair.rtcp.address().port]).toEqual([19440, 19441]);
    await expect(bindPair('127.0.0.1', 19440)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
