// HEP v3 (EEP) codec, per the sipcapture HEP3 Network Protocol Specification
// (github.com/sipcapture/HEP, docs/HEP3_Network_Protocol_Specification_REV_37):
//
//   "HEP3" | u16 total length (whole packet, header included) | chunks…
//   chunk: u16 vendor id | u16 type id | u16 length (chunk header included) | data
//   All integers in network byte order. Generic chunks (vendor 0x0000):
//     1 IP family u8 (2 = IPv4, 10 = IPv6)   2 IP protocol id u8 (17 UDP, 6 TCP)
//     3/4 IPv4 src/dst (4 bytes)             5/6 IPv6 src/dst (16 bytes)
//     7/8 src/dst port u16                   9/10 timestamp seconds / microseconds u32
//     11 protocol type u8 (1 = SIP, …)       12 capture agent id u32
//     13 keep-alive timer u16                14 authentication key (string)
//     15 payload (raw)                       16 compressed payload (not decoded here)
//     17 internal correlation id (string)
// Vendor-specific chunks are skipped. The decoder never throws: errors are values.

export interface HepPacket {
  ipFamily?: number;
  ipProtocol?: number;
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  timeSec?: number;
  timeUsec?: number;
  protocolType?: number;
  captureId?: number;
  keepAliveS?: number;
  authKey?: string;
  payload?: Buffer;
  compressed?: boolean;
  correlationId?: string;
}

export type HepErrorCode = 'E_SHORT' | 'E_MAGIC' | 'E_LENGTH' | 'E_CHUNK' | 'E_CHUNK_SIZE';

export type HepDecodeResult =
  | { ok: true; packet: HepPacket; length: number }
  | { ok: false; error: { code: HepErrorCode; message: string } };

export const HEP_MAGIC = Buffer.from('HEP3', 'ascii');
export const HEP_PROTO_SIP = 1;
/** rtpengine sends its RTCP reports as JSON with this type. */
export const HEP_PROTO_RTCP = 5;
export const HEP_HEADER_BYTES = 6;
const CHUNK_HEADER_BYTES = 6;

const fail = (code: HepErrorCode, message: string): HepDecodeResult => ({ ok: false, error: { code, message } });

