// SIP transports over UDP / node:net / node:tls (RFC 3261 §18).
// One UDP socket per address family (bound once, so it is also the UA's
// listening socket: Contact and Via name it; RFC 3581 rport makes NATs and
// proxies answer to it). UDP goes through the udpio addon when it is built
// (recvmsg with SO_TIMESTAMPNS, as RTP does): a received message then carries
// the kernel's receive time, so the evidence pcap sorts SIP and RTP in the
// order they crossed the wire; otherwise node:dgram, stamped when read. TCP/TLS connections are reused per destination and
// carry requests both ways, so Contact names the connection's local port.
// Every connection reports its connect and TLS handshake time.
import dgram from 'node:dgram';
import net from 'node:net';
import type { DetailedPeerCertificate } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { SipStreamFramer } from './framer.js';
import { parseMessage, serializeMessage, type SipMessage } from './message.js';
import type { Logger } from '../log.js';
import type { Endpoint, PacketRecorder } from '../evidence/recorder.js';
import { epochAtMonotonicZero } from '../rtp/clock.js';
import { bindUdpio, type MediaRemoteInfo, type MediaSocket } from '../rtp/udp.js';
import { DEFAULT_SIP_DSCP, markSocket } from '../rtp/dscp.js';

export type TransportProto = 'udp' | 'tcp' | 'tls';

/** Where a message goes: `host` is an IP literal (resolve names first: ./dns.ts). */
export interface Destination {
  transport: TransportProto;
  host: string;
  port: number;
  /** TLS SNI / certificate name check (a host name, never an IP). */
  servername?: string;
}

export interface TlsClientOptions {
  /** Accept self-signed / mismatching certificates (the peer certificate is still recorded). */
  insecure?: boolean;
  /** PEM CA bundle contents (not a path). */
  ca?: string | Buffer;
  servername?: string;
}

export interface TransportOptions {
  /** Local IP to bind (default: 0.0.0.0 / ::; UserAgent.create passes the route source address toward its server). */
  localAddress?: string;
  /** Local UDP port (0 = ephemeral). */
  localPort?: number;
  tls?: TlsClientOptions;
  /** TCP connect + TLS handshake limit. */
  connectTimeoutMs?: number;
  logger?: Logger;
  /** Gets every message sent and received, as it went over the wire (evidence: --trace, --pcap). */
  recorder?: PacketRecorder;
  /** DSCP of the UDP socket and every TCP/TLS connection (default CS3, 24; null: unmarked). */
  dscp?: number | null;
}

/** A prepared path to a destination: what to put in Via/Contact and what it cost. */
export interface Flow {
  transport: TransportProto;
  localAddress: string;
  localPort: number;
  /** ms spent opening a TCP connection now (0 if reused or UDP). */
  connectMs: number;
  /** ms spent in the TLS handshake now (0 if reused or not TLS). */
  tlsMs: number;
  reused: boolean;
}

export interface Inbound {
  message: SipMessage;
  transport: TransportProto;
  /** Where it came from: responses to a request go back here. */
  source: { address: string; port: number };
  /** Key of the stream connection it arrived on (send back on the same one). */
  connectionKey?: string;
}

export type TransportErrorCode = 'ECONNREFUSED' | 'ETIMEDOUT' | 'ETLS' | 'ECLOSED' | 'ESEND' | 'EUNREACHABLE';

/** Typed transport failure: `phase` says whether connecting or the TLS handshake broke. */
export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    readonly phase: 'connect' | 'tls' | 'send',
    message: string,
  ) {
    super(message);
  }
}

interface StreamConn {
  key: string;
  socket: net.Socket;
  framer: SipStreamFramer;
  localAddress: string;
  localPort: number;
  peerCertificate?: DetailedPeerCertificate;
  tlsProtocol?: string;
}

/** Lowest allowed UDP receive loss: drop datagrams above this size before parsing. */
const MAX_DATAGRAM = 65_535;

/**
 * The source address the kernel picks for packets to `host`: a UDP socket is
 * connected (no packet is sent) and asked its local address. Undefined when
 * there is no route (the send will say so).
 */
export async function routeSourceAddress(host: string): Promise<string | undefined> {
  if (host === '127.0.0.1' || host === '::1') return host;
  const probe = dgram.createSocket(ipFamily(host) === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.connect(9, host, () => resolve());
    });
    return probe.address().address;
  } catch {
    return undefined;
  } finally {
    probe.close();
  }
}

/**
 * 6, 4 or 0 (not an IP literal), as net.isIP(). Only text with a ':' can be an
 * IPv6 literal, so a hostname or IPv4 address never reaches net.isIPv6(), whose
 * regular expression costs ~10 ms to compile on first use: a one-shot
 * `probe options` would pay that on its start-up budget (issue 19).
 */
