/**
 * RTP timestamp continuity across stop() + start() (hold → resume).
 *
 * Deterministic: a ManualClock drives a Pacer whose timers never fire (the
 * test polls it), and the sender's "socket" hands each datagram straight to a
 * receiving RtpSession, so arrival time = send time on the same clock. Any
 * jitter the receiver measures therefore comes from the RTP timestamps alone.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/rtp/clock.js';
import { Pacer, type TimerHost } from '../../../src/rtp/pacer.js';
import type { PortPair } from '../../../src/rtp/ports.js';
import type { AudioCodec } from '../../../src/rtp/codec.js';
import { RtpSession } from '../../../src/rtp/session.js';

const idleTimers: TimerHost = {
  setTimeout: () => 0,
  clearTimeout: () => undefined,
  setImmediate: () => 0,
  clearImmediate: () => undefined,
};

interface Sent {
  seq: number;
  ts: number;
  marker: boolean;
  pt: number;
  atMs: number;
}

interface FakeLink {
  pair: PortPair;
  sent: Sent[];
  /** Where datagrams sent on the RTP socket are delivered (the peer's RTP socket). */
  peer?: EventEmitter;
}

function fakePair(port: number, clock: ManualClock): FakeLink {
  const rtp = new EventEmitter();
  const rtcp = new EventEmitter();
  const link: FakeLink = {
    sent: [],
    pair: {
      rtpPort: port,
      rtcpPort: port + 1,
      address: '127.0.0.1',
      rtp: rtp as unknown as Socket,
      rtcp: rtcp as unknown as Socket,
      release: () => Promise.resolve(),
    },
  };
  Object.assign(rtp, {
    send: (buf: Buffer) => {
      link.sent.push({
        seq: buf.readUInt16BE(2),
        ts: buf.readUInt32BE(4),
        marker: (buf[1] ?? 0) >= 0x80,
        pt: (buf[1] ?? 0) & 0x7f,
        atMs: clock.now(),
      });
      link.peer?.emit('message', Buffer.from(buf), { address: '127.0.0.1', port, family: 'IPv4', size: buf.length });
    },
  });
  Object.assign(rtcp, { send: () => undefined });
  return link;
}

const sessions: RtpSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

function setup(media: { codec: AudioCodec; payloadType?: number; telephoneEventPt?: number } = { codec: 'PCMA' }): {
  clock: ManualClock;
  pacer: Pacer;
  tx: RtpSession;
  rx: RtpSession;
  link: FakeLink;
  run: (ms: number) => void;
} {
  const clock = new ManualClock(1000);
  const pacer = new Pacer({ clock, timers: idleTimers, spinMs: 0 });
  const a = fakePair(20000, clock);
  const b = fakePair(20002, clock);
  a.peer = b.pair.rtp as unknown as EventEmitter;
  const common = { ...media, pacer, clock, rtcpIntervalMs: 0, latch: false };
  const tx = new RtpSession({ ...common, ports: a.pair, remote: { address: '127.0.0.1', port: 20002 } });
  const rx = new RtpSession({ ...common, ports: b.pair });
  sessions.push(tx, rx);
  // Poll the pacer every 1 ms, like its timer would, so each packet goes out exactly at its deadline.
  const run = (ms: number): void => {
    for (let i = 0; i < ms; i++) {
      pacer.poll();
      clock.advance(1);
    }
  };
  return { clock, pacer, tx, rx, link: a, run };
}

const u32diff = (later: number, earlier: number): number => (later - earlier) >>> 0;