function ipv6(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  // RFC 5952 §4.2: compress the longest run of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}

type FixedChunk = { size: number; read: (p: HepPacket, data: Buffer) => void };
const u8Chunk = (set: (p: HepPacket, v: number) => void): FixedChunk => ({ size: 1, read: (p, d) => set(p, d.readUInt8(0)) });
const u16Chunk = (set: (p: HepPacket, v: number) => void): FixedChunk => ({ size: 2, read: (p, d) => set(p, d.readUInt16BE(0)) });
const u32Chunk = (set: (p: HepPacket, v: number) => void): FixedChunk => ({ size: 4, read: (p, d) => set(p, d.readUInt32BE(0)) });

/** The generic chunks of a fixed data size: type → size and where the value goes. */
const FIXED_CHUNKS: Partial<Record<number, FixedChunk>> = {
  1: u8Chunk((p, v) => (p.ipFamily = v)),
  2: u8Chunk((p, v) => (p.ipProtocol = v)),
  3: { size: 4, read: (p, d) => (p.srcIp = [...d].join('.')) },
  4: { size: 4, read: (p, d) => (p.dstIp = [...d].join('.')) },
  5: { size: 16, read: (p, d) => (p.srcIp = ipv6(d)) },
  6: { size: 16, read: (p, d) => (p.dstIp = ipv6(d)) },
  7: u16Chunk((p, v) => (p.srcPort = v)),
  8: u16Chunk((p, v) => (p.dstPort = v)),
  9: u32Chunk((p, v) => (p.timeSec = v)),
  10: u32Chunk((p, v) => (p.timeUsec = v)),
  11: u8Chunk((p, v) => (p.protocolType = v)),
  12: u32Chunk((p, v) => (p.captureId = v)),
  13: u16Chunk((p, v) => (p.keepAliveS = v)),
};

/** Length of the HEP3 packet at the start of `buf` (for stream framing), or null if not enough bytes / not HEP3. */
export function hep3FrameLength(buf: Buffer): number | null {
  if (buf.length < HEP_HEADER_BYTES || !buf.subarray(0, 4).equals(HEP_MAGIC)) return null;
  return buf.readUInt16BE(4);
}

/** Decodes one HEP3 packet from the start of `buf`. */
export function decodeHep3(buf: Buffer): HepDecodeResult {
  if (buf.length < HEP_HEADER_BYTES) return fail('E_SHORT', `${buf.length} bytes is shorter than a HEP3 header`);
  if (!buf.subarray(0, 4).equals(HEP_MAGIC)) return fail('E_MAGIC', 'not a HEP3 packet');
  const total = buf.readUInt16BE(4);
  if (total < HEP_HEADER_BYTES || total > buf.length) return fail('E_LENGTH', `total length ${total} with ${buf.length} bytes present`);
  const p: HepPacket = {};
  let off = HEP_HEADER_BYTES;
  while (off < total) {
    if (total - off < CHUNK_HEADER_BYTES) return fail('E_CHUNK', `truncated chunk header at ${off}`);
    const vendor = buf.readUInt16BE(off);
    const type = buf.readUInt16BE(off + 2);
    const len = buf.readUInt16BE(off + 4);
    if (len < CHUNK_HEADER_BYTES || off + len > total) return fail('E_CHUNK', `chunk type ${type} length ${len} at ${off} overruns the packet`);
    const data = buf.subarray(off + CHUNK_HEADER_BYTES, off + len);
    off += len;
    if (vendor !== 0) continue;
    const fixed = FIXED_CHUNKS[type];
    if (fixed !== undefined) {
      if (data.length !== fixed.size) return fail('E_CHUNK_SIZE', `chunk type ${type} has ${data.length} data bytes`);
      fixed.read(p, data);
      continue;
    }
    switch (type) {
      case 14:
        p.authKey = data.toString('utf8');
        break;
      case 15:
        p.payload = data;
        break;
      case 16:
        p.payload = data;
        p.compressed = true;
        break;
      case 17:
        p.correlationId = data.toString('utf8');
        break;
      default:
        break; // unknown generic chunk: skip (forward compatible)
    }
  }
  return { ok: true, packet: p, length: total };
}

function chunk(type: number, data: Buffer): Buffer {
  const h = Buffer.alloc(CHUNK_HEADER_BYTES);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(CHUNK_HEADER_BYTES + data.length, 4);
  return Buffer.concat([h, data]);
}
const u8 = (v: number) => Buffer.from([v & 0xff]);
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

function ipBytes(ip: string): Buffer | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) return Buffer.from(v4.slice(1).map(Number));
  if (!ip.includes(':')) return null;
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  if (groups.length !== 8) return null;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return b;
}

/** Encodes a HEP3 packet (used by tests and the synthetic-traffic generator). */
export function encodeHep3(p: HepPacket): Buffer {
  const chunks: Buffer[] = [];
  const src = p.srcIp ? ipBytes(p.srcIp) : null;
  const dst = p.dstIp ? ipBytes(p.dstIp) : null;
  const family = p.ipFamily ?? (src?.length === 16 ? 10 : 2);
  chunks.push(chunk(1, u8(family)), chunk(2, u8(p.ipProtocol ?? 17)));
  if (src) chunks.push(chunk(src.length === 4 ? 3 : 5, src));
  if (dst) chunks.push(chunk(dst.length === 4 ? 4 : 6, dst));
  if (p.srcPort !== undefined) chunks.push(chunk(7, u16(p.srcPort)));
  if (p.dstPort !== undefined) chunks.push(chunk(8, u16(p.dstPort)));
  if (p.timeSec !== undefined) chunks.push(chunk(9, u32(p.timeSec)));
  if (p.timeUsec !== undefined) chunks.push(chunk(10, u32(p.timeUsec)));
  chunks.push(chunk(11, u8(p.protocolType ?? HEP_PROTO_SIP)));
  if (p.captureId !== undefined) chunks.push(chunk(12, u32(p.captureId)));
  if (p.authKey !== undefined) chunks.push(chunk(14, Buffer.from(p.authKey)));
  if (p.payload) chunks.push(chunk(p.compressed ? 16 : 15, p.payload));
  if (p.correlationId !== undefined) chunks.push(chunk(17, Buffer.from(p.correlationId)));
  const body = Buffer.concat(chunks);
  if (HEP_HEADER_BYTES + body.length > 0xffff) throw new RangeError('HEP3 packet longer than 65535 bytes');
  const head = Buffer.alloc(HEP_HEADER_BYTES);
  HEP_MAGIC.copy(head, 0);
  head.writeUInt16BE(HEP_HEADER_BYTES + body.length, 4);
  return Buffer.concat([head, body]);
}
