// HEP listens on UDP and TCP on one port number. With port 0 the kernel picks a free UDP port, and
// that number may be taken on TCP by another process (the free-port race that failed
// sources/index.test.ts with EADDRINUSE under load). node:net is wrapped here so the first TCP
// listen(s) fail with EADDRINUSE exactly as the kernel reports it: the listener must take a new pair.
import { createSocket } from 'node:dgram';
import type * as NodeNet from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { encodeHep3 } from '../../../src/sources/hep.js';
import { HepListener } from '../../../src/sources/hep-listener.js';

const race = vi.hoisted(() => ({ failures: 0, tried: [] as number[] }));
vi.mock('node:net', async (importOriginal) => {
  const net = await importOriginal<typeof NodeNet>();
  const occupied = (port: number) => Object.assign(new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`), { code: 'EADDRINUSE', errno: -98, syscall: 'listen', port });
  const createServer = ((...args: Parameters<typeof net.createServer>) => {
    const server = net.createServer(...args);
    const listen = server.listen.bind(server) as (...a: unknown[]) => typeof server;
    server.listen = ((port: number, ...rest: unknown[]) => {
      race.tried.push(port);
      if (race.failures > 0) {
        race.failures--;
        setImmediate(() => server.emit('error', occupied(port)));
        return server;
      }
      return listen(port, ...rest);
    }) as typeof server.listen;
    return server;
  }) as typeof net.createServer;
  return { ...net, default: { ...net, createServer }, createServer };
});

let listener: HepListener | null = null;
afterEach(async () => {
  await listener?.close();
  listener = null;
  race.failures = 0;
  race.tried = [];
});

describe('HepListener port 0: UDP port free, same TCP port taken', () => {
  it('closes the pair and binds a new one; the listener works on the port it reports and reports no error', async () => {
    race.failures = 3;
    const events: AnalyticsEvent[] = [];
    const errors: unknown[] = [];
    listener = new HepListener({ port: 0, onEvent: (e) => events.push(e), onError: (e) => errors.push(e) });
    const { port } = await listener.start();
    expect(race.tried).toHaveLength(4);
    expect(race.tried.at(-1)).toBe(port);
    const sock = createSocket('udp4');
    const sip = 'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nCall-ID: race\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nContent-Length: 0\r\n\r\n';
    await new Promise<void>((r) => sock.send(encodeHep3({ srcIp: '192.0.2.1', protocolType: 1, payload: Buffer.from(sip) }), port, '127.0.0.1', () => r()));
    sock.close();
    for (let i = 0; i < 200 && listener.stats.packets === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(listener.stats.packets).toBe(1);
    expect(errors).toEqual([]);
  });

  it('an explicit port that is taken is an error (no silent move to another port)', async () => {
    listener = new HepListener({ port: 0, onEvent: () => undefined });
    const first = await listener.start();
    await listener.close();
    race.failures = 1;
    listener = new HepListener({ port: first.port, onEvent: () => undefined });
    await expect(listener.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('gives up after a bounded number of pairs', async () => {
    race.failures = 1000;
    listener = new HepListener({ port: 0, onEvent: () => undefined });
    await expect(listener.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(race.tried.length).toBeLessThanOrEqual(20);
  });
});
