import { describe, expect, it } from 'vitest';
import { decodeHep3, encodeHep3, hep3FrameLength } from '../../../src/sources/hep.js';

describe('HEP3 codec', () => {
  it('round-trips every generic chunk', () => {
    const payload = Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n');
    const buf = encodeHep3({
      srcIp: '192.0.2.1', dstIp: '198.51.100.2', srcPort: 5096, dstPort: 5060, timeSec: 1767614400, timeUsec: 123456,
      protocolType: 1, captureId: 2001, authKey: 'k', payload, correlationId: 'abc',
    });
    expect(hep3FrameLength(buf)).toBe(buf.length);
    const r = decodeHep3(buf);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet).toMatchObject({
      ipFamily: 2, ipProtocol: 17, srcIp: '192.0.2.1', dstIp: '198.51.100.2', srcPort: 5096, dstPort: 5060,
      timeSec: 1767614400, timeUsec: 123456, protocolType: 1, captureId: 2001, authKey: 'k', correlationId: 'abc',
    });
    expect(r.packet.payload?.equals(payload)).toBe(true);
  });

  it('decodes IPv6 addresses in RFC 5952 form', () => {
    const r = decodeHep3(encodeHep3({ srcIp: '2001:db8::1', dstIp: 'fe80:0:0:0:1::2', payload: Buffer.from('x') }));
    expect(r.ok && [r.packet.ipFamily, r.packet.srcIp, r.packet.dstIp]).toEqual([10, '2001:db8::1', 'fe80::1:0:0:2']);
  });

  it('decodes a hand-built packet byte by byte (layout check against the spec)', () => {
    // "HEP3", len 6+7+10 = 23; chunk ip family (0,1,len 7,2); chunk src ip (0,3,len 10,127.0.0.1)
    const buf = Buffer.from([0x48, 0x45, 0x50, 0x33, 0, 23, 0, 0, 0, 1, 0, 7, 2, 0, 0, 0, 3, 0, 10, 127, 0, 0, 1]);
    const r = decodeHep3(buf);
    expect(r.ok && r.packet).toEqual({ ipFamily: 2, srcIp: '127.0.0.1' });
  });

  it('skips vendor chunks and unknown generic chunks', () => {
    const base = encodeHep3({ srcIp: '10.0.0.1' });
    const extra = Buffer.from([0x00, 0x03, 0x00, 0x26, 0x00, 0x08, 0xaa, 0xbb, 0x00, 0x00, 0x00, 0x63, 0x00, 0x07, 0x01]);
    const buf = Buffer.concat([base, extra]);
    buf.writeUInt16BE(buf.length, 4);
    const r = decodeHep3(buf);
    expect(r.ok && r.packet.srcIp).toBe('10.0.0.1');
  });

  it('rejects garbage with codes', () => {
    const good = encodeHep3({ srcIp: '10.0.0.1', payload: Buffer.from('abc') });
    const cases: [Buffer, string][] = [
      [Buffer.from('HEP'), 'E_SHORT'],
      [Buffer.from('HEP2\x00\x06'), 'E_MAGIC'],
      [good.subarray(0, good.length - 1), 'E_LENGTH'],
    ];
    const badChunk = Buffer.from(good);
    badChunk.writeUInt16BE(3, 10); // first chunk length 3 < 6
    cases.push([badChunk, 'E_CHUNK']);
    const badSize = Buffer.from(good);
    badSize.writeUInt16BE(8, 10); // family chunk claims 2 data bytes
    cases.push([badSize, 'E_CHUNK_SIZE']);
    for (const [b, code] of cases) {
      const r = decodeHep3(b);
      expect(r.ok ? 'ok' : r.error.code, code).toBe(code);
    }
  });
});
