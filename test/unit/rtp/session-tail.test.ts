// The measured stream's tail (issue 17 item 1): a relay that transcodes holds its last
// frame until the next arrives (rtpengine), which used to read as one lost packet per
// direction. Each session here streams through a relay on loopback that re-originates
// the stream (new SSRC and sequence numbers, like a transcoder) and holds one frame;
// stop({ tailFrames }) and stats({ phase: sentBy(sender) }) make that 0 lost, while a
// stream really cut at its end still shows every packet it lost.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { endMeasuredMedia, sentBy, TAIL_FRAMES } from '../../../src/call/media-end.js';
import { PortAllocator } from '../../../src/rtp/ports.js';
import { RtpSession } from '../../../src/rtp/session.js';

const alloc = new PortAllocator({ min: 19620, max: 19659, address: '127.0.0.1' });
const sessions: RtpSession[] = [];
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  for (const s of sockets.splice(0)) s.close();
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits (bounded) until cond holds: packets in flight through the in-process relay take a loop turn per hop. */
const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
};

/**
 * A relay between a and b, one socket on each side (as rtpengine has, so symmetric RTP
 * latches onto it): a→b is renumbered under the relay's own SSRC and frame N leaves when
 * frame N+1 arrives (a transcoder's hold); b→a passes untouched.
 */
async function holdingRelay(aPort: number, bPort: number): Promise<{ aSide: number; bSide: number; drop: boolean; dropped: number; dropBackSeq?: number }> {
  const open = async (): Promise<dgram.Socket> => {
    const sock = dgram.createSocket('udp4');
    sockets.push(sock);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    return sock;
  };
  const [toA, toB] = [await open(), await open()];
  const state: Awaited<ReturnType<typeof holdingRelay>> = { aSide: toA.address().port, bSide: toB.address().port, drop: false, dropped: 0 };
  const isRtp = (msg: Buffer): boolean => msg.length >= 12 && msg[1] !== undefined && (msg[1] & 0x7f) < 72;
  let held: Buffer | undefined;
  let seq = 4242;
  toA.on('message', (msg) => {
    if (!isRtp(msg)) return;
    if (state.drop) {
      state.dropped++;
      return;
    }
    const out = Buffer.from(msg);
    out.writeUInt16BE(seq, 2);
    seq = (seq + 1) & 0xffff;
    out.writeUInt32BE(0x0badf00d, 8);
    if (held) toB.send(held, bPort, '127.0.0.1');
    held = out;
  });
  toB.on('message', (msg) => {
    if (isRtp(msg) && msg.readUInt16BE(2) !== state.dropBackSeq) toA.send(msg, aPort, '127.0.0.1');
  });
  return state;
}

async function throughRelay(): Promise<{ a: RtpSession; b: RtpSession; relay: Awaited<ReturnType<typeof holdingRelay>> }> {
  const [pa, pb] = await Promise.all([alloc.allocate(), alloc.allocate()]);
  const a = new RtpSession({ ports: pa, codec: 'PCMU', rtcpIntervalMs: 0 });
  const b = new RtpSession({ ports: pb, codec: 'PCMU', rtcpIntervalMs: 0 });
  sessions.push(a, b);
  const relay = await holdingRelay(pa.rtpPort, pb.rtpPort);
  a.setRemote({ address: '127.0.0.1', port: relay.aSide });
  b.setRemote({ address: '127.0.0.1', port: relay.bSide });
  return { a, b, relay };
}