export function ipFamily(host: string): 0 | 4 | 6 {
  if (host.includes(':')) return net.isIPv6(host) ? 6 : 0;
  return net.isIPv4(host) ? 4 : 0;
}

export class TransportLayer {
  private udp4?: MediaSocket;
  private udp6?: MediaSocket;
  private readonly conns = new Map<string, StreamConn>();
  private readonly pending = new Map<string, Promise<StreamConn>>();
  private readonly handlers: Array<(m: Inbound) => void> = [];
  private closed = false;
  /** Local address towards each remote host (what a capture would show as our side). */
  private readonly localFor = new Map<string, string>();
  /** Counters for tests and diagnostics. */
  readonly stats = { received: 0, parseErrors: 0, sent: 0 };

  private constructor(private readonly opts: TransportOptions) {}

  /** Binds the UDP socket for the local address family (IPv4 unless localAddress is IPv6). */
  static async create(opts: TransportOptions = {}): Promise<TransportLayer> {
    const t = new TransportLayer(opts);
    await t.udpSocket(opts.localAddress && ipFamily(opts.localAddress) === 6 ? 6 : 4);
    return t;
  }

  onMessage(handler: (m: Inbound) => void): void {
    this.handlers.push(handler);
  }

  /** Local UDP port (the listening port of the UA). */
  get udpPort(): number {
    const s = this.udp4 ?? this.udp6;
    return s ? s.address().port : 0;
  }

  private async udpSocket(family: 4 | 6): Promise<MediaSocket> {
    const existing = family === 4 ? this.udp4 : this.udp6;
    if (existing) return existing;
    const type = family === 4 ? 'udp4' : 'udp6';
    const local = this.opts.localAddress;
    const address = local && (ipFamily(local) === 6) === (family === 6) ? local : family === 4 ? '0.0.0.0' : '::';
    const port = this.opts.localPort ?? 0;
    // udpio binds at once and throws the bind error as dgram reports it (EADDRINUSE, …)
    const kernelStamped = bindUdpio(type, address, port);
    const socket: MediaSocket = kernelStamped ?? dgram.createSocket({ type, reuseAddr: false });
    if (family === 4) this.udp4 = socket;
    else this.udp6 = socket;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    socket.on('error', (err) => this.opts.logger?.warn({ err: err.message }, 'sip udp socket error'));
    if (kernelStamped) {
      this.markDscp(socket);
      return socket;
    }
    const plain = socket as dgram.Socket;
    await new Promise<void>((resolve, reject) => {
      plain.once('error', reject);
      plain.bind({ address, port, exclusive: true }, () => {
        plain.off('error', reject);
        resolve();
      });
    });
    this.markDscp(socket);
    return socket;
  }

  /** DSCP on one of our sockets (udpio by handle, node's by fd, through the addon); a failure is logged once per process. */
  private markDscp(socket: object): void {
    markSocket(socket, 'sip', this.opts.dscp === undefined ? DEFAULT_SIP_DSCP : this.opts.dscp, this.opts.logger);
  }

  /** `rinfo` may be refilled for the next datagram (udpio): read it now. */
  private onDatagram(received: Buffer, rinfo: MediaRemoteInfo): void {
    this.stats.received++;
    if (received.length > MAX_DATAGRAM) return;
    // udpio hands a view into the buffer of a whole receive batch: a parsed message
    // (a dialog keeps its INVITE) must not pin that
    const data = Buffer.from(received);
    this.opts.recorder?.record({
      direction: 'in',
      kind: 'sip',
      transport: 'udp',
      src: { address: rinfo.address, port: rinfo.port },
      dst: { address: this.localAddressSync(rinfo.address), port: this.udpPort },
      data,
      ...(rinfo.arrivalMs !== undefined ? { at: epochAtMonotonicZero + rinfo.arrivalMs } : {}),
    });
    // RFC 5626 keepalive over UDP: a bare CRLFCRLF; answer nothing (STUN is not ours).
    if (data.length <= 4 && /^[\r\n]*$/.test(data.toString('latin1'))) return;
    const parsed = parseMessage(data);
    if (!parsed.ok) {
      this.stats.parseErrors++;
      this.opts.logger?.debug({ code: parsed.error.code, from: `${rinfo.address}:${rinfo.port}` }, 'dropped unparsable datagram');
      return;
    }
    this.deliver({ message: parsed.message, transport: 'udp', source: { address: rinfo.address, port: rinfo.port } });
  }

