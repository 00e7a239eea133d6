// The sending half of an RTP session: paces frames of the audio source (or DTMF events)
// onto the shared pacer with absolute deadlines, writes the fixed header in place, and
// keeps what an RTCP sender report needs (RFC 3550 §6.4.1). Sequence numbers are
// consecutive; the RTP timestamp follows the pacer tick, so ticks the pacer had to skip
// show up as a timestamp gap, not as loss; after a pause the timestamp goes on from where
// the sampling clock is now (§5.1), never back. Marker bit on the first packet and on the
// first one after a resume (RFC 3551 §4.1).
import type { Clock } from './clock.js';
import type { DtmfSender } from './dtmf-sender.js';
import type { Pacer, PacerSlot } from './pacer.js';
import type { MediaSocket } from './udp.js';
import { RTP_HEADER } from './rtp-header.js';
import type { SenderInfo } from './rtcp.js';

/** Where RTP goes. */
export interface RemoteAddress {
  address: string;
  port: number;
  /** RTCP port; default port + 1 (RFC 3550 §11), or from SDP a=rtcp. */
  rtcpPort?: number;
  /** The far end's SSRC when known (SDP a=ssrc): tells its stream apart on a shared port. */
  ssrc?: number;
}

export interface RtpSenderOptions {
  socket: MediaSocket;
  pacer: Pacer;
  clock: Clock;
  ssrc: number;
  payloadType: number;
  ptimeMs: number;
  /** RTP clock rate (timestamp units per second) and ticks per frame. */
  clockRate: number;
  ticksPerFrame: number;
  frames: readonly Uint8Array[];
  telephoneEventPt: number;
  dtmf: DtmfSender;
  /** Initial sequence number and RTP timestamp (random, RFC 3550 §5.1). */
  seq: number;
  tsBase: number;
  /** Told which audio frame (index into `frames`) each packet carried, and when it left (clock ms). */
  onFrameSent?: (frameIndex: number, nowMs: number) => void;
}

export class RtpSender {
  /** Where packets go (SDP answer, or the latched source). */
  remote: RemoteAddress | undefined;
  /** Packets of the measured stream (the tail after finish() is not among them). */
  packetsSent = 0;
  /** Packets sent after the measured stream by finish() (RTCP's packet count includes them). */
  tailSent = 0;
  /** Tail frames still to send after finish(); undefined while the measured stream runs. */
  private tailLeft: number | undefined;
  private octetsSent = 0;
  private slot: PacerSlot | undefined;
  /** Pacer ticks skipped by the slots of earlier start()s (a slot's count goes with it). */
  private skippedBefore = 0;
  private seq: number;
  /** RTP timestamp of pacer tick 0 of the current slot (moves forward at each resume). */
  private tsBase: number;
  /** Pacer deadline (NaN before the first) and RTP timestamp of the last tick sent, for continuing after a resume. */
  private lastTickDeadline = Number.NaN;
  private lastTickTs = 0;
  /** Clock ms of tick 0 of the current slot (frame `tick % frames` goes out at tickZeroMs + tick·ptime). */
  tickZeroMs = Number.NaN;
  /** Set the marker bit on the next packet (first after a start). */
  private markNext = true;
  private sendView = Buffer.alloc(0);
  private lastSentTs = 0;
  private lastSentAtMs = 0;
  private sentSinceReport = false;

  constructor(private readonly o: RtpSenderOptions) {
    this.seq = o.seq;
    this.tsBase = o.tsBase;
  }

  /** Whether the pacer drives this sender now. */
  get pacing(): boolean {
    return this.slot !== undefined;
  }

  /** Pacer ticks skipped because the process was too late to send, over every start() so far. */
  get skipped(): number {
    return this.skippedBefore + (this.slot?.skipped ?? 0);
  }

  /** Starts pacing (no-op while pacing or with no remote). */
  start(): void {
    if (this.slot || !this.remote) return;
    const lastDeadline = this.lastTickDeadline;
    const { pacer, ptimeMs } = this.o;
    if (Number.isNaN(lastDeadline)) {
      this.slot = pacer.add(ptimeMs, this.onTick);
      return;
    }
    // Resume: RFC 3550 §5.1, the timestamp keeps running with the sampling clock
    // through the pause; restarting at tick 0 would send it back in time, and the
    // receiver's jitter estimate would take the whole sent duration as transit
    // variation. Never resume faster than one packet per ptime.
    const startMs = Math.max(pacer.clock.now(), lastDeadline + ptimeMs);
    this.tsBase = (this.lastTickTs + Math.round(((startMs - lastDeadline) * this.o.clockRate) / 1000)) >>> 0;
    this.markNext = true;
    this.slot = pacer.add(ptimeMs, this.onTick, startMs);
  }

