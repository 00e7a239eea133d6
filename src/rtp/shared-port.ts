/**
 * Shared-port mode: many RTP sessions on ONE bound port pair (RTP even, RTCP
 * odd), for `probe answer --shared-port` (every SDP answer names the same
 * port) and load runs with many streams. Each session gets a virtual PortPair
 * whose two sockets are channels of the shared ones; what arrives is
 * demultiplexed to the right session by SSRC and source address:
 *
 * 1. The packet's SSRC (RTP bytes 8-11; RTCP, muxed or on the RTCP port: the
 *    sender's SSRC, bytes 4-7) is looked up among the SSRCs learned so far
 *    and those the signalling named (RemoteAddress.ssrc). A hit whose session
 *    has heard this kind of packet from another source, while that source
 *    belongs to a different session, goes to the session of the source (two
 *    callers that picked the same random SSRC stay apart).
 * 2. Otherwise by source address:port: the remote each session expects
 *    (setRemote(): the SDP's address and port, RTCP on its port + 1 or a=rtcp).
 *    Of several sessions expecting the same source (two shared ports talking
 *    to each other) the first that has learned no SSRC takes the stream.
 * The SSRC is learned at the first packet, so the steady state is one Map
 * lookup by number per packet. A packet nobody matches is dropped and counted
 * (`unmatched`), as a closed port would drop it. Unlike a per-call socket, a
 * shared one does not latch onto an unexpected source: a stray stream (the
 * tail of an ended call, another caller) would be taken for the next call's.
 * So a far end behind a NAT that rewrites its address or port, whose SDP does
 * not name its SSRC, is not heard on a shared port (give it a port range).
 *
 * With udpio, a known stream's packets from its known source skip the Buffer and the
 * 'message' events: the session's fast receiver takes them in place (onRtpFast).
 *
 * Sends go out of the shared socket: with udpio, the sends of one pacer
 * wake-up are one run of one socket, i.e. sendmmsg() batches. Send errors
 * (asynchronous, not tied to a datagram) are counted (`sendErrors`), not
 * attributed to a session.
 */
import { EventEmitter } from 'node:events';
import { bindPair, PortAllocatorError, type PortPair, type PortSource } from './ports.js';
import { DEFAULT_RTP_DSCP } from './dscp.js';
import { deliverMessage, type DatagramView, type FastReceiver, type MediaMessageListener, type MediaRemoteInfo, type MediaSocket } from './udp.js';
import type { Logger } from '../log.js';

/** SO_RCVBUF asked for the shared RTP socket (RTCP: a quarter). */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

const RTP = 0;
const RTCP = 1;
type Kind = typeof RTP | typeof RTCP;

/** One virtual pair: the two channels and what the demultiplexer learned about its streams. */
class Member {
  readonly channels: [Channel, Channel];
  /** SSRCs learned from (or named for) this session's remote. */
  readonly ssrcs = new Set<number>();
  /** Where each kind of packet came from first (undefined: nothing yet). */
  readonly source: [{ address: string; port: number } | undefined, { address: string; port: number } | undefined] = [undefined, undefined];
  /** The source keys ("address:port") this session expects, per kind. */
  readonly expected: [string | undefined, string | undefined] = [undefined, undefined];
  closed = false;
  constructor(readonly port: SharedPort) {
    this.channels = [new Channel(this, RTP), new Channel(this, RTCP)];
  }
}

/** A session's view of one shared socket (a MediaSocket). */
class Channel extends EventEmitter implements MediaSocket {
  readonly sendsSynchronously: boolean;
  /** @internal the session's fast receiver (udp.ts FastReceiver), called by SharedPort.onRtpFast. */
  fast: FastReceiver | undefined;
  constructor(
    private readonly member: Member,
    private readonly kind: Kind,
  ) {
    super();
    this.sendsSynchronously = member.port.socket(kind).sendsSynchronously === true;
  }

  /** @internal from the demultiplexer */
  deliver(msg: Buffer, rinfo: MediaRemoteInfo): void {
    deliverMessage(this, msg, rinfo);
  }

  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void {
    if (this.member.closed) {
      const err = Object.assign(new Error('send EBADF (shared-port channel closed)'), { code: 'EBADF' });
      if (callback) process.nextTick(callback, err);
      return;
    }
    this.member.port.socket(this.kind).send(msg, port, address, callback);
  }

  setFastReceiver(fn: FastReceiver | undefined): void {
    this.fast = fn;
  }

  /** @internal the fast receiver, while the session's is the one 'message' listener (as udp.ts dispatch() checks). */
  fastReceiver(): FastReceiver | undefined {
    return typeof (this as unknown as { _events: Record<string, unknown> })._events.message === 'function' ? this.fast : undefined;
  }

