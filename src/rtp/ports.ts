/**
 * The one RTP port allocator: even RTP / odd RTCP pairs (RFC 3550 §11) from a
 * configured sub-range of 10000–20000 (default 16000–16999), handed out as
 * already-bound sockets so no other process can slip in between the bind
 * test and the use. A pair whose bind fails with EADDRINUSE (the PBX or
 * rtpengine holds it) is skipped; a pair is never handed out twice while in
 * use; `release()` closes both sockets and returns the pair to the pool.
 */
import { createSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { bindUdpio, openUdpioSockets, type MediaSocket } from './udp.js';
import { DEFAULT_RTP_DSCP, markSocket } from './dscp.js';
import type { Logger } from '../log.js';

/** The DSCP a pair's sockets get, and where a failure to set it is logged. */
interface Mark {
  dscp: number | null;
  logger?: Logger;
}

export const RTP_PORT_FLOOR = 10000;
export const RTP_PORT_CEILING = 20000;

export interface PortAllocatorOptions {
  /** Lowest port of the range (rounded up to even). Default 16000. */
  min?: number;
  /** Highest port of the range (the last pair must fit). Default 16999. */
  max?: number;
  /** Local address to bind. Default 0.0.0.0. */
  address?: string;
  /** Socket family. Default udp4 (udp6 for an IPv6 address). */
  type?: 'udp4' | 'udp6';
  /** Applied to each pair handed out (evidence: rtp/record.ts's recordedPair). */
  wrap?: (pair: PortPair) => PortPair;
  /** DSCP of both sockets of every pair (default EF, 46; null: unmarked). */
  dscp?: number | null;
  /** Where a DSCP that cannot be set is reported (once per process). */
  logger?: Logger;
}

/** A bound RTP/RTCP socket pair; `release()` is idempotent. */
export interface PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly address: string;
  readonly rtp: MediaSocket;
  readonly rtcp: MediaSocket;
  release(): Promise<void>;
}

/**
 * Where a call gets its port pair: a range of pairs (PortAllocator) or one pair
 * shared by every call (shared-port.ts). allocate() rejects with
 * PortAllocatorError E_PORTS_EXHAUSTED when full.
 */
export interface PortSource {
  allocate(): Promise<PortPair>;
  /** Pairs (sessions) handed out now. */
  readonly allocated: number;
  /** Most pairs (sessions) at once. */
  readonly capacity: number;
}

export class PortAllocatorError extends Error {
  constructor(
    readonly code: 'E_PORT_RANGE' | 'E_PORTS_EXHAUSTED',
    message: string,
  ) {
    super(message);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * dgram resolves the destination of every send() through dns.lookup, which
 * costs a nextTick per packet even for an IP literal. Media always goes to IP
 * literals (from SDP or latching), so answer those synchronously.
 */
function literalFirstLookup(host: string, family: unknown, callback: LookupCallback): void {
  const version = isIP(host);
  if (version !== 0) callback(null, host, version);
  else dnsLookup(host, { family: family === 6 ? 6 : 4 }, callback);
}

/** node:dgram media sockets open now (the fallback when udpio is not in use). */
let openDgramSockets = 0;

/** Media sockets this process holds open, udpio and node:dgram together (tests assert 0 after a call). */
export function openMediaSockets(): number {
  return openUdpioSockets() + openDgramSockets;
}

function bindSocket(type: 'udp4' | 'udp6', port: number, address: string): Promise<MediaSocket> {
  try {
    const native = bindUdpio(type, address, port);
    if (native) return Promise.resolve(native);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type, reuseAddr: false, lookup: literalFirstLookup as never });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      openDgramSockets++;
      socket.once('close', () => openDgramSockets--);
      resolve(socket);
    });
  });
}

