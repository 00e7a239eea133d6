// The media engine's evidence hook: a PortPair whose sockets hand every RTP and
// RTCP datagram they send or receive to a PacketRecorder, received ones with
// the kernel receive stamp when the udpio addon gives one. The session never
// knows it is being recorded; without a recorder nothing is wrapped.
import type { PacketRecorder } from '../evidence/recorder.js';
import { epochAtMonotonicZero } from './clock.js';
import type { PortPair } from './ports.js';
import type { MediaMessageListener, MediaRemoteInfo, MediaSocket } from './udp.js';


/** RTCP packet types 192-223 share the RTP port under rtcp-mux (RFC 5761 §4). */
function kindOf(data: Uint8Array, rtcpSocket: boolean): 'rtp' | 'rtcp' {
  const pt = data[1] ?? 0;
  return rtcpSocket || (pt >= 192 && pt <= 223) ? 'rtcp' : 'rtp';
}

class RecordedSocket implements MediaSocket {
  readonly sendsSynchronously: boolean | undefined;

  constructor(
    private readonly inner: MediaSocket,
    private readonly recorder: PacketRecorder,
    private readonly localAddress: string,
    private readonly rtcp: boolean,
  ) {
    this.sendsSynchronously = inner.sendsSynchronously;
    // Registered before the session's listener, so a packet is on record before it is handled.
    inner.on('message', this.onMessage);
  }

  private readonly onMessage: MediaMessageListener = (msg: Buffer, rinfo: MediaRemoteInfo) => {
    this.recorder.record({
      direction: 'in',
      kind: kindOf(msg, this.rtcp),
      transport: 'udp',
      src: { address: rinfo.address, port: rinfo.port },
      dst: { address: this.localAddress, port: this.inner.address().port },
      data: msg,
      ...(rinfo.arrivalMs !== undefined ? { at: epochAtMonotonicZero + rinfo.arrivalMs } : {}),
    });
  };

  on(event: 'message', listener: MediaMessageListener): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'message' | 'error', listener: never): this {
    this.inner.on(event as 'message', listener);
    return this;
  }

  off(event: 'message', listener: MediaMessageListener): this;
  off(event: 'error', listener: (err: Error) => void): this;
  off(event: 'message' | 'error', listener: never): this {
    this.inner.off(event as 'message', listener);
    return this;
  }

  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void {
    this.recorder.record({
      direction: 'out',
      kind: kindOf(msg, this.rtcp),
      transport: 'udp',
      src: { address: this.localAddress, port: this.inner.address().port },
      dst: { address, port },
      data: msg,
    });
    this.inner.send(msg, port, address, callback);
  }

  close(callback?: () => void): this {
    this.inner.off('message', this.onMessage);
    this.inner.close(callback);
    return this;
  }

  address(): { address: string; family: string; port: number } {
    return this.inner.address();
  }
}

/** The same pair, recorded; `localAddress` is what our side is called in the evidence (the SDP's address). */
export function recordedPair(pair: PortPair, recorder: PacketRecorder, localAddress = pair.address): PortPair {
  return {
    rtpPort: pair.rtpPort,
    rtcpPort: pair.rtcpPort,
    address: pair.address,
    rtp: new RecordedSocket(pair.rtp, recorder, localAddress, false),
    rtcp: new RecordedSocket(pair.rtcp, recorder, localAddress, true),
    release: () => pair.release(),
  };
}