describe('RtpSession resume after stop()', () => {
  it('continues the timestamp from the elapsed time and keeps sequence numbers consecutive', () => {
    const { tx, link, run } = setup();
    tx.start();
    run(1000);
    const before = link.sent.length;
    expect(before).toBeGreaterThanOrEqual(49);
    const last = link.sent[before - 1] as Sent;
    tx.stop();
    run(700);
    expect(link.sent.length).toBe(before); // on hold: nothing sent
    tx.start();
    run(500);
    const first = link.sent[before] as Sent;
    expect(first).toBeDefined();
    const elapsedSamples = (first.atMs - last.atMs) * 8; // 8 kHz
    expect(first.atMs - last.atMs).toBeGreaterThanOrEqual(700);
    // RFC 3550 §5.1: forward by the paused time, never back.
    expect(u32diff(first.ts, last.ts)).toBeGreaterThanOrEqual(elapsedSamples);
    expect(u32diff(first.ts, last.ts)).toBeLessThan(elapsedSamples + 160);
    expect(first.seq).toBe((last.seq + 1) & 0xffff);
    // RFC 3551 §4.1: first packet of the new talkspurt carries the marker.
    expect(first.marker).toBe(true);
    const markers = link.sent.filter((p) => p.marker).length;
    expect(markers).toBe(2); // first packet of the call and first after resume
    for (let i = 1; i < link.sent.length; i++) {
      const p = link.sent[i] as Sent;
      const q = link.sent[i - 1] as Sent;
      expect(p.seq).toBe((q.seq + 1) & 0xffff);
      // timestamp advance = send-time advance in samples, for every packet
      expect(u32diff(p.ts, q.ts)).toBe(Math.round((p.atMs - q.atMs) * 8));
    }
  });

  it('a receiver sees no jitter spike across a resume', () => {
    const { tx, rx, run } = setup();
    tx.start();
    run(2000); // the longer the call before hold, the larger a backward jump would be
    tx.stop();
    run(300);
    tx.start();
    run(1000);
    const s = rx.stats();
    expect(s.packets_received).toBe(tx.stats().packets_sent);
    expect(s.packets_lost).toBe(0);
    expect(s.jitter_max_ms).toBeLessThan(1);
    expect(s.jitter_ms).toBeLessThan(1);
  });

  it('a resume right after stop() never sends faster than one packet per ptime', () => {
    const { tx, link, run } = setup();
    tx.start();
    run(105); // ticks at 1000, 1020, ... 1100: the last one 5 ms ago
    const before = link.sent.length;
    tx.stop();
    tx.start();
    run(100);
    const last = link.sent[before - 1] as Sent;
    const first = link.sent[before] as Sent;
    expect(first.atMs - last.atMs).toBeGreaterThanOrEqual(20);
    expect(u32diff(first.ts, last.ts)).toBe((first.atMs - last.atMs) * 8);
  });

  it('DTMF after a resume uses the resumed timestamp', async () => {
    const { tx, rx, link, run } = setup();
    tx.start();
    run(500);
    tx.stop();
    run(400);
    tx.start();
    const done = tx.sendDtmf('5', { durationMs: 60, pauseMs: 20 });
    run(300);
    await done;
    const events = link.sent.filter((p) => p.pt === 101);
    expect(events.length).toBe(3 + 3); // 3 body + 3 end packets
    const audioBefore = link.sent.filter((p) => p.pt === 8 && p.atMs < (events[0] as Sent).atMs);
    const lastAudio = audioBefore[audioBefore.length - 1] as Sent;
    const jump = u32diff((events[0] as Sent).ts, lastAudio.ts);
    expect(jump).toBeGreaterThanOrEqual(400 * 8);
    expect(jump).toBeLessThan(400 * 8 + 2 * 160);
    expect(rx.receivedDigits).toBe('5');
  });

  it('keeps counting the ticks the pacer skipped after stop() (the final report shows them)', () => {
    const { clock, tx, run } = setup();
    tx.start();
    run(100);
    clock.advance(95); // the process stalls for 95 ms: the next wake-up skips 4 ticks
    run(40);
    expect(tx.stats().send_skipped).toBe(4);
    tx.stop();
    expect(tx.stats().send_skipped).toBe(4);
    tx.start();
    run(40);
    clock.advance(85); // 80 ms late: beyond the pacer's 60 ms catch-up, 4 ticks skipped
    run(40);
    tx.stop();
    expect(tx.stats().send_skipped).toBe(4 + 4);
  });
});

describe('RtpSession with Opus (RFC 7587: 48 kHz RTP clock, dynamic payload type)', () => {
  const opus = { codec: 'opus' as const, payloadType: 96, telephoneEventPt: 110 };

  it('sends the negotiated payload type and advances the timestamp 48 per ms (960 a 20 ms packet)', () => {
    const { tx, link, run } = setup(opus);
    tx.start();
    run(500);
    tx.stop();
    run(300);
    tx.start();
    run(300);
    expect(link.sent.length).toBeGreaterThan(30);
    for (let i = 1; i < link.sent.length; i++) {
      const p = link.sent[i] as Sent;
      const q = link.sent[i - 1] as Sent;
      expect(p.pt).toBe(96);
      expect(u32diff(p.ts, q.ts)).toBe((p.atMs - q.atMs) * 48);
    }
  });

  it('the receiver reads jitter on the 48 kHz clock: a perfectly paced stream shows none', () => {
    const { tx, rx, run } = setup(opus);
    tx.start();
    run(2000);
    tx.stop();
    const s = rx.stats();
    expect(s.packets_received).toBe(tx.stats().packets_sent);
    expect(s.packets_lost).toBe(0);
    // Read on an 8 kHz clock, each 960-tick step against 20 ms would add 100 ms of transit change.
    expect(s.jitter_max_ms).toBe(0);
    expect(s.emodel).toBe('G.107.1');
  });

  it('DTMF events on the 48 kHz clock are detected with their duration', async () => {
    const { tx, rx, link, run } = setup(opus);
    tx.start();
    run(200);
    const done = tx.sendDtmf('7', { durationMs: 60, pauseMs: 20 });
    run(300);
    await done;
    const events = link.sent.filter((p) => p.pt === 110);
    expect(events.length).toBe(6);
    expect(rx.receivedDigits).toBe('7');
  });

  it('refuses a ptime Opus frames cannot carry', () => {
    expect(() => setup({ codec: 'opus', payloadType: 96 }).tx.start()).not.toThrow();
    const clock = new ManualClock(0);
    expect(() => new RtpSession({ ports: fakePair(20010, clock).pair, codec: 'opus', ptimeMs: 30, rtcpIntervalMs: 0 })).toThrow(/ptime for opus must be 10, 20, 40, 60/);
  });
});
