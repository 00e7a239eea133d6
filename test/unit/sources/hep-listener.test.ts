import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { encodeHep3 } from '../../../src/sources/hep.js';
import { HepListener } from '../../../src/sources/hep-listener.js';
import { type ReqOpts, sipRequest, sipResponse } from './sip-fixtures.js';

const T0s = Math.floor(Date.UTC(2026, 0, 5, 12) / 1000);
let listener: HepListener | null = null;
afterEach(async () => {
  await listener?.close();
  listener = null;
});

function hep(text: string, srcIp: string, usec = 0): Buffer {
  return encodeHep3({ srcIp, dstIp: '127.0.0.1', srcPort: 5096, dstPort: 5060, timeSec: T0s, timeUsec: usec, protocolType: 1, captureId: 1, payload: Buffer.from(text) });
}

function failedRegister(cseq: number): Buffer[] {
  const reg: ReqOpts = { method: 'REGISTER', callId: 'svc', cseq, from: '1001', ua: 'friendly-scanner', auth: '1001' };
  return [hep(sipRequest(reg), '203.0.113.7', cseq * 10), hep(sipResponse(401, reg), '127.0.0.1', cseq * 10 + 1)];
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

describe('HepListener', () => {
  it('receives HEP over UDP and TCP (split frames) and emits events with the HEP source address and time', async () => {
    const events: AnalyticsEvent[] = [];
    listener = new HepListener({ port: 0, onEvent: (e) => events.push(e) });
    const { port } = await listener.start();
    const udp = createSocket('udp4');
    for (const b of failedRegister(1)) await new Promise<void>((r) => udp.send(b, port, '127.0.0.1', () => r()));
    udp.close();
    await until(() => events.length >= 2);
    const tcp = connect(port, '127.0.0.1');
    await new Promise<void>((r) => tcp.once('connect', () => r()));
    const stream = Buffer.concat([Buffer.from('junk'), ...failedRegister(2), ...failedRegister(3)]);
    tcp.write(stream.subarray(0, 37));
    await new Promise((r) => setTimeout(r, 20));
    tcp.write(stream.subarray(37));
    await until(() => events.filter((e) => e.type === 'auth_failure').length >= 3);
    tcp.destroy();
    const fails = events.filter((e) => e.type === 'auth_failure');
    expect(fails).toHaveLength(3);
    expect(fails[0]).toMatchObject({ ip: '203.0.113.7', user: '1001', ua: 'friendly-scanner', at: T0s * 1000 });
    expect(listener.stats.decodeErrors).toBeGreaterThanOrEqual(1); // the junk prefix
  });

  it('counts garbage and non-SIP packets without emitting', async () => {
    const events: AnalyticsEvent[] = [];
    listener = new HepListener({ port: 0, tcp: false, onEvent: (e) => events.push(e) });
    listener.handleDatagram(Buffer.from('not hep at all'));
    listener.handleDatagram(encodeHep3({ srcIp: '10.0.0.1', protocolType: 5, payload: Buffer.from('rtcp') }));
    listener.handleDatagram(encodeHep3({ srcIp: '10.0.0.1', protocolType: 1, payload: Buffer.from('garbage\r\n\r\n') }));
    expect(listener.stats).toMatchObject({ packets: 3, decodeErrors: 1, nonSip: 1, sipErrors: 1 });
    expect(events).toEqual([]);
    await listener.close();
    await listener.close();
  });

  it('a busy port rejects start() and leaves nothing open', async () => {
    listener = new HepListener({ port: 0, onEvent: () => undefined });
    const { port } = await listener.start();
    const second = new HepListener({ port, onEvent: () => undefined });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await second.close();
  });

  it('drops packets without the configured auth key', () => {
    listener = new HepListener({ port: 0, authKey: 'secret', onEvent: () => undefined });
    listener.handleDatagram(failedRegister(1)[0] as Buffer);
    expect(listener.stats.rejectedAuth).toBe(1);
  });
});

describe('HepListener over TCP at its limits (issue 21.9)', () => {
  it('64 idle connections do not lock out another sender: the least recently active one is evicted', async () => {
    const events: AnalyticsEvent[] = [];
    listener = new HepListener({ port: 0, onEvent: (e) => events.push(e) });
    const { port } = await listener.start();
    const idle = await Promise.all(
      Array.from({ length: 64 }, () => new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
        s.on('error', () => undefined);
      })),
    );
    const closed = idle.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    await until(() => listener?.stats.tcpConnections === 64);
    const sender = connect(port, '127.0.0.1');
    await new Promise<void>((r) => sender.once('connect', () => r()));
    for (const b of failedRegister(1)) sender.write(b);
    await until(() => events.some((e) => e.type === 'auth_failure'));
    expect(events.filter((e) => e.type === 'auth_failure')).toHaveLength(1);
    expect(listener.stats.tcpEvicted).toBe(1);
    await Promise.race([closed[0], new Promise((r) => setTimeout(r, 2000))]);
    expect(idle[0]?.destroyed || idle[0]?.readableEnded).toBe(true);
    sender.destroy();
    for (const s of idle) s.destroy();
  });

  it('closes a TCP connection that stays silent for tcpIdleTimeoutMs', async () => {
    listener = new HepListener({ port: 0, tcpIdleTimeoutMs: 200, onEvent: () => undefined });
    const { port } = await listener.start();
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    const t0 = Date.now();
    await new Promise<void>((r) => s.once('close', () => r()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(listener.stats.tcpIdleClosed).toBe(1);
  });
});
