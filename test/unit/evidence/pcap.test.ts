import { describe, expect, it } from 'vitest';
import { LINKTYPE_RAW, packetBytes, pcapFile } from '../../../src/evidence/pcap.js';
import type { PacketRecord } from '../../../src/evidence/recorder.js';

function record(over: Partial<PacketRecord> = {}): PacketRecord {
  const data = over.data ?? Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n');
  return {
    at: 1_764_780_000_123.5,
    direction: 'out',
    kind: 'sip',
    transport: 'udp',
    src: { address: '127.0.0.1', port: 5071 },
    dst: { address: '10.1.2.3', port: 5060 },
    data,
    length: data.length,
    ...over,
  };
}

/** RFC 1071: the sum over a header that carries its checksum is 0xffff. */
function onesSum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += (b[b.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

describe('pcap writer', () => {
  it('writes a classic libpcap header (µs, LINKTYPE_RAW) and one record per packet, sorted by time', () => {
    const late = record({ at: 2_000_000_000_000, data: Buffer.from('B') });
    const early = record({ data: Buffer.from('A') });
    const file = pcapFile([late, early]);
    expect(file.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(file.readUInt16LE(4)).toBe(2);
    expect(file.readUInt16LE(6)).toBe(4);
    expect(file.readUInt32LE(20)).toBe(LINKTYPE_RAW);
    // first record: the earlier packet, timestamp split into s + µs
    expect(file.readUInt32LE(24)).toBe(1_764_780_000);
    expect(file.readUInt32LE(28)).toBe(123_500);
    const incl = file.readUInt32LE(32);
    expect(incl).toBe(20 + 8 + 1);
    expect(file.readUInt32LE(36)).toBe(incl);
    expect(String.fromCharCode(file[40 + 28] as number)).toBe('A');
    const second = 40 + incl;
    expect(file.readUInt32LE(second)).toBe(2_000_000_000);
    expect(file.length).toBe(second + 16 + 29);
  });

  it('synthesizes a valid IPv4 + UDP header from the recorded addresses', () => {
    const r = record();
    const { bytes, wireLength } = packetBytes(r, 7);
    expect(wireLength).toBe(bytes.length);
    expect(bytes[0]).toBe(0x45);
    expect(bytes.readUInt16BE(2)).toBe(28 + r.data.length);
    expect(bytes.readUInt16BE(4)).toBe(7);
    expect(bytes[9]).toBe(17);
    expect([...bytes.subarray(12, 16)]).toEqual([127, 0, 0, 1]);
    expect([...bytes.subarray(16, 20)]).toEqual([10, 1, 2, 3]);
    expect(onesSum(bytes.subarray(0, 20))).toBe(0xffff);
    expect(bytes.readUInt16BE(20)).toBe(5071);
    expect(bytes.readUInt16BE(22)).toBe(5060);
    expect(bytes.readUInt16BE(24)).toBe(8 + r.data.length);
    expect(bytes.subarray(28).toString()).toBe(r.data.toString());
  });

  it('keeps the wire length of truncated RTP (orig_len > incl_len, UDP length as sent)', () => {
    const r = record({ kind: 'rtp', data: Buffer.alloc(12, 0x80), length: 172 });
    const { bytes, wireLength } = packetBytes(r);
    expect(bytes.length).toBe(40);
    expect(wireLength).toBe(200);
    expect(bytes.readUInt16BE(24)).toBe(180);
  });

  it('writes IPv6 with a correct UDP checksum over the pseudo-header', () => {
    const r = record({ src: { address: '2001:db8::1', port: 5071 }, dst: { address: '::1', port: 5060 }, data: Buffer.from('odd') });
    const { bytes } = packetBytes(r);
    expect((bytes[0] ?? 0) >> 4).toBe(6);
    expect(bytes[6]).toBe(17);
    expect(bytes.subarray(8, 24).toString('hex')).toBe('20010db8000000000000000000000001');
    expect(bytes.subarray(24, 40).toString('hex')).toBe(`${'0'.repeat(31)}1`);
    const pseudo = Buffer.alloc(40);
    bytes.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(bytes.length - 40, 32);
    pseudo[39] = 17;
    expect(onesSum(Buffer.concat([pseudo, bytes.subarray(40), Buffer.alloc(1)]))).toBe(0xffff);
  });
});
