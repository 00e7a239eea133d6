// Fuzz (issue 14 item 4): every datagram that reaches an RTP session's sockets
// goes through its RTP and RTCP handlers (RFC 5761 mux included). Mutated RTP
// (header bits, CSRC counts, extensions, padding, truncation) and mutated
// compound RTCP (SR/RR/SDES/BYE with broken lengths) must never throw out of
// them (a throw in a socket handler kills the process), and the statistics stay
// finite afterwards. Seeded: a failure prints its seed, replayable.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PortAllocator } from '../../../src/rtp/ports.js';
import { buildReport, ntpFromMs } from '../../../src/rtp/rtcp.js';
import { RtpSession } from '../../../src/rtp/session.js';
import type { MediaRemoteInfo } from '../../../src/rtp/udp.js';

const alloc = new PortAllocator({ min: 19700, max: 19799, address: '127.0.0.1' });
const sessions: RtpSession[] = [];
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
});

type Handler = (msg: Buffer, rinfo: MediaRemoteInfo) => void;
/** The session's socket handlers, driven without sockets (they are what the sockets call). */
function handlersOf(s: RtpSession): { rtp: Handler; rtcp: Handler } {
  const h = s as unknown as { onRtpMessage: Handler; onRtcpMessage: Handler };
  return { rtp: h.onRtpMessage, rtcp: h.onRtcpMessage };
}

const rinfo: MediaRemoteInfo = { address: '127.0.0.1', port: 40000, family: 'IPv4', size: 0 };

function rtpPacket(seq: number, ts: number, ssrc: number, payload = 160): Buffer {
  const b = Buffer.alloc(12 + payload, 0xff);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** A mutation of `base`: byte overwrites, truncation, extension/CSRC/padding bits, appended junk. */
const mutated = (base: Buffer) =>
  fc.oneof(
    fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
      const b = Buffer.from(base);
      for (const [i, v] of edits) b[i] = v;
      return b;
    }),
    fc.nat(base.length).map((n) => base.subarray(0, n)),
    fc.integer({ min: 0, max: 255 }).map((b0) => {
      const b = Buffer.from(base);
      b[0] = b0; // version, padding, extension, CSRC count
      return b;
    }),
    fc.uint8Array({ maxLength: 64 }).map((junk) => Buffer.concat([base, Buffer.from(junk)])),
    fc.uint8Array({ minLength: 0, maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  );

function finiteStats(s: RtpSession): void {
  const st = s.stats() as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(st)) if (typeof v === 'number') expect(Number.isFinite(v), k).toBe(true);
}

describe('RTP session input fuzz', () => {
  it('1000 mutated RTP packets between valid ones: no throw, finite statistics', async () => {
    const s = new RtpSession({ ports: await alloc.allocate(), codec: 'PCMU', rtcpIntervalMs: 0 });
    sessions.push(s);
    const { rtp } = handlersOf(s);
    let seq = 1000;
    fc.assert(
      fc.property(mutated(rtpPacket(7, 7 * 160, 0x1234)), (bad) => {
        seq++;
        rtp(rtpPacket(seq, seq * 160, 0x1234), rinfo);
        rtp(bad, rinfo);
      }),
      { seed: 0x47f1, numRuns: 1000 },
    );
    finiteStats(s);
    expect(s.stats().packets_received).toBeGreaterThan(900);
  });

  it('1000 mutated compound RTCP packets, on the RTCP port and muxed on the RTP port: no throw, finite statistics', async () => {
    const s = new RtpSession({ ports: await alloc.allocate(), codec: 'PCMU', rtcpIntervalMs: 0 });
    sessions.push(s);
    const { rtp, rtcp } = handlersOf(s);
    const sr = buildReport({
      ssrc: 0x1234,
      cname: 'fuzz@127.0.0.1',
      sender: { ntp: ntpFromMs(Date.now()), rtpTimestamp: 160_000, packetCount: 1000, octetCount: 160_000 },
      blocks: [{ ssrc: 0x9999, fractionLost: 12, cumulativeLost: 40, extendedHighestSeq: 70_000, jitter: 80, lsr: 0x12345678, dlsr: 0x10000 }],
      bye: true,
    });
    fc.assert(
      fc.property(mutated(sr), fc.boolean(), (bad, muxed) => {
        (muxed ? rtp : rtcp)(bad, rinfo);
      }),
      { seed: 0x47f2, numRuns: 1000 },
    );
    finiteStats(s);
  });
});