  /** The remote this session's signalling names (RtpSession.setRemote): how its packets are recognised. */
  expectRemote(address: string, port: number, ssrc?: number): void {
    this.member.port.expect(this.member, this.kind, address, port, ssrc);
  }

  address(): { address: string; family: string; port: number } {
    return this.member.port.socket(this.kind).address();
  }

  close(callback?: () => void): this {
    this.member.port.detach(this.member);
    process.nextTick(() => this.emit('close'));
    if (callback) process.nextTick(callback);
    return this;
  }
}

/** The SSRC a packet carries (see the module comment), or -1. */
function ssrcOf(msg: Buffer): number {
  if (msg.length < 8 || (msg[0] ?? 0) >> 6 !== 2) return -1;
  const pt = msg[1] ?? 0;
  if (pt >= 192 && pt <= 223) return msg.readUInt32BE(4);
  return msg.length >= 12 ? msg.readUInt32BE(8) : -1;
}

export interface SharedPortOptions {
  /** Local address to bind (an address callers reach). */
  address: string;
  /** The RTP port (even; RTCP on port + 1). 0 is not allowed: the SDP must name it. */
  port: number;
  /** Most sessions at once; allocate() rejects with E_PORTS_EXHAUSTED beyond. Default 1000. */
  capacity?: number;
  dscp?: number | null;
  logger?: Logger;
}

/**
 * One bound RTP/RTCP port pair shared by many sessions: a PortSource
 * (PortAllocator's interface) whose allocate() hands out virtual pairs.
 */
export class SharedPort implements PortSource {
  readonly capacity: number;
  /** Datagrams no session matched (dropped). */
  unmatched = 0;
  /** Send errors reported by the shared sockets. */
  sendErrors = 0;
  private readonly members = new Set<Member>();
  private readonly bySsrc = new Map<number, Member>();
  private readonly bySource: [Map<string, Member[]>, Map<string, Member[]>] = [new Map(), new Map()];

  private constructor(
    private readonly pair: PortPair,
    capacity: number,
  ) {
    this.capacity = capacity;
    pair.rtp.on('message', this.onRtp);
    pair.rtp.setFastReceiver?.(this.onRtpFast);
    pair.rtcp.on('message', this.onRtcp);
    pair.rtp.on('error', this.onError);
    pair.rtcp.on('error', this.onError);
  }

