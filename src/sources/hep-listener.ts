// HEP v3 collector: UDP and TCP on one address (default 127.0.0.1:9060, what
// Kamailio's siptrace and Homer agents send to). SIP payloads go through the
// project's SIP parser and then SipEventExtractor. Bounded everywhere: TCP
// connections, per-connection buffers and the extractor's tables are capped,
// and garbage is counted, never thrown.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { EventSink } from '../analytics/events.js';
import { parseMessage } from '../sip/message.js';
import { BoundedMap } from '../analytics/lru.js';
import { HEP_MAGIC, HEP_PROTO_RTCP, HEP_PROTO_SIP, decodeHep3, hep3FrameLength, type HepPacket } from './hep.js';
import { rtcpJsonToEvents, type RtcpJsonMeta } from './rtcp-json.js';
import { SipEventExtractor, type SipEventOptions } from './sip-events.js';

export interface HepListenerOptions extends Omit<SipEventOptions, 'onEvent' | 'onError'> {
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  tcp?: boolean;
  /** TCP connections at once (default 64); at the limit a new one evicts the least recently active. */
  maxTcpConnections?: number;
  /** A TCP connection silent this long is closed (default 60 s). */
  tcpIdleTimeoutMs?: number;
  /** Require this HEP authentication key (chunk 14) when set. */
  authKey?: string;
  onEvent: EventSink;
  /** Every decoded HEP packet (raw access for tests and debugging). */
  onPacket?: (p: HepPacket) => void;
  onError?: (err: unknown) => void;
  /** Clock for packets without a timestamp chunk. */
  now?: () => number;
}

export interface HepListenerStats {
  packets: number;
  decodeErrors: number;
  sipErrors: number;
  nonSip: number;
  /** HEP type 5 (RTCP JSON) packets used, and ones that were not readable. */
  rtcp: number;
  rtcpErrors: number;
  rejectedAuth: number;
  tcpConnections: number;
  /** TCP connections closed to make room for a new one (the least recently active). */
  tcpEvicted: number;
  /** TCP connections closed for silence (tcpIdleTimeoutMs). */
  tcpIdleClosed: number;
}

const MAX_TCP_BUFFER = 128 * 1024;

/** Tries of a UDP+TCP port pair when port 0 is asked for and the kernel's free UDP port is taken on TCP. */
const PORT_PAIR_ATTEMPTS = 20;

export class HepListener {
  readonly stats: HepListenerStats = { packets: 0, decodeErrors: 0, sipErrors: 0, nonSip: 0, rtcp: 0, rtcpErrors: 0, rejectedAuth: 0, tcpConnections: 0, tcpEvicted: 0, tcpIdleClosed: 0 };
  readonly extractor: SipEventExtractor;
  /** Last SR packet count per call and sender SSRC (bounded). */
  readonly #senderPackets = new BoundedMap<string, number>(20_000);
  readonly #opts: HepListenerOptions;
  #udp: UdpSocket | null = null;
  #tcp: Server | null = null;
  /** Open TCP connections and when each last sent data (insertion order = connect order). */
  readonly #conns = new Map<Socket, number>();
  #sweepTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #address: { host: string; port: number } | null = null;

  /** SHA-256 of the required key: compared in constant time. */
  readonly #authKey: Buffer | undefined;

  constructor(opts: HepListenerOptions) {
    this.#opts = opts;
    this.#authKey = opts.authKey === undefined ? undefined : createHash('sha256').update(opts.authKey).digest();
    this.extractor = new SipEventExtractor({ ...opts, onEvent: opts.onEvent, onError: opts.onError });
  }

  get address(): { host: string; port: number } | null {
    return this.#address;
  }