  /**
   * Ends the measured stream but keeps sending `tailFrames` more frames, not counted
   * in packetsSent, then leaves the pacer. A relay that transcodes holds the last frame
   * it got until the next one arrives (rtpengine: its resampler's delay leaves the
   * encoder FIFO one frame short, lib/codeclib.c encoder_input_fifo); the tail flushes
   * that frame, so the receiver's loss measures the network, not the relay's hold.
   * Returns which packets the tail is (SSRC and sequence numbers) for a receiver of ours.
   */
  finish(tailFrames: number): { ssrc: number; firstSeq: number; frames: number } | undefined {
    if (!this.slot || tailFrames <= 0) {
      this.stop();
      return undefined;
    }
    this.tailLeft = tailFrames;
    return { ssrc: this.o.ssrc, firstSeq: this.seq, frames: tailFrames };
  }

  /** Leaves the pacer. */
  stop(): void {
    this.tailLeft = undefined;
    this.skippedBefore += this.slot?.skipped ?? 0;
    this.slot?.remove();
    this.slot = undefined;
  }

  private readonly onTick = (tick: number, deadline: number, now: number): void => {
    const remote = this.remote;
    if (!remote) return;
    const o = this.o;
    const ts = (this.tsBase + tick * o.ticksPerFrame) >>> 0;
    this.tickZeroMs = deadline - tick * o.ptimeMs;
    this.lastTickDeadline = deadline;
    this.lastTickTs = ts;
    let payload: Uint8Array;
    let pt = o.payloadType;
    let marker = this.markNext;
    this.markNext = false;
    let packetTs = ts;
    const event = o.dtmf.next(ts);
    if (event) {
      payload = event.payload;
      pt = o.telephoneEventPt;
      marker = event.marker;
      packetTs = event.ts;
    } else {
      const frame = tick % o.frames.length;
      payload = o.frames[frame] as Uint8Array;
      o.onFrameSent?.(frame, now);
    }
    // A socket whose send() copies the bytes out before returning (udpio) lets
    // one buffer serve every packet; node:dgram sends later, so a fresh one.
    const size = RTP_HEADER + payload.length;
    let buf: Buffer;
    if (o.socket.sendsSynchronously === true) {
      if (this.sendView.length !== size) this.sendView = Buffer.allocUnsafe(size);
      buf = this.sendView;
    } else {
      buf = Buffer.allocUnsafe(size);
    }
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | pt;
    buf.writeUInt16BE(this.seq, 2);
    buf.writeUInt32BE(packetTs, 4);
    buf.writeUInt32BE(o.ssrc, 8);
    buf.set(payload, RTP_HEADER);
    this.seq = (this.seq + 1) & 0xffff;
    // No per-packet callback: a send error surfaces as the socket's 'error' event.
    o.socket.send(buf, remote.port, remote.address);
    if (this.tailLeft === undefined) this.packetsSent++;
    else this.tailSent++;
    this.octetsSent += payload.length;
    this.sentSinceReport = true;
    this.lastSentTs = ts;
    this.lastSentAtMs = now;
    if (this.tailLeft !== undefined && --this.tailLeft <= 0) this.stop();
  };

  /** Echo mode: sends a received packet back to the remote with our SSRC. */
  reflect(msg: Buffer): void {
    const remote = this.remote;
    if (!remote) return;
    const copy = Buffer.allocUnsafe(msg.length);
    msg.copy(copy);
    copy.writeUInt32BE(this.o.ssrc, 8);
    this.o.socket.send(copy, remote.port, remote.address);
    this.packetsSent++;
    this.octetsSent += msg.length - RTP_HEADER;
    this.sentSinceReport = true;
    this.lastSentTs = copy.readUInt32BE(4);
    this.lastSentAtMs = this.o.clock.now();
  }

  /**
   * The sender info of an RTCP SR at `now` (clock ms; `ntp` its wall-clock NTP time), or
   * undefined when we sent nothing since the last report and are not pacing (then an RR).
   */
  takeSenderInfo(now: number, ntp: SenderInfo['ntp']): SenderInfo | undefined {
    const info =
      this.sentSinceReport || (this.slot && this.packetsSent + this.tailSent > 0)
        ? {
            ntp,
            rtpTimestamp: (this.lastSentTs + Math.round(((now - this.lastSentAtMs) * this.o.clockRate) / 1000)) >>> 0,
            packetCount: this.packetsSent + this.tailSent,
            octetCount: this.octetsSent,
          }
        : undefined;
    this.sentSinceReport = false;
    return info;
  }
}
