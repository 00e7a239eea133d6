// SRTP on a call's sockets: a PortPair whose sockets protect every RTP/RTCP
// datagram the session sends (SRTP / SRTCP, RFC 3711) and verify, replay-check
// and decrypt every one it receives before the session sees it. A datagram that
// fails (bad tag, replayed index, not RTP) never reaches the session: it is not
// counted as received, so it shows up as loss, and the failure is counted here.
// Like rtp/record.ts the session does not know: sender.ts and the pacer's send
// batch (a socket's send() stages into it) are untouched, and the protected copy
// is handed to the inner socket at once, so the caller may reuse its buffer.
import type { PortPair } from './ports.js';
import { SrtpContext, type SrtpSuite } from './srtp.js';
import type { MediaMessageListener, MediaRemoteInfo, MediaSocket } from './udp.js';

/** The keys of one SDES exchange: ours protects what we send, the peer's what we receive. */
export interface SrtpKeys {
  suite: SrtpSuite;
  /** Our master key ‖ salt (30 bytes), as we offered/answered it. */
  local: Buffer;
  /** The peer's master key ‖ salt. */
  remote: Buffer;
}

/** What the receive side of one SRTP session saw (packets the session never got included). */
export interface SrtpReceiveCounters {
  suite: SrtpSuite;
  /** SRTP + SRTCP packets that authenticated and were decrypted. */
  packets_authenticated: number;
  /** Tag did not verify: dropped. */
  auth_failures: number;
  /** Index already seen or older than the 64-packet window: dropped. */
  replays: number;
  /** Too short or not RTP/RTCP: dropped. */
  malformed: number;
  /** SRTP + SRTCP packets protected and sent. */
  packets_protected: number;
}

/** RTCP packet types 200-204 share the RTP port under rtcp-mux (RFC 5761 §4). */
function isRtcp(data: Uint8Array, rtcpSocket: boolean): boolean {
  const pt = data[1] ?? 0;
  return rtcpSocket || (pt >= 192 && pt <= 223);
}

function asBuffer(msg: Uint8Array): Buffer {
  return Buffer.isBuffer(msg) ? msg : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
}

class SrtpSocket implements MediaSocket {
  /** protect() writes a new buffer before send() returns: the caller's may be reused at once. */
  readonly sendsSynchronously = true;
  private readonly listeners: MediaMessageListener[] = [];

  constructor(
    private readonly inner: MediaSocket,
    private readonly tx: SrtpContext,
    private readonly rx: SrtpContext,
    private readonly rtcp: boolean,
  ) {
    inner.on('message', this.onMessage);
  }

  private readonly onMessage: MediaMessageListener = (msg: Buffer, rinfo: MediaRemoteInfo) => {
    const r = isRtcp(msg, this.rtcp) ? this.rx.unprotectRtcp(msg) : this.rx.unprotectRtp(msg);
    if (!r.ok) return;
    for (const l of this.listeners) l.call(this, r.packet, rinfo);
  };

  on(event: 'message', listener: MediaMessageListener): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'message' | 'error', listener: never): this {
    if (event === 'message') this.listeners.push(listener);
    else this.inner.on('error', listener);
    return this;
  }

  off(event: 'message', listener: MediaMessageListener): this;
  off(event: 'error', listener: (err: Error) => void): this;
  off(event: 'message' | 'error', listener: never): this {
    if (event === 'message') {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    } else {
      this.inner.off('error', listener);
    }
    return this;
  }

  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void {
    const plain = asBuffer(msg);
    let out: Buffer;
    try {
      out = isRtcp(plain, this.rtcp) ? this.tx.protectRtcp(plain) : this.tx.protectRtp(plain);
    } catch (err) {
      // Never send a packet in clear on a protected session.
      if (callback) process.nextTick(callback, err as Error);
      return;
    }
    this.inner.send(out, port, address, callback);
  }

  close(callback?: () => void): this {
    this.inner.off('message', this.onMessage);
    this.listeners.length = 0;
    this.inner.close(callback);
    return this;
  }

  address(): { address: string; family: string; port: number } {
    return this.inner.address();
  }

  expectRemote(address: string, port: number, ssrc?: number): void {
    this.inner.expectRemote?.(address, port, ssrc);
  }
}

/** A PortPair protected with SRTP, and what its receive side counted. */
export interface SrtpPortPair {
  pair: PortPair;
  counters(): SrtpReceiveCounters;
}

/** Wraps both sockets of `pair` (RTP and RTCP, rtcp-mux included) with the keys of one SDES exchange. */
export function srtpPair(pair: PortPair, keys: SrtpKeys): SrtpPortPair {
  const tx = new SrtpContext(keys.suite, keys.local);
  const rx = new SrtpContext(keys.suite, keys.remote);
  return {
    pair: {
      rtpPort: pair.rtpPort,
      rtcpPort: pair.rtcpPort,
      address: pair.address,
      rtp: new SrtpSocket(pair.rtp, tx, rx, false),
      rtcp: new SrtpSocket(pair.rtcp, tx, rx, true),
      release: () => pair.release(),
    },
    counters: () => ({
      suite: keys.suite,
      packets_authenticated: rx.counters.unprotected,
      auth_failures: rx.counters.auth_failures,
      replays: rx.counters.replays,
      malformed: rx.counters.malformed,
      packets_protected: tx.counters.protected,
    }),
  };
}