  private deliver(m: Inbound): void {
    const msg = m.message;
    this.opts.logger?.debug(
      { from: `${m.transport}:${m.source.address}:${m.source.port}`, line: msg.kind === 'request' ? `${msg.method} ${msg.uri}` : `${msg.status} ${msg.reason}`, callId: msg.callId },
      'sip receive',
    );
    for (const h of this.handlers) {
      try {
        h(m);
      } catch (err) {
        this.opts.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'sip message handler threw');
      }
    }
  }

  /** The local IP the kernel would use to reach `host` (no packet is sent). */
  async localAddressFor(host: string): Promise<string> {
    const local = this.opts.localAddress;
    if (local && local !== '0.0.0.0' && local !== '::') return local;
    const address = await routeSourceAddress(host);
    if (address === undefined) return ipFamily(host) === 6 ? '::1' : '127.0.0.1';
    this.localFor.set(host, address);
    return address;
  }

  /** The address the UDP socket is bound to (the route's source address unless a wildcard was asked for). */
  get udpAddress(): string {
    const s = this.udp4 ?? this.udp6;
    return s ? s.address().address : '';
  }

  /** Best knowledge of our address towards `host` without waiting (for the recorder). */
  private localAddressSync(host: string): string {
    const local = this.opts.localAddress;
    if (local && local !== '0.0.0.0' && local !== '::') return local;
    if (host.startsWith('127.') || host === '::1') return host;
    return this.localFor.get(host) ?? (ipFamily(host) === 6 ? '::' : '0.0.0.0');
  }

  /** Opens (or reuses) what is needed to reach `dest`; tells the local address for Via/Contact. */
  async prepare(dest: Destination): Promise<Flow> {
    if (this.closed) throw new TransportError('ECLOSED', 'send', 'transport closed');
    if (dest.transport === 'udp') {
      const socket = await this.udpSocket(ipFamily(dest.host) === 6 ? 6 : 4);
      return {
        transport: 'udp',
        localAddress: await this.localAddressFor(dest.host),
        localPort: socket.address().port,
        connectMs: 0,
        tlsMs: 0,
        reused: true,
      };
    }
    const key = connKey(dest);
    const existing = this.conns.get(key);
    if (existing) {
      return { transport: dest.transport, localAddress: existing.localAddress, localPort: existing.localPort, connectMs: 0, tlsMs: 0, reused: true };
    }
    let timings = { connectMs: 0, tlsMs: 0 };
    let p = this.pending.get(key);
    if (!p) {
      p = this.connect(dest, (t) => (timings = t));
      this.pending.set(key, p);
      void p.catch(() => undefined).finally(() => this.pending.delete(key));
    }
    const conn = await p;
    return { transport: dest.transport, localAddress: conn.localAddress, localPort: conn.localPort, ...timings, reused: false };
  }

  private async connect(dest: Destination, report: (t: { connectMs: number; tlsMs: number }) => void): Promise<StreamConn> {
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    const t0 = performance.now();
    const raw = net.connect({ host: dest.host, port: dest.port, ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}) });
    raw.setNoDelay(true);
    await waitFor(raw, 'connect', timeout, (err) => {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ECONNREFUSED') return new TransportError('ECONNREFUSED', 'connect', `connection refused by ${dest.host}:${dest.port}`);
      if (!err) return new TransportError('ETIMEDOUT', 'connect', `TCP connect to ${dest.host}:${dest.port} timed out after ${timeout} ms`);
      return new TransportError('EUNREACHABLE', 'connect', `TCP connect to ${dest.host}:${dest.port} failed: ${err.message}`);
    });
    const connectMs = performance.now() - t0;
    this.markDscp(raw); // the TCP socket under TLS too: one fd
    let socket: net.Socket = raw;
    let tlsMs = 0;
    let peerCertificate: DetailedPeerCertificate | undefined;
    let tlsProtocol: string | undefined;
    if (dest.transport === 'tls') {
      const o = this.opts.tls ?? {};
      const servername = dest.servername ?? o.servername;
      // Loaded here, not at start-up: node:tls costs ~9 ms to load and UDP/TCP never need it.
      const tls = await import('node:tls');
      const t1 = performance.now();
      const secure = tls.connect({
        socket: raw,
        host: dest.host,
        ...(servername && !ipFamily(servername) ? { servername } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
        rejectUnauthorized: !o.insecure,
        // Without a servername, check the certificate against the IP we dialled.
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername ?? dest.host, cert),
      });
      await waitFor(secure, 'secureConnect', timeout, (err) => {
        raw.destroy();
        return new TransportError('ETLS', 'tls', err ? `TLS handshake with ${dest.host}:${dest.port} failed: ${err.message}` : `TLS handshake timed out after ${timeout} ms`);
      });
      tlsMs = performance.now() - t1;
      peerCertificate = secure.getPeerCertificate(true);
      tlsProtocol = secure.getProtocol() ?? undefined;
      socket = secure;
    }
    if (this.closed) {
      socket.destroy();
      throw new TransportError('ECLOSED', 'connect', 'transport closed');
    }
    const conn: StreamConn = {
      key: connKey(dest),
      socket,
      framer: new SipStreamFramer(),
      localAddress: raw.localAddress ?? '127.0.0.1',
      localPort: raw.localPort ?? 0,
    };
    if (peerCertificate) conn.peerCertificate = peerCertificate;
    if (tlsProtocol) conn.tlsProtocol = tlsProtocol;
    this.conns.set(conn.key, conn);
    socket.on('data', (chunk: Buffer) => this.onStreamData(conn, chunk, dest));
    socket.on('error', (err) => this.opts.logger?.debug({ err: err.message, key: conn.key }, 'sip connection error'));
    socket.on('close', () => {
      if (this.conns.get(conn.key) === conn) this.conns.delete(conn.key);
    });
    report({ connectMs, tlsMs });
    return conn;
  }

  private onStreamData(conn: StreamConn, chunk: Buffer, dest: Destination): void {
    for (const ev of conn.framer.push(chunk)) {
      if (ev.type === 'ping') conn.socket.write('\r\n');
      else if (ev.type === 'error') {
        this.opts.logger?.warn({ key: conn.key, message: ev.message }, 'closing SIP connection after a framing error');
        conn.socket.destroy();
      } else if (ev.type === 'message') {
        this.stats.received++;
        this.opts.recorder?.record({
          direction: 'in',
          kind: 'sip',
          transport: dest.transport,
          src: { address: dest.host, port: dest.port },
          dst: { address: conn.localAddress, port: conn.localPort },
          data: ev.data,
        });
        const parsed = parseMessage(ev.data);
        if (!parsed.ok) {
          this.stats.parseErrors++;
          continue;
        }
        this.deliver({ message: parsed.message, transport: dest.transport, source: { address: dest.host, port: dest.port }, connectionKey: conn.key });
      }
    }
  }

  /** Sends a message (call prepare() first for TCP/TLS to learn the local address). */
  async send(message: SipMessage, dest: Destination): Promise<void> {
    if (this.closed) throw new TransportError('ECLOSED', 'send', 'transport closed');
    const data = serializeMessage(message);
    this.stats.sent++;
    this.opts.logger?.debug(
      { to: `${dest.transport}:${dest.host}:${dest.port}`, line: message.kind === 'request' ? `${message.method} ${message.uri}` : `${message.status} ${message.reason}`, callId: message.callId },
      'sip send',
    );
    if (dest.transport === 'udp') {
      const socket = await this.udpSocket(ipFamily(dest.host) === 6 ? 6 : 4);
      this.recordSent(data, dest, { address: this.localAddressSync(dest.host), port: socket.address().port });
      await new Promise<void>((resolve, reject) =>
        socket.send(data, dest.port, dest.host, (err) => (err ? reject(new TransportError('ESEND', 'send', `UDP send to ${dest.host}:${dest.port} failed: ${err.message}`)) : resolve())),
      );
      return;
    }
    await this.prepare(dest);
    const conn = this.conns.get(connKey(dest));
    if (!conn || conn.socket.destroyed) throw new TransportError('ECLOSED', 'send', `connection to ${dest.host}:${dest.port} is closed`);
    this.recordSent(data, dest, { address: conn.localAddress, port: conn.localPort });
    conn.socket.write(data);
  }

  private recordSent(data: Buffer, dest: Destination, src: Endpoint): void {
    this.opts.recorder?.record({ direction: 'out', kind: 'sip', transport: dest.transport, src, dst: { address: dest.host, port: dest.port }, data });
  }

  /** The certificate chain the TLS peer at `dest` presented (kept for the cert probe). */
  peerCertificate(dest: Destination): DetailedPeerCertificate | undefined {
    return this.conns.get(connKey(dest))?.peerCertificate;
  }

  tlsProtocol(dest: Destination): string | undefined {
    return this.conns.get(connKey(dest))?.tlsProtocol;
  }

  /** Idempotent: closes every socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    this.udp4?.close();
    this.udp6?.close();
    this.udp4 = undefined;
    this.udp6 = undefined;
  }
}

function connKey(dest: Destination): string {
  return `${dest.transport}:${dest.host}:${dest.port}`;
}

/** Waits for `event` on an emitter, or rejects with mapErr(error | undefined-for-timeout). */
function waitFor(
  socket: net.Socket,
  event: string,
  timeoutMs: number,
  mapErr: (err: Error | undefined) => TransportError,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(mapErr(undefined));
    }, timeoutMs);
    const onOk = (): void => {
      cleanup();
      resolve();
    };
    const onErr = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(mapErr(err));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off(event, onOk);
      socket.off('error', onErr);
    };
    socket.once(event, onOk);
    socket.once('error', onErr);
  });
}