  /** Binds UDP and TCP; on failure (e.g. EADDRINUSE) everything opened so far is closed again. */
  async start(): Promise<{ host: string; port: number }> {
    try {
      return await this.#start();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async #start(): Promise<{ host: string; port: number }> {
    const host = this.#opts.host ?? '127.0.0.1';
    const requested = this.#opts.port ?? 9060;
    // Port 0: the kernel picks a free UDP port, but the same TCP port may be taken (a free-port race
    // with any other process): then both sockets are closed and the pair is tried again on a new port.
    for (let attempt = 1; ; attempt++) {
      try {
        const port = await this.#bindPair(host, requested);
        // Expire calls even when traffic stops (so unanswered attempts get closed).
        this.#sweepTimer = setInterval(() => this.extractor.sweep(this.#now()), 5000);
        this.#sweepTimer.unref?.();
        this.#address = { host, port };
        return this.#address;
      } catch (err) {
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (requested !== 0 || !inUse || attempt >= PORT_PAIR_ATTEMPTS) throw err;
        await this.#closeSockets();
      }
    }
  }

  /** UDP on `port` (0: any), then TCP on the same port number; returns that port. */
  async #bindPair(host: string, requested: number): Promise<number> {
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    this.#udp = udp;
    udp.on('message', (buf) => this.handleDatagram(buf));
    udp.on('error', (err) => this.#opts.onError?.(err));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(requested, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const port = udp.address().port;
    if (this.#opts.tcp !== false) {
      const server = createServer((sock) => this.#onConnection(sock));
      this.#tcp = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          server.on('error', (err) => this.#opts.onError?.(err));
          resolve();
        });
      });
    }
    return port;
  }

  #keyMatches(key: string | undefined): boolean {
    if (key === undefined || this.#authKey === undefined) return false;
    return timingSafeEqual(createHash('sha256').update(key).digest(), this.#authKey);
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** One HEP packet (UDP datagram or TCP frame). Public so fuzz tests can drive it without sockets. */
  handleDatagram(buf: Buffer): void {
    if (this.#closed) return;
    this.stats.packets++;
    try {
      const r = decodeHep3(buf);
      if (!r.ok) {
        this.stats.decodeErrors++;
        return;
      }
      const p = r.packet;
      if (this.#authKey !== undefined && !this.#keyMatches(p.authKey)) {
        this.stats.rejectedAuth++;
        return;
      }
      this.#opts.onPacket?.(p);
      const at = p.timeSec !== undefined ? p.timeSec * 1000 + Math.floor((p.timeUsec ?? 0) / 1000) : this.#now();
      if (p.protocolType === HEP_PROTO_RTCP && p.payload && !p.compressed && p.correlationId) {
        this.#onRtcp(p.payload, { at, callId: p.correlationId, ...(p.srcIp !== undefined ? { srcIp: p.srcIp } : {}) });
        return;
      }
      if (p.protocolType !== HEP_PROTO_SIP || !p.payload || p.compressed) {
        this.stats.nonSip++;
        return;
      }
      const parsed = parseMessage(p.payload);
      if (!parsed.ok) {
        this.stats.sipErrors++;
        return;
      }
      this.extractor.onMessage(parsed.message, { at, srcIp: p.srcIp ?? '', srcPort: p.srcPort, dstIp: p.dstIp, dstPort: p.dstPort });
    } catch (err) {
      this.stats.decodeErrors++;
      this.#opts.onError?.(err);
    }
  }

  /** rtpengine's RTCP JSON: report blocks as events; an SR's packet count is the loss denominator of later blocks about that sender. */
  #onRtcp(payload: Buffer, meta: RtcpJsonMeta): void {
    const { events, sender } = rtcpJsonToEvents(payload, meta);
    if (sender !== undefined) this.#senderPackets.set(`${meta.callId}\u0000${sender.ssrc}`, sender.packets);
    if (events.length === 0 && sender === undefined) {
      this.stats.rtcpErrors++;
      return;
    }
    this.stats.rtcp++;
    for (const ev of events) {
      const sent = this.#senderPackets.get(`${meta.callId}\u0000${ev.sourceSsrc}`);
      this.#opts.onEvent(sent !== undefined ? { ...ev, senderPackets: sent } : ev);
    }
  }

  #onConnection(sock: Socket): void {
    if (this.#closed) {
      sock.destroy();
      return;
    }
    // At the limit, make room instead of refusing: otherwise 64 idle connections
    // (a scanner, a crashed sender's half-open sockets) lock out every other sender.
    if (this.#conns.size >= (this.#opts.maxTcpConnections ?? 64)) this.#evictLeastRecentlyActive();
    this.#conns.set(sock, this.#now());
    this.stats.tcpConnections++;
    let buf: Buffer = Buffer.alloc(0);
    sock.setTimeout(this.#opts.tcpIdleTimeoutMs ?? 60_000, () => {
      this.stats.tcpIdleClosed++;
      sock.destroy();
    });
    sock.on('data', (data: Buffer) => {
      this.#conns.set(sock, this.#now());
      buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
      for (;;) {
        if (buf.length < 6) break;
        const len = hep3FrameLength(buf);
        if (len === null || len < 6) {
          // Out of sync: skip to the next "HEP3" (or drop all but a possible partial magic).
          this.stats.decodeErrors++;
          const next = buf.indexOf(HEP_MAGIC, 1);
          buf = next < 0 ? buf.subarray(Math.max(0, buf.length - 3)) : buf.subarray(next);
          continue;
        }
        if (buf.length < len) break;
        this.handleDatagram(buf.subarray(0, len));
        buf = buf.subarray(len);
      }
      if (buf.length > MAX_TCP_BUFFER) {
        this.stats.decodeErrors++;
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => this.#conns.delete(sock));
  }

  #evictLeastRecentlyActive(): void {
    let oldest: Socket | undefined;
    let oldestAt = Infinity;
    for (const [sock, at] of this.#conns) {
      if (at < oldestAt) {
        oldest = sock;
        oldestAt = at;
      }
    }
    if (oldest === undefined) return;
    this.#conns.delete(oldest);
    this.stats.tcpEvicted++;
    oldest.destroy();
  }

  /** Idempotent: closes sockets, connections and timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    for (const c of this.#conns.keys()) c.destroy();
    this.#conns.clear();
    await this.#closeSockets();
  }

  async #closeSockets(): Promise<void> {
    const udp = this.#udp;
    this.#udp = null;
    if (udp) await new Promise<void>((r) => udp.close(() => r()));
    const tcp = this.#tcp;
    this.#tcp = null;
    if (tcp) await new Promise<void>((r) => tcp.close(() => r()));
  }
}