describe('the measured stream ends with an unmeasured tail', () => {
  it('a holding, renumbering relay and a direct path both read 0 lost, received = sent', async () => {
    const { a, b } = await throughRelay();
    a.start();
    b.start();
    expect(await b.waitForRtp(1000)).toBe(true);
    await sleep(600);
    await endMeasuredMedia(a, b);
    const atB = b.stats({ phase: sentBy(a) });
    const atA = a.stats({ phase: sentBy(b) });
    expect(a.sentPackets).toBeGreaterThan(20);
    for (const [got, sent] of [
      [atB, a.sentPackets],
      [atA, b.sentPackets],
    ] as const) {
      expect(got).toMatchObject({ packets_received: sent, packets_lost: 0, packets_expected: sent, loss_percent: 0 });
    }
    // b got the relay's renumbered stream: the tail minus the frame the relay holds; a all of it.
    expect([atB.tail_packets, atA.tail_packets]).toEqual([TAIL_FRAMES - 1, TAIL_FRAMES]);
    // The tail went out, and is not in the measured count.
    expect(a.stats().packets_sent).toBe(a.sentPackets);
    // Without the tail the relay's hold is one lost packet (what the lab saw before).
    expect(b.stats({ phase: { sent: a.sentPackets, tail: 0 } }).packets_received).toBe(a.sentPackets + TAIL_FRAMES - 1);
  });

  it('without a tail the relay keeps the last measured frame: 1 lost', async () => {
    const { a, b } = await throughRelay();
    a.start();
    b.start();
    expect(await b.waitForRtp(1000)).toBe(true);
    await sleep(300);
    a.stop();
    b.stop();
    // the relay holds one frame: all but that one arrive (awaited, not slept: a loaded loop may need longer)
    await until(() => b.stats({ phase: { sent: a.sentPackets, tail: 0 } }).packets_received >= a.sentPackets - 1);
    await sleep(40); // and nothing more comes
    expect(b.stats({ phase: { sent: a.sentPackets, tail: 0 } })).toMatchObject({ packets_received: a.sentPackets - 1, packets_lost: 1 });
  });

  it('a stream cut at its end (the last packets and the tail dropped) still shows that loss', async () => {
    const { a, b, relay } = await throughRelay();
    a.start();
    b.start();
    expect(await b.waitForRtp(1000)).toBe(true);
    await sleep(400);
    relay.drop = true; // from here on nothing passes: the end of the measured stream and its tail
    await sleep(300);
    await endMeasuredMedia(a, b);
    const atB = b.stats({ phase: sentBy(a) });
    expect(relay.dropped).toBeGreaterThan(TAIL_FRAMES); // at least one measured packet
    // Every measured packet the relay dropped never arrived, nor the one it still held;
    // all of them are lost. (More only by the ticks a loaded sender skipped: the end of a
    // stream is also estimated from the time since its last packet, activity.ts.)
    const cut = relay.dropped - TAIL_FRAMES + 1;
    expect(atB.packets_received).toBe(a.sentPackets - cut);
    expect(atB.packets_lost).toBeGreaterThanOrEqual(cut);
    expect(atB.packets_lost).toBeLessThanOrEqual(cut + a.stats().send_skipped);
    expect(atB.tail_packets).toBe(0);
  });

  it('an untouched stream whose first tail packet is lost: the tail is set apart by sequence number, no measured loss', async () => {
    const { a, b, relay } = await throughRelay();
    a.start();
    b.start();
    expect(await a.waitForRtp(1000)).toBe(true);
    await sleep(300);
    const tail = b.stop({ tailFrames: TAIL_FRAMES });
    expect(tail).toMatchObject({ ssrc: b.ssrc, frames: TAIL_FRAMES });
    relay.dropBackSeq = tail?.firstSeq;
    a.expectTail(tail);
    a.stop();
    await until(() => a.stats({ phase: sentBy(b) }).packets_received >= b.sentPackets && (a.stats({ phase: sentBy(b) }).tail_packets ?? 0) >= TAIL_FRAMES - 1);
    // A count alone would read the lost tail packet as a lost measured one; the sequence numbers do not.
    expect(a.stats({ phase: sentBy(b) })).toMatchObject({ packets_received: b.sentPackets, packets_lost: 0, tail_packets: TAIL_FRAMES - 1 });
  });
});