  /** Binds address:port and port + 1 (rejects with the bind error, e.g. EADDRINUSE). */
  static async open(opts: SharedPortOptions): Promise<SharedPort> {
    if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port % 2 !== 0 || opts.port > 65534) {
      throw new PortAllocatorError('E_PORT_RANGE', `shared RTP port must be an even port 2-65534, got ${opts.port}`);
    }
    const mark = { dscp: opts.dscp === undefined ? DEFAULT_RTP_DSCP : opts.dscp, ...(opts.logger ? { logger: opts.logger } : {}) };
    const pair = await bindPair(opts.address, opts.port, mark);
    // Every stream's packets queue on one socket: the default ~200 KB holds a few ms of a thousand
    // streams, so one scheduling hiccup would drop some. The kernel caps this at net.core.rmem_max.
    try {
      pair.rtp.setRecvBufferSize?.(RECV_BUFFER_BYTES);
      pair.rtcp.setRecvBufferSize?.(RECV_BUFFER_BYTES / 4);
    } catch {
      // node:dgram throws when the size is refused: the default buffer it is
    }
    return new SharedPort(pair, opts.capacity ?? 1000);
  }

  get rtpPort(): number {
    return this.pair.rtpPort;
  }

  /** Sessions on the port now. */
  get allocated(): number {
    return this.members.size;
  }

  /** @internal the shared socket of a kind */
  socket(kind: Kind): MediaSocket {
    return kind === RTP ? this.pair.rtp : this.pair.rtcp;
  }

  /** A virtual pair on the shared port; its release() takes the session off the port (the sockets stay). */
  allocate(): Promise<PortPair> {
    if (this.members.size >= this.capacity) {
      return Promise.reject(new PortAllocatorError('E_PORTS_EXHAUSTED', `shared RTP port ${this.pair.rtpPort} carries ${this.capacity} sessions already`));
    }
    const member = new Member(this);
    this.members.add(member);
    const [rtp, rtcp] = member.channels;
    let released: Promise<void> | undefined;
    const release = (): Promise<void> => {
      released ??= new Promise<void>((resolve) => {
        rtp.close();
        rtcp.close(resolve);
      });
      return released;
    };
    return Promise.resolve({ rtpPort: this.pair.rtpPort, rtcpPort: this.pair.rtcpPort, address: this.pair.address, rtp, rtcp, release });
  }

  /** Closes the shared sockets (sessions still on it stop receiving). */
  close(): Promise<void> {
    for (const m of [...this.members]) this.detach(m);
    this.pair.rtp.off('message', this.onRtp);
    this.pair.rtp.setFastReceiver?.(undefined);
    this.pair.rtcp.off('message', this.onRtcp);
    return this.pair.release();
  }

  /** @internal */
  expect(member: Member, kind: Kind, address: string, port: number, ssrc: number | undefined): void {
    if (member.closed) return;
    const key = `${address}:${port}`;
    const was = member.expected[kind];
    if (was !== key) {
      if (was !== undefined) this.unlist(this.bySource[kind], was, member);
      member.expected[kind] = key;
      const list = this.bySource[kind].get(key);
      if (list) list.push(member);
      else this.bySource[kind].set(key, [member]);
    }
    if (ssrc !== undefined && !this.bySsrc.has(ssrc >>> 0)) {
      this.bySsrc.set(ssrc >>> 0, member);
      member.ssrcs.add(ssrc >>> 0);
    }
  }

  /** @internal takes a session off the port; idempotent. */
  detach(member: Member): void {
    if (member.closed) return;
    member.closed = true;
    this.members.delete(member);
    for (const ssrc of member.ssrcs) if (this.bySsrc.get(ssrc) === member) this.bySsrc.delete(ssrc);
    for (const kind of [RTP, RTCP] as const) {
      const key = member.expected[kind];
      if (key !== undefined) this.unlist(this.bySource[kind], key, member);
    }
  }

  private unlist(map: Map<string, Member[]>, key: string, member: Member): void {
    const list = map.get(key);
    if (!list) return;
    const i = list.indexOf(member);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) map.delete(key);
  }

  private readonly onRtp: MediaMessageListener = (msg, rinfo) => this.route(RTP, msg, rinfo);
  private readonly onRtcp: MediaMessageListener = (msg, rinfo) => this.route(RTCP, msg, rinfo);
  private readonly onError = (): void => {
    this.sendErrors++;
  };

  /**
   * The fast path (udpio): an RTP packet whose SSRC is known and comes from the source its
   * session first heard it from goes to that session's fast receiver in place. Anything else
   * (a stream's first packet, RTCP-mux, a moved source) returns false untouched: route().
   */
  private readonly onRtpFast = (d: DatagramView): boolean => {
    const b = d.buf;
    const o = d.offset;
    if (d.length < 12) return false;
    const b1 = b[o + 1] as number;
    if (b1 >= 192 && b1 <= 223) return false;
    const known = this.bySsrc.get((((b[o + 8] as number) << 24) | ((b[o + 9] as number) << 16) | ((b[o + 10] as number) << 8) | (b[o + 11] as number)) >>> 0);
    const src = known?.source[RTP];
    if (known === undefined || src === undefined || src.port !== d.port || src.address !== d.address) return false;
    const fast = known.channels[RTP].fastReceiver();
    return fast !== undefined && fast(d);
  };

  private route(kind: Kind, msg: Buffer, rinfo: MediaRemoteInfo): void {
    const ssrc = ssrcOf(msg);
    const known = ssrc >= 0 ? this.bySsrc.get(ssrc) : undefined;
    if (known !== undefined) {
      const src = known.source[kind];
      if (src === undefined || (src.port === rinfo.port && src.address === rinfo.address)) {
        known.source[kind] ??= { address: rinfo.address, port: rinfo.port };
        known.channels[kind].deliver(msg, rinfo);
        return;
      }
    }
    const member = this.bySourceOf(kind, rinfo, known);
    if (member === undefined) {
      this.unmatched++;
      return;
    }
    if (ssrc >= 0 && !this.bySsrc.has(ssrc)) {
      this.bySsrc.set(ssrc, member);
      member.ssrcs.add(ssrc);
    }
    member.source[kind] ??= { address: rinfo.address, port: rinfo.port };
    member.channels[kind].deliver(msg, rinfo);
  }

  /** Step 2 of the module comment (the slow path: a stream's first packet). */
  private bySourceOf(kind: Kind, rinfo: MediaRemoteInfo, known: Member | undefined): Member | undefined {
    const list = this.bySource[kind].get(`${rinfo.address}:${rinfo.port}`);
    if (list !== undefined && list.length > 0) {
      // an SSRC another session has, from a source this list expects: two remotes picked the same SSRC
      if (known !== undefined && !list.includes(known)) return list.find((m) => m.ssrcs.size === 0) ?? list[0];
      return known ?? list.find((m) => m.ssrcs.size === 0) ?? (list.length === 1 ? list[0] : undefined);
    }
    return known; // the remote moved (a NAT rebinding): its SSRC says whose it is
  }
}
