// Classic libpcap files (https://www.tcpdump.org/manpages/pcap-savefile.5.txt)
// of recorded packets, link type LINKTYPE_RAW (101: each packet starts with its
// IPv4/IPv6 header), with IP and UDP headers synthesized from the recorded
// addresses. Every record becomes one UDP datagram: SIP that went over TCP or
// TLS is written as SIP over UDP between the same addresses and ports (one
// message per packet, TLS already decrypted), so Wireshark's VoIP call flow and
// RTP stream analysis work on it unchanged. No npm library writes pcap and is
// kept up (docs/decisions.md); the format is 24 + 16 bytes of header.
import { isIPv6 } from 'node:net';
import type { PacketRecord } from './recorder.js';

export const LINKTYPE_RAW = 101;
const SNAPLEN = 65_535;
const MAX_UDP_PAYLOAD = 65_507;

/** The 24-byte global header: microsecond timestamps, host byte order = little-endian. */
function globalHeader(): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeInt32LE(0, 8); // thiszone
  b.writeUInt32LE(0, 12); // sigfigs
  b.writeUInt32LE(SNAPLEN, 16);
  b.writeUInt32LE(LINKTYPE_RAW, 20);
  return b;
}

/** RFC 1071 Internet checksum over some buffers (the caller gives an even-length layout). */
function internetChecksum(parts: readonly Buffer[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) sum += p.readUInt16BE(i);
    if (p.length % 2 === 1) sum += (p[p.length - 1] as number) << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  return Buffer.from(parts.length === 4 && parts.every((n) => n >= 0 && n <= 255) ? parts : [0, 0, 0, 0]);
}

function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  const plain = address.replace(/%.*$/, '');
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  let text = plain;
  if (v4tail?.[1]) {
    const b = ipv4Bytes(v4tail[1]);
    text = `${plain.slice(0, -v4tail[1].length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return out;
}

/** One record as IP + UDP + (kept) payload, and the length it had on the wire. */
export function packetBytes(r: PacketRecord, ipId = 0): { bytes: Buffer; wireLength: number } {
  const payload = r.data.subarray(0, MAX_UDP_PAYLOAD);
  const wirePayload = Math.min(Math.max(r.length, payload.length), MAX_UDP_PAYLOAD);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(r.src.port, 0);
  udp.writeUInt16BE(r.dst.port, 2);
  udp.writeUInt16BE(8 + wirePayload, 4);
  const v6 = isIPv6(r.src.address) || isIPv6(r.dst.address);
  if (!v6) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + wirePayload, 2);
    ip.writeUInt16BE(ipId & 0xffff, 4);
    ip.writeUInt16BE(0x4000, 6); // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ipv4Bytes(r.src.address).copy(ip, 12);
    ipv4Bytes(r.dst.address).copy(ip, 16);
    ip.writeUInt16BE(internetChecksum([ip]), 10);
    // UDP checksum 0 = none (allowed over IPv4, RFC 768).
    return { bytes: Buffer.concat([ip, udp, payload]), wireLength: 28 + wirePayload };
  }
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(8 + wirePayload, 4);
  ip[6] = 17;
  ip[7] = 64;
  const src = ipv6Bytes(isIPv6(r.src.address) ? r.src.address : `::ffff:${r.src.address}`);
  const dst = ipv6Bytes(isIPv6(r.dst.address) ? r.dst.address : `::ffff:${r.dst.address}`);
  src.copy(ip, 8);
  dst.copy(ip, 24);
  if (payload.length === wirePayload) {
    // RFC 8200 §8.1: mandatory over IPv6, on the pseudo-header.
    const pseudo = Buffer.alloc(40);
    src.copy(pseudo, 0);
    dst.copy(pseudo, 16);
    pseudo.writeUInt32BE(8 + wirePayload, 32);
    pseudo[39] = 17;
    const sum = internetChecksum([pseudo, udp, payload.length % 2 === 0 ? payload : Buffer.concat([payload, Buffer.alloc(1)])]);
    udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  }
  return { bytes: Buffer.concat([ip, udp, payload]), wireLength: 48 + wirePayload };
}

/** A whole pcap file of these records, in time order. */
export function pcapFile(records: readonly PacketRecord[]): Buffer {
  const sorted = [...records].sort((a, b) => a.at - b.at);
  const parts: Buffer[] = [globalHeader()];
  sorted.forEach((r, i) => {
    const { bytes, wireLength } = packetBytes(r, i + 1);
    const rec = Buffer.alloc(16);
    const us = Math.round(r.at * 1000);
    rec.writeUInt32LE(Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(bytes.length, 8);
    rec.writeUInt32LE(wireLength, 12);
    parts.push(rec, bytes);
  });
  return Buffer.concat(parts);
}
