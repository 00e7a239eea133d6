// The one place a run's own packets are kept for evidence (issue 20): the SIP
// transport and the RTP sockets hand every datagram/stream message they send
// or receive to a PacketRecorder; the CLI and the agent turn what an
// EvidenceRecorder holds into a SIP ladder (./ladder.ts) or a pcap (./pcap.ts).
// This file imports nothing, so sip/ and rtp/ can depend on its types without
// reaching up to report/ or cli/.

export type PacketKind = 'sip' | 'rtp' | 'rtcp';

export interface Endpoint {
  address: string;
  port: number;
}

/** What a transport tells the recorder about one message. */
export interface PacketEvent {
  direction: 'out' | 'in';
  kind: PacketKind;
  /** What carried it; SIP over TCP/TLS is kept as one message (decrypted), written to pcap as UDP. */
  transport: 'udp' | 'tcp' | 'tls';
  src: Endpoint;
  dst: Endpoint;
  /** The bytes (copied by the recorder: callers may reuse their buffer). */
  data: Uint8Array;
  /** Epoch ms (fractional) when it left or arrived, e.g. a kernel receive stamp; default now. */
  at?: number;
}

/** The hook sip/ and rtp/ call; absent means nothing is recorded (no cost on the hot path). */
export interface PacketRecorder {
  record(event: PacketEvent): void;
}

/** One kept packet. */
export interface PacketRecord {
  /** Epoch ms (fractional). */
  at: number;
  direction: 'out' | 'in';
  kind: PacketKind;
  transport: 'udp' | 'tcp' | 'tls';
  src: Endpoint;
  dst: Endpoint;
  /** Kept bytes: SIP with digest responses masked; RTP cut to its header with `rtp: 'headers'`. */
  data: Buffer;
  /** Length on the wire (≥ data.length when truncated). */
  length: number;
}

export interface EvidenceRecorderOptions {
  /** `headers` keeps only the 12-byte RTP header (+ CSRCs) of each RTP packet; `none` no RTP/RTCP at all. Default full. */
  rtp?: 'full' | 'headers' | 'none';
  /** Stop keeping packets past this many bytes (counted in `dropped`). Default 32 MiB. */
  maxBytes?: number;
  /** Epoch ms now (tests). Default performance.timeOrigin + performance.now(). */
  now?: () => number;
}

/** How long a sent packet waits for its own arrival in this process (both ends local). */
const LOOPBACK_MATCH_MS = 5000;

/**
 * Keeps every recorded packet in memory (bounded), masked and in arrival
 * order. A packet this process both sends and receives (a call with both
 * ends in the process and no relay) is kept once, as a capture on the wire
 * would show it.
 */
export class EvidenceRecorder implements PacketRecorder {
  readonly records: PacketRecord[] = [];
  /** Packets not kept because maxBytes was reached. */
  dropped = 0;
  private bytes = 0;
  private readonly rtpMode: 'full' | 'headers' | 'none';
  private readonly maxBytes: number;
  private readonly now: () => number;
  /** Sent packets by wire identity, waiting for a local receive of the same bytes. */
  private readonly unmatched = new Map<string, number[]>();

  constructor(opts: EvidenceRecorderOptions = {}) {
    this.rtpMode = opts.rtp ?? 'full';
    this.maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
    this.now = opts.now ?? (() => performance.timeOrigin + performance.now());
  }

  record(e: PacketEvent): void {
    if (e.kind !== 'sip' && this.rtpMode === 'none') return;
    const at = e.at ?? this.now();
    const raw = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const key = wireKey(e, raw);
    if (e.direction === 'out') {
      const list = this.unmatched.get(key);
      if (list) list.push(at);
      else this.unmatched.set(key, [at]);
    } else {
      const list = this.unmatched.get(key);
      const sentAt = list?.shift();
      if (list?.length === 0) this.unmatched.delete(key);
      if (sentAt !== undefined && at - sentAt < LOOPBACK_MATCH_MS) return;
    }
    if (this.bytes >= this.maxBytes) {
      this.dropped++;
      return;
    }
    const data = e.kind === 'sip' ? Buffer.from(maskSip(raw.toString('latin1')), 'latin1') : keptBytes(raw, e.kind, this.rtpMode);
    this.bytes += data.length + 64;
    this.records.push({ at, direction: e.direction, kind: e.kind, transport: e.transport, src: { ...e.src }, dst: { ...e.dst }, data, length: e.kind === 'sip' ? data.length : raw.length });
    if (this.unmatched.size > 4096) this.forgetOldSends(at);
  }

  /** Records sorted by time (receive stamps may come from the kernel, earlier than JS saw them). */
  sorted(): PacketRecord[] {
    return [...this.records].sort((a, b) => a.at - b.at);
  }

  private forgetOldSends(now: number): void {
    for (const [key, list] of this.unmatched) {
      while (list.length > 0 && now - (list[0] as number) >= LOOPBACK_MATCH_MS) list.shift();
      if (list.length === 0) this.unmatched.delete(key);
    }
  }
}

function wireKey(e: PacketEvent, raw: Buffer): string {
  // RTP/RTCP are unique by their first bytes (SSRC, sequence, timestamps); SIP by the whole text.
  const body = e.kind === 'sip' ? raw.toString('latin1') : raw.subarray(0, 32).toString('hex');
  return `${e.src.address}:${e.src.port}>${e.dst.address}:${e.dst.port}|${raw.length}|${body}`;
}

/** RTP header length (12 + 4 × CSRC count), or the whole packet for RTCP / non-RTP. RFC 3550 §5.1. */
function keptBytes(raw: Buffer, kind: 'rtp' | 'rtcp', mode: 'full' | 'headers' | 'none'): Buffer {
  if (mode === 'full' || kind !== 'rtp' || raw.length < 12) return Buffer.from(raw);
  const header = 12 + 4 * ((raw[0] ?? 0) & 0x0f);
  return Buffer.from(raw.subarray(0, Math.min(raw.length, header)));
}

const AUTH_HEADER = /^((?:proxy-)?authorization)([ \t]*:)([^\r\n]*(?:\r?\n[ \t]+[^\r\n]*)*)/gim;
const SECRET_PARAM = /\b(response|password)([ \t]*=[ \t]*)("[^"]*"|[^\s,;]+)/gi;

/**
 * Hides the digest `response` (and any `password` parameter) in
 * Authorization / Proxy-Authorization headers, keeping the length so
 * Content-Length and offsets stay right: `response="xxxx…"`.
 */
export function maskSip(text: string): string {
  if (!/authorization/i.test(text)) return text;
  return text.replace(AUTH_HEADER, (_all, name: string, colon: string, value: string) => {
    const masked = value.replace(SECRET_PARAM, (_p, key: string, eq: string, v: string) => {
      const quoted = v.startsWith('"') && v.endsWith('"') && v.length >= 2;
      const inner = quoted ? v.slice(1, -1) : v;
      const hidden = 'x'.repeat(inner.length);
      return `${key}${eq}${quoted ? `"${hidden}"` : hidden}`;
    });
    return `${name}${colon}${masked}`;
  });
}
