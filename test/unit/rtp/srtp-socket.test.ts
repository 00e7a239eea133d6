// SRTP on real sockets (127.0.0.1): a whole RtpSession talks through
// srtpPair() to another, what the wire carries is not the RTP that was sent,
// and forged, tampered and replayed datagrams never reach the session.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PortAllocator, type PortPair } from '../../../src/rtp/ports.js';
import { RtpSession } from '../../../src/rtp/session.js';
import { newSdesCrypto } from '../../../src/rtp/srtp.js';
import { srtpPair, type SrtpKeys } from '../../../src/rtp/srtp-socket.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const alloc = new PortAllocator({ min: 19740, max: 19759, address: '127.0.0.1' });

async function pair(): Promise<PortPair> {
  const p = await alloc.allocate();
  cleanup.push(() => p.release());
  return p;
}

function spy(): Promise<{ socket: Socket; port: number; got: Buffer[] }> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const got: Buffer[] = [];
    socket.on('message', (m) => got.push(Buffer.from(m)));
    socket.bind(0, '127.0.0.1', () => resolve({ socket, port: socket.address().port, got }));
    cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  });
}

function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('timed out'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

function keysFor(suite: SrtpKeys['suite']): [SrtpKeys, SrtpKeys] {
  const a = newSdesCrypto(1, suite).key;
  const b = newSdesCrypto(1, suite).key;
  return [
    { suite, local: a, remote: b },
    { suite, local: b, remote: a },
  ];
}

describe('srtpPair', () => {
  it('carries a two-way call between two sessions (_32 suite), decrypted and counted, with SRTCP reports', async () => {
    const [ka, kb] = keysFor('AES_CM_128_HMAC_SHA1_32');
    const a = srtpPair(await pair(), ka);
    const b = srtpPair(await pair(), kb);
    const sa = new RtpSession({ ports: a.pair, rtcpIntervalMs: 100 });
    const sb = new RtpSession({ ports: b.pair, rtcpIntervalMs: 100 });
    cleanup.push(() => sa.close(), () => sb.close());
    sa.setRemote({ address: '127.0.0.1', port: b.pair.rtpPort });
    sb.setRemote({ address: '127.0.0.1', port: a.pair.rtpPort });
    sa.start();
    sb.start();
    await until(() => sa.stats().packets_received >= 15 && sb.stats().packets_received >= 15 && sa.stats().rtt_ms !== null);
    sa.stop();
    sb.stop();
    for (const [s, c] of [[sa, a.counters()], [sb, b.counters()]] as const) {
      expect(s.stats().invalid_packets).toBe(0);
      expect(c.auth_failures + c.replays + c.malformed).toBe(0);
      // every RTP packet the session counted was authenticated first (plus SRTCP)
      expect(c.packets_authenticated).toBeGreaterThanOrEqual(s.stats().packets_received + 1);
      expect(c.packets_protected).toBeGreaterThanOrEqual(s.sentPackets);
    }
  });

  it('puts ciphertext on the wire: the payload sent is not the payload that leaves', async () => {
    const [ka] = keysFor('AES_CM_128_HMAC_SHA1_80');
    const a = srtpPair(await pair(), ka);
    const wire = await spy();
    const plain = Buffer.concat([Buffer.from('80000001000000a0deadbeef', 'hex'), Buffer.alloc(160, 0xff)]);
    a.pair.rtp.send(plain, wire.port, '127.0.0.1');
    await until(() => wire.got.length === 1);
    const seen = wire.got[0] as Buffer;
    expect(seen.length).toBe(172 + 10);
    expect(seen.subarray(0, 12)).toEqual(plain.subarray(0, 12)); // header in clear (RFC 3711)
    expect(seen.subarray(12, 172).equals(plain.subarray(12))).toBe(false);
    expect(seen.subarray(12, 172).filter((x) => x === 0xff).length).toBeLessThan(20);
  });

  it('drops a tampered packet (auth), a replayed one (replay) and junk (malformed); the session sees only the genuine ones', async () => {
    const [ka, kb] = keysFor('AES_CM_128_HMAC_SHA1_80');
    const sender = srtpPair(await pair(), ka);
    const receiver = srtpPair(await pair(), kb);
    const wire = await spy();
    const session = new RtpSession({ ports: receiver.pair, rtcpIntervalMs: 0 });
    cleanup.push(() => session.close());
    // protect 5 packets through the sender's socket, catch them on the spy
    for (let seq = 1; seq <= 5; seq++) {
      const h = Buffer.alloc(12);
      h[0] = 0x80;
      h.writeUInt16BE(seq, 2);
      h.writeUInt32BE(seq * 160, 4);
      h.writeUInt32BE(0x5eed, 8);
      sender.pair.rtp.send(Buffer.concat([h, Buffer.alloc(160, 0xd5)]), wire.port, '127.0.0.1');
    }
    await until(() => wire.got.length === 5);
    const [p1, p2, p3, p4, p5] = wire.got as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const tampered = Buffer.from(p4);
    tampered[40] = (tampered[40] ?? 0) ^ 0x01;
    for (const d of [p1, p2, p3, p3, tampered, Buffer.from('hello'), p5, p1]) wire.socket.send(d, receiver.pair.rtpPort, '127.0.0.1');
    await until(() => receiver.counters().packets_authenticated + receiver.counters().auth_failures + receiver.counters().replays + receiver.counters().malformed >= 8);
    expect(receiver.counters()).toMatchObject({ packets_authenticated: 4, auth_failures: 1, replays: 2, malformed: 1 });
    const st = session.stats();
    expect(st.packets_received).toBe(4);
    expect(st.duplicates).toBe(0);
    expect(st.packets_lost).toBe(1); // seq 4 never reached the session
  });
});