function closeSocket(socket: MediaSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export class PortAllocator implements PortSource {
  readonly min: number;
  readonly max: number;
  readonly address: string;
  private readonly type: 'udp4' | 'udp6';
  private readonly wrap: ((pair: PortPair) => PortPair) | undefined;
  private readonly mark: Mark;
  private readonly inUse = new Set<number>();
  /** Next RTP port to try: round robin, so a just-released pair is reused last. */
  private cursor: number;

  constructor(opts: PortAllocatorOptions = {}) {
    const min = opts.min ?? 16000;
    const max = opts.max ?? 16999;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < RTP_PORT_FLOOR || max > RTP_PORT_CEILING) {
      throw new PortAllocatorError(
        'E_PORT_RANGE',
        `RTP port range ${min}-${max} must lie within ${RTP_PORT_FLOOR}-${RTP_PORT_CEILING}`,
      );
    }
    this.min = min % 2 === 0 ? min : min + 1;
    this.max = max;
    if (this.min + 1 > this.max) {
      throw new PortAllocatorError('E_PORT_RANGE', `RTP port range ${min}-${max} holds no even/odd pair`);
    }
    this.address = opts.address ?? '0.0.0.0';
    this.type = opts.type ?? (this.address.includes(':') ? 'udp6' : 'udp4');
    this.cursor = this.min;
    this.wrap = opts.wrap;
    this.mark = { dscp: opts.dscp === undefined ? DEFAULT_RTP_DSCP : opts.dscp, ...(opts.logger ? { logger: opts.logger } : {}) };
  }

  /** Number of pairs the range holds. */
  get capacity(): number {
    return Math.floor((this.max - this.min + 1) / 2);
  }

  /** Number of pairs currently handed out. */
  get allocated(): number {
    return this.inUse.size;
  }

  /** Binds the next free pair; rejects with E_PORTS_EXHAUSTED when every pair is busy. */
  async allocate(): Promise<PortPair> {
    for (let tries = 0; tries < this.capacity; tries++) {
      const rtpPort = this.cursor;
      this.cursor = rtpPort + 2 + 1 > this.max ? this.min : rtpPort + 2;
      if (this.inUse.has(rtpPort)) continue;
      this.inUse.add(rtpPort); // reserve before awaiting, so concurrent calls skip it
      const pair = await this.tryBind(rtpPort);
      if (pair) return this.wrap ? this.wrap(pair) : pair;
      this.inUse.delete(rtpPort);
    }
    throw new PortAllocatorError('E_PORTS_EXHAUSTED', `no free RTP port pair in ${this.min}-${this.max}`);
  }

  private async tryBind(rtpPort: number): Promise<PortPair | undefined> {
    try {
      return await bindPairOnce(this.type, this.address, rtpPort, () => this.inUse.delete(rtpPort), this.mark);
    } catch (err) {
      if (isBusy(err)) return undefined;
      throw err;
    }
  }
}

async function bindPairOnce(
  type: 'udp4' | 'udp6',
  address: string,
  rtpPort: number,
  onRelease: () => void,
  mark: Mark,
): Promise<PortPair> {
  const rtp = await bindSocket(type, rtpPort, address);
  let rtcp: MediaSocket;
  try {
    rtcp = await bindSocket(type, rtpPort + 1, address);
  } catch (err) {
    await closeSocket(rtp);
    throw err;
  }
  // RTP and RTCP alike: the receiver's reports travel with the voice they describe.
  markSocket(rtp, 'rtp', mark.dscp, mark.logger);
  markSocket(rtcp, 'rtp', mark.dscp, mark.logger);
  let released: Promise<void> | undefined;
  const release = (): Promise<void> => {
    released ??= Promise.all([closeSocket(rtp), closeSocket(rtcp)]).then(onRelease);
    return released;
  };
  return { rtpPort, rtcpPort: rtpPort + 1, address, rtp, rtcp, release };
}

/**
 * Binds an explicit RTP port and the next one for RTCP (e.g. `probe rtp listen
 * --bind 127.0.0.1:16000`), outside any allocator range. Rejects with the
 * socket error (EADDRINUSE etc.).
 */
export function bindPair(address: string, rtpPort: number, mark: Mark = { dscp: DEFAULT_RTP_DSCP }): Promise<PortPair> {
  return bindPairOnce(address.includes(':') ? 'udp6' : 'udp4', address, rtpPort, () => undefined, mark);
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'EADDRINUSE' || code === 'EACCES';
}
