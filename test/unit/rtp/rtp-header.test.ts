// The hot receive path reads RTP headers in place (rtpPayloadStart + fixed
// offsets); rtp.js is the oracle: for any packet rtp.js accepts, the fields
// and payload must agree, and packets rtp.js rejects for bad lengths must be
// rejected too.
import fc from 'fast-check';
import { RtpPacket } from 'rtp.js/packets';
import { nodeBufferToDataView } from 'rtp.js/utils';
import { describe, expect, it } from 'vitest';
import { rtpPayloadStart } from '../../../src/rtp/rtp-header.js';

function build(opts: { cc: number; ext?: Uint8Array; payload: Uint8Array; pad: number; pt: number; seq: number; ts: number; ssrc: number }): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12 + 4 * opts.cc);
  head[0] = 0x80 | (opts.pad > 0 ? 0x20 : 0) | (opts.ext ? 0x10 : 0) | opts.cc;
  head[1] = opts.pt;
  head.writeUInt16BE(opts.seq, 2);
  head.writeUInt32BE(opts.ts, 4);
  head.writeUInt32BE(opts.ssrc, 8);
  for (let i = 0; i < opts.cc; i++) head.writeUInt32BE(0x1000 + i, 12 + 4 * i);
  parts.push(head);
  if (opts.ext) {
    const e = Buffer.alloc(4);
    e.writeUInt16BE(0xbede, 0);
    e.writeUInt16BE(opts.ext.length / 4, 2);
    parts.push(e, Buffer.from(opts.ext));
  }
  parts.push(Buffer.from(opts.payload));
  if (opts.pad > 0) {
    const p = Buffer.alloc(opts.pad);
    p[opts.pad - 1] = opts.pad;
    parts.push(p);
  }
  return Buffer.concat(parts);
}

describe('in-place RTP header reading (RFC 3550 §5.1) agrees with rtp.js', () => {
  it('fields and payload for random valid packets (CSRCs, extensions, padding)', () => {
    fc.assert(
      fc.property(
        fc.record({
          cc: fc.integer({ min: 0, max: 15 }),
          extWords: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          payload: fc.uint8Array({ minLength: 0, maxLength: 200 }),
          pad: fc.integer({ min: 0, max: 8 }),
          pt: fc.integer({ min: 0, max: 127 }),
          seq: fc.integer({ min: 0, max: 0xffff }),
          ts: fc.integer({ min: 0, max: 0xffffffff }),
          ssrc: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (r) => {
          const msg = build({ ...r, ext: r.extWords === undefined ? undefined : new Uint8Array(4 * r.extWords).fill(0x10) });
          const oracle = new RtpPacket(nodeBufferToDataView(msg));
          const start = rtpPayloadStart(msg);
          const end = msg.length - ((msg[0] ?? 0) & 0x20 ? (msg[msg.length - 1] ?? 0) : 0);
          expect(start).toBeGreaterThanOrEqual(12);
          expect(msg.readUInt16BE(2)).toBe(oracle.getSequenceNumber());
          expect(msg.readUInt32BE(4)).toBe(oracle.getTimestamp());
          expect(msg.readUInt32BE(8)).toBe(oracle.getSsrc());
          expect((msg[1] ?? 0) & 0x7f).toBe(oracle.getPayloadType());
          const payload = oracle.getPayload();
          expect(Buffer.from(msg.subarray(start, end))).toEqual(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rejects truncated CSRC lists and extensions, and impossible padding', () => {
    const ok = build({ cc: 2, payload: new Uint8Array(20), pad: 0, pt: 0, seq: 1, ts: 2, ssrc: 3 });
    expect(rtpPayloadStart(ok)).toBe(20);
    expect(rtpPayloadStart(ok.subarray(0, 16))).toBe(-1); // CSRCs cut off
    const ext = build({ cc: 0, ext: new Uint8Array(8), payload: new Uint8Array(0), pad: 0, pt: 0, seq: 1, ts: 2, ssrc: 3 });
    expect(rtpPayloadStart(ext)).toBe(24);
    expect(rtpPayloadStart(ext.subarray(0, 14))).toBe(-1); // extension header cut off
    expect(rtpPayloadStart(ext.subarray(0, 20))).toBe(-1); // extension body cut off
    const padded = build({ cc: 0, payload: new Uint8Array(4), pad: 4, pt: 0, seq: 1, ts: 2, ssrc: 3 });
    expect(rtpPayloadStart(padded)).toBe(12);
    const zeroPad = Buffer.from(padded);
    zeroPad[zeroPad.length - 1] = 0;
    expect(rtpPayloadStart(zeroPad)).toBe(-1);
    const hugePad = Buffer.from(padded);
    hugePad[hugePad.length - 1] = 200;
    expect(rtpPayloadStart(hugePad)).toBe(-1);
  });
});
