/**
 * RtpSession: one audio stream (G.711, G.722 or Opus), sent and received on one port pair.
 *
 * - Sends 20 ms (ptime) frames of the audio source on the shared pacer
 *   (absolute deadlines). Sequence numbers are consecutive; the RTP timestamp
 *   follows the pacer tick, so ticks the pacer had to skip show up as a
 *   timestamp gap, not as loss. After stop() + start() (hold/resume) the
 *   timestamp goes on from where the sampling clock is now, i.e. it jumps
 *   forward by the paused time (RFC 3550 §5.1), never back. Marker bit on the
 *   first packet and on the first one after a resume (RFC 3551 §4.1: first
 *   packet of a talkspurt).
 * - Receives on the same socket (symmetric RTP, RFC 4961) and keeps RFC 3550
 *   statistics per SSRC (stats.ts). With `latch` (default) it sends to where
 *   media actually comes from once the first packet arrives, as relays and
 *   NATs require.
 * - RTCP on the odd port (or muxed on the RTP port, RFC 5761, when the peer
 *   does that): compound SR/RR + SDES CNAME every ~5 s (RFC 3550 §6.2,
 *   randomised 0.5–1.5×), RTT from LSR/DLSR (§6.4.1), BYE on close.
 * - RFC 4733 DTMF: `sendDtmf()` replaces audio with telephone-event packets;
 *   received events are reported as `dtmf` events.
 * - `reflect` mode (for `probe rtp echo`): every received RTP packet is sent
 *   back to its source with this session's SSRC and nothing else is sent.
 *
 * The session composes its parts and owns the sockets and the latching:
 * sender.ts (pacing, the header written in place), dtmf-sender.ts (RFC 4733
 * events in place of audio), receive-streams.ts (per-SSRC statistics and DTMF
 * detection, apart from I/O), rtcp-reporter.ts (SR/RR, RTT, BYE). RTCP packets
 * are built/parsed by rtcp.ts, RTP headers read in place (rtp-header.ts).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { emptyTransitions } from '../quality/burst.js';
import { computeQuality } from '../quality/emodel.js';
import { ActivityTracker, coverMediaPhase, withoutTail, type Silence } from './activity.js';
import { defaultAudioSource, encodedFrames, SAMPLE_RATE, type AudioSource } from './audio.js';
import { monotonicClock, type Clock } from './clock.js';
import type { DetectedDigit } from './dtmf.js';
import { DtmfSender } from './dtmf-sender.js';
import { clockRateOf, codecOfPayloadType, payloadTypeOf, ptimesOf, type AudioCodec } from './codec.js';
import { sharedPacer, type Pacer } from './pacer.js';
import type { PortPair } from './ports.js';
import { ReceiveStreams, type AudioTap, type ReceivedStream } from './receive-streams.js';
import { RtcpReporter, type RemoteReport } from './rtcp-reporter.js';
import type { ParsedRtcp } from './rtcp.js';
import { RTP_HEADER, rtpPayloadStart } from './rtp-header.js';
import { RtpSender, type RemoteAddress } from './sender.js';
import type { DatagramView, MediaRemoteInfo } from './udp.js';
import { round } from '../round.js';

export type { ReceivedStream } from './receive-streams.js';
export type { RemoteReport } from './rtcp-reporter.js';
export type { RemoteAddress } from './sender.js';

export interface RtpSessionOptions {
  /** Bound socket pair from PortAllocator.allocate() or bindPair(). Released by close(). */
  ports: PortPair;
  codec?: AudioCodec;
  /** RTP payload type to send the codec with: the one the far end's SDP gave it (Opus is dynamic). Default the codec's own. */
  payloadType?: number;
  /** Dynamic payload types the receive side reads as a codec (its clock rate), besides our own: `probe rtp listen` (111 = opus). */
  payloadCodecs?: ReadonlyMap<number, AudioCodec>;
  /** Packetisation time in ms (10–60, multiple of 10; Opus 10, 20, 40, 60). Default 20. */
  ptimeMs?: number;
  audio?: AudioSource;
  /** Where to send; can also come later with setRemote() (SDP answer) or from latching. */
  remote?: RemoteAddress;
  pacer?: Pacer;
  clock?: Clock;
  /** Wall clock in ms since the epoch (RTCP NTP timestamps, first/last packet times). Default Date.now. */
  wallClock?: () => number;
  ssrc?: number;
  cname?: string;
  /** RFC 4733 telephone-event payload type. Default 101. */
  telephoneEventPt?: number;
  /** Mean RTCP report interval in ms; 0 disables RTCP reports. Default 5000. */
  rtcpIntervalMs?: number;
  /** Symmetric RTP latching. Default true. */
  latch?: boolean;
  /** Echo mode: reflect every received RTP packet, send nothing else. */
  reflect?: boolean;
  /**
   * Decoded-audio tap: called at each received stream's first packet; the sink it returns
   * gets every packet's PCM (receive-streams.ts AudioSink). Undefined: nothing is decoded.
   */
  audioTap?: AudioTap;
  /** Told which frame of the audio source each packet carried and when it left (marker send times). */
  onFrameSent?: (frameIndex: number, samplesPerFrame: number, nowMs: number) => void;
}

/** What a receiver measured for one direction (RFC 3550 A.1/A.3/A.8): one shape for every report. */
export interface ReceiveFigures {
  packets_received: number;
  packets_lost: number;
  loss_percent: number;
  duplicates: number;
  out_of_order: number;
  /** Final RFC 3550 jitter estimate. */
  jitter_ms: number;
  jitter_max_ms: number;
  /** Mean of the jitter estimate over all packets (comparable with tshark's "Mean Jitter"). */
  jitter_mean_ms: number;
  burst_ratio: number;
}

/** The packets a sender sends after its measured stream (RtpSender.finish). */
export interface TailMark {
  ssrc: number;
  /** Sequence number of the first tail packet; the tail is `frames` consecutive ones. */
  firstSeq: number;
  frames: number;
}

export interface RtpSessionStats extends ReceiveFigures {
  codec: AudioCodec;
  packets_sent: number;
  /**
   * Packets the receive direction should have delivered: RFC 3550 A.3's count,
   * or with `phase` the whole media phase (see activity.ts).
   */
  packets_expected: number;
  /**
   * Packets of the far sender's unmeasured tail that arrived (stats({ phase: { tail } })):
   * on the wire, not in packets_received. A capture of this stream shows packets_received + this.
   */
  tail_packets: number;
  /** Longest stretch without RTP since the session started (ms), the tail to now (or the stop) included. */
  longest_silence_ms: number;
  /** Where it was and when it began, in s after the session started. */
  silence: { where: Silence['where']; from_s: number };
  /** RTCP round trip (RFC 3550 §6.4.1), ms; null until an RR/SR about our SR arrived. */
  rtt_ms: number | null;
  /** Epoch ms of the first / last RTP packet received; null before any. */
  first_packet_at: number | null;
  last_packet_at: number | null;
  /** E-model of the received direction, delay = rtt/2 when known. */
  r_factor: number;
  mos: number;
  /** The E-model used: G.107 (narrowband) or G.107.1 (wideband, R on the 0–129 scale). */
  emodel: 'G.107' | 'G.107.1';
  /** Pacer ticks skipped because the process was too late to send. */
  send_skipped: number;
  /** Datagrams that were not RTP/RTCP or failed to parse. */
  invalid_packets: number;
  remote_report: RemoteReport | null;
}

export interface RtpSessionEvents {
  /** First RTP packet received (any SSRC). */
  'first-rtp': [source: RemoteAddress];
  latched: [remote: RemoteAddress];
  dtmf: [digit: DetectedDigit & { ssrc: number }];
  rtcp: [report: ParsedRtcp, from: RemoteAddress];
  /** Non-fatal trouble (send errors, socket errors). */
  warning: [err: Error];
}

function random32(): number {
  return randomBytes(4).readUInt32BE(0);
}

export class RtpSession extends EventEmitter<RtpSessionEvents> {
  readonly ssrc: number;
  /** The far sender's tail (expectTail) and how many of its packets arrived untouched. */
  private tailMark: TailMark | undefined;
  private tailSeen = 0;
  readonly codec: AudioCodec;
  readonly payloadType: number;
  readonly ptimeMs: number;
  /** RTP clock rate of the codec (8000; Opus 48000): timestamps and jitter are in its units. */
  readonly clockRate: number;
  readonly localPort: number;
  readonly localRtcpPort: number;
  private readonly ports: PortPair;
  private readonly pacer: Pacer;
  private readonly clock: Clock;
  private readonly wallOrigin: number;
  private readonly latch: boolean;
  private readonly reflect: boolean;
  private readonly sender: RtpSender;
  private readonly dtmf: DtmfSender;
  private readonly receivers: ReceiveStreams;
  private readonly rtcp: RtcpReporter;
  private readonly audio: AudioSource;
  private readonly frameCount: number;

  private latched = false;
  private rtcpLatched = false;
  /** The remote the signalling (SDP) named last. */
  private signalled: RemoteAddress | undefined;
  private wantSending = false;
  private invalid = 0;
  private gotRtp = false;
  private closing: Promise<void> | undefined;
  /** RTP arrivals (any SSRC): silences and the media phase. */
  private readonly activity: ActivityTracker;
  /** When sending stopped (end of the media phase for stats({ phase })). */
  private stoppedAtMs: number | undefined;

  constructor(opts: RtpSessionOptions) {
    super();
    this.ports = opts.ports;
    this.codec = opts.codec ?? 'PCMU';
    this.payloadType = opts.payloadType ?? payloadTypeOf(this.codec);
    this.ptimeMs = opts.ptimeMs ?? 20;
    const ptimes = ptimesOf(this.codec);
    if (!ptimes.includes(this.ptimeMs)) {
      throw new RangeError(`ptime for ${this.codec} must be ${ptimes.join(', ')} ms, got ${this.ptimeMs}`);
    }
    this.clockRate = clockRateOf(this.codec);
    // Source samples (8 kHz) per frame, and RTP clock ticks per frame (960 for 20 ms of Opus).
    const samplesPerFrame = (SAMPLE_RATE * this.ptimeMs) / 1000;
    const ticksPerFrame = (this.clockRate * this.ptimeMs) / 1000;
    this.audio = opts.audio ?? defaultAudioSource();
    const frames = encodedFrames(this.audio, this.codec, samplesPerFrame);
    this.frameCount = frames.length;
    this.pacer = opts.pacer ?? sharedPacer();
    this.clock = opts.clock ?? monotonicClock;
    this.wallOrigin = (opts.wallClock ?? Date.now)() - this.clock.now();
    this.ssrc = (opts.ssrc ?? random32()) >>> 0;
    const cname = opts.cname ?? `callprobe-${this.ssrc.toString(16)}@${opts.ports.address}`;
    const telephoneEventPt = opts.telephoneEventPt ?? 101;
    this.latch = opts.latch ?? true;
    this.reflect = opts.reflect ?? false;
    this.localPort = opts.ports.rtpPort;
    this.localRtcpPort = opts.ports.rtcpPort;
    this.activity = new ActivityTracker(this.clock.now());
    this.dtmf = new DtmfSender(this.ptimeMs, ticksPerFrame);
    this.sender = new RtpSender({
      socket: opts.ports.rtp,
      pacer: this.pacer,
      clock: this.clock,
      ssrc: this.ssrc,
      payloadType: this.payloadType,
      ptimeMs: this.ptimeMs,
      clockRate: this.clockRate,
      ticksPerFrame,
      frames,
      telephoneEventPt,
      dtmf: this.dtmf,
      seq: random32() & 0xffff,
      tsBase: random32(),
      ...(opts.onFrameSent ? { onFrameSent: (frame: number, now: number) => opts.onFrameSent?.(frame, samplesPerFrame, now) } : {}),
    });
    const codecOfPt = (pt: number): AudioCodec | undefined =>
      pt === this.payloadType ? this.codec : (opts.payloadCodecs?.get(pt) ?? codecOfPayloadType(pt));
    const clockRateOfPt = (pt: number): number => {
      const codec = pt === telephoneEventPt ? undefined : codecOfPt(pt);
      return codec ? clockRateOf(codec) : this.clockRate;
    };
    this.receivers = new ReceiveStreams(telephoneEventPt, (digit) => this.emit('dtmf', digit), opts.audioTap, codecOfPt, clockRateOfPt);
    this.rtcp = new RtcpReporter({
      socket: opts.ports.rtcp,
      clock: this.clock,
      wallOrigin: this.wallOrigin,
      ssrc: this.ssrc,
      cname,
      intervalMs: opts.rtcpIntervalMs ?? 5000,
      clockRate: this.clockRate,
      sender: this.sender,
      receivers: this.receivers,
      warn: (err) => this.emit('warning', err),
    });
    if (opts.remote) this.setRemote(opts.remote);

    opts.ports.rtp.on('message', this.onRtpMessage);
    opts.ports.rtp.setFastReceiver?.(this.onRtpFast);
    opts.ports.rtcp.on('message', this.onRtcpMessage);
    opts.ports.rtp.on('error', this.rtcp.onSendError);
    opts.ports.rtcp.on('error', this.rtcp.onSendError);
  }

  // ---- control -------------------------------------------------------------

  /** Sets where to send (SDP answer). A latched source, once seen, takes precedence. */
  setRemote(remote: RemoteAddress): void {
    this.signalled = { ...remote };
    // A shared-port channel recognises this session's streams by where they come from.
    this.ports.rtp.expectRemote?.(remote.address, remote.port, remote.ssrc);
    this.ports.rtcp.expectRemote?.(remote.address, remote.rtcpPort ?? remote.port + 1, remote.ssrc);
    if (!this.latched) this.sender.remote = { ...remote };
    if (!this.rtcpLatched) this.rtcp.remote = { address: remote.address, port: remote.rtcpPort ?? remote.port + 1 };
    this.maybeStartPacing();
  }

  /**
   * A renegotiated remote (a re-INVITE's offer): a new address or port is where
   * packets go from now on, even over a latched source (latching starts again);
   * the same one changes nothing.
   */
  redirect(remote: RemoteAddress): void {
    const was = this.signalled;
    if (was !== undefined && was.address === remote.address && was.port === remote.port) return;
    this.latched = false;
    this.rtcpLatched = false;
    this.setRemote(remote);
  }

  /** Where packets go now (after latching), if anywhere. */
  get remoteAddress(): RemoteAddress | undefined {
    const remote = this.sender.remote;
    return remote ? { ...remote } : undefined;
  }

  /** Begins sending (as soon as a remote address is known). No-op in reflect mode. */
  start(): void {
    if (this.closing || this.reflect) return;
    this.wantSending = true;
    this.stoppedAtMs = undefined;
    this.maybeStartPacing();
  }

  /**
   * Stops sending; receiving and RTCP go on until close(). With `tailFrames` the
   * measured stream ends now but that many more frames follow, outside the count
   * (RtpSender.finish: a transcoding relay's held last frame); the receiver that is
   * ours discounts them with stats({ phase: { tail } }).
   */
  stop(opts: { tailFrames?: number } = {}): TailMark | undefined {
    if (this.wantSending) this.stoppedAtMs = this.clock.now();
    this.wantSending = false;
    this.dtmf.cancel();
    if ((opts.tailFrames ?? 0) > 0) return this.sender.finish(opts.tailFrames ?? 0);
    this.sender.stop();
    return undefined;
  }

  /**
   * The far sender (ours) ends with this tail: packets of it that arrive with their
   * SSRC and sequence numbers intact are counted apart (`tail_packets`), never as
   * received. Call before the tail is on its way (right after the far stop()).
   */
  expectTail(mark: TailMark | undefined): void {
    this.tailMark = mark;
  }

  /** Packet interval (ms) of what this session sends. */
  get packetMs(): number {
    return this.ptimeMs;
  }

  /** Stops, sends an RTCP BYE if we reported before, releases sockets and the pacer slot. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasSending = this.sender.packetsSent + this.sender.tailSent > 0;
      this.stop();
      this.rtcp.stop(wasSending);
      this.ports.rtp.off('message', this.onRtpMessage);
      this.ports.rtp.setFastReceiver?.(undefined);
      this.ports.rtcp.off('message', this.onRtcpMessage);
      await this.ports.release();
      this.ports.rtp.off('error', this.rtcp.onSendError);
      this.ports.rtcp.off('error', this.rtcp.onSendError);
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Which sample of the (looped) audio source went out at epoch `epochMs`, while
   * sending: what an echo of our own audio must bring back (the samples from
   * there on are `source`'s, wrapping at `sourceLoop`).
   */
  sourcePositionAt(epochMs: number): number | undefined {
    const zero = this.sender.tickZeroMs;
    if (Number.isNaN(zero) || this.reflect) return undefined;
    const loop = this.sourceLoop;
    const at = Math.round(((epochMs - this.wallOrigin - zero) * SAMPLE_RATE) / 1000);
    return ((at % loop) + loop) % loop;
  }

  /** The audio source sent and its loop length in samples (whole frames: the last one zero-padded). */
  get source(): AudioSource {
    return this.audio;
  }

  get sourceLoop(): number {
    return this.frameCount * ((SAMPLE_RATE * this.ptimeMs) / 1000);
  }

  /** RTP packets sent so far (the sender's count a receiver's loss is checked against). */
  get sentPackets(): number {
    return this.sender.packetsSent;
  }

  /** RTP packets counted by the receive side so far, every SSRC (cheap: no stats snapshot). */
  get receivedPackets(): number {
    return this.receivers.receivedCount;
  }

  /**
   * The far end is expected to be silent (on hold) until expectMedia(); the
   * silence does not count as a media timeout.
   */
  expectSilence(): void {
    this.activity.suspend(this.clock.now());
  }

  expectMedia(): void {
    this.activity.resume(this.clock.now());
  }

  /** Whether any RTP has arrived yet (the one-way-audio check). */
  get hasReceivedRtp(): boolean {
    return this.gotRtp;
  }

  /** Resolves true on the first RTP packet, false after `timeoutMs` without one. */
  waitForRtp(timeoutMs: number): Promise<boolean> {
    if (this.hasReceivedRtp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('first-rtp', onFirst);
        resolve(false);
      }, timeoutMs);
      const onFirst = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('first-rtp', onFirst);
    });
  }

  /**
   * Sends DTMF digits as RFC 4733 events (audio pauses during each event).
   * Resolves when the last digit's end packets and pause are out.
   */
  sendDtmf(digits: string, opts: { durationMs?: number; pauseMs?: number } = {}): Promise<void> {
    return this.dtmf.enqueue(digits, opts, this.wantSending && !this.closing);
  }

  /** Digits received so far (all SSRCs, arrival order). */
  get receivedDigits(): string {
    return this.receivers.digits;
  }

  // ---- statistics ----------------------------------------------------------

  /** Per-SSRC receive statistics. */
  receivedStreams(): ReceivedStream[] {
    return this.receivers.streams();
  }

  /**
   * Session numbers; counters add up over SSRCs, jitter and burst ratio come
   * from the busiest SSRC. With `phase`, loss covers the whole media phase
   * (from the session's start until stop(), or now): packets due after the
   * last arrival count as lost, and so do packets the sender says it sent
   * (`phase.sent`, when the probe holds the sending end) but never arrived.
   */
  stats(opts: { delayMs?: number; phase?: { sent?: number | null; tail?: number } } = {}): RtpSessionStats {
    const all = this.receivers.totals();
    const main = all.main;
    const rttMs = this.rtcp.rttMs;
    // The far sender's unmeasured tail (stop({ tailFrames })): set apart on arrival when
    // its stream came through untouched, else (a relay renumbered it) taken off by count.
    const mark = this.tailMark;
    const untouched = mark !== undefined && this.receivers.streams().some((x) => x.ssrc === mark.ssrc);
    const t = opts.phase && !untouched ? withoutTail(all, opts.phase.sent ?? null, opts.phase.tail ?? 0) : all;
    const tailPackets = untouched ? this.tailSeen : all.received - t.received;
    let { expected, lost } = t;
    let lossPercent = expected > 0 ? (lost / expected) * 100 : 0;
    let burstRatio = main?.burstRatio ?? 1;
    const untilMs = this.stoppedAtMs ?? this.clock.now();
    if (opts.phase) {
      ({ expected, lost, lossPercent, burstRatio } = coverMediaPhase(
        { ...t, transitions: main?.transitions ?? emptyTransitions() },
        { untilMs, startMs: this.activity.startMs, packetMs: this.ptimeMs, lastArrivalMs: this.activity.last, sent: opts.phase.sent ?? null },
      ));
    }
    const silence = this.activity.silence(untilMs);
    const delayMs = opts.delayMs ?? (rttMs !== null ? rttMs / 2 : 0);
    const quality = computeQuality({ codec: this.codec, lossPercent, burstRatio, delayMs });
    return {
      codec: this.codec,
      packets_sent: this.sender.packetsSent,
      packets_expected: expected,
      tail_packets: tailPackets,
      longest_silence_ms: Math.round(silence.longestMs),
      silence: { where: silence.where, from_s: round((silence.fromMs - this.activity.startMs) / 1000, 2) },
      packets_received: t.received,
      packets_lost: lost,
      loss_percent: round(lossPercent, 2),
      duplicates: t.duplicates,
      out_of_order: t.outOfOrder,
      jitter_ms: round(main?.jitterMs ?? 0, 3),
      jitter_max_ms: round(t.jitterMaxMs, 3),
      jitter_mean_ms: round(main?.jitterMeanMs ?? 0, 3),
      burst_ratio: round(burstRatio, 3),
      rtt_ms: rttMs === null ? null : round(rttMs, 3),
      first_packet_at: t.firstArrivalMs === null ? null : Math.round(this.wallOrigin + t.firstArrivalMs),
      last_packet_at: t.lastArrivalMs === null ? null : Math.round(this.wallOrigin + t.lastArrivalMs),
      r_factor: quality.r_factor,
      mos: quality.mos,
      emodel: quality.emodel,
      send_skipped: this.sender.skipped,
      invalid_packets: this.invalid,
      remote_report: this.rtcp.remoteReport,
    };
  }

  // ---- sending -------------------------------------------------------------
  private maybeStartPacing(): void {
    if (!this.wantSending || this.closing) return;
    this.sender.start();
  }

  // ---- receiving -----------------------------------------------------------
  /**
   * When the datagram reached the host: the kernel's stamp when the socket
   * gives one (udpio) and the session runs on the real clock, else now.
   */
  private arrivalOf(rinfo: MediaRemoteInfo): number {
    return rinfo.arrivalMs !== undefined && this.clock === monotonicClock ? rinfo.arrivalMs : this.clock.now();
  }

  private readonly onRtpMessage = (msg: Buffer, rinfo: MediaRemoteInfo): void => {
    const now = this.arrivalOf(rinfo);
    const b0 = msg[0] ?? 0;
    const b1 = msg[1] ?? 0;
    if (msg.length < RTP_HEADER || b0 >> 6 !== 2) {
      this.invalid++;
      return;
    }
    if (b1 >= 192 && b1 <= 223) {
      this.handleRtcp(msg, rinfo, now); // RFC 5761 rtcp-mux
      return;
    }
    const payloadStart = rtpPayloadStart(msg);
    if (payloadStart < 0) {
      this.invalid++;
      return;
    }
    if (this.isTail(msg)) {
      this.tailSeen++;
      return;
    }
    const hasPackets = this.receivers.update(msg, payloadStart, now, rinfo);
    this.activity.note(now);
    if (this.latch && !this.latched) {
      this.latched = true;
      const remote = this.sender.remote;
      const changed = !remote || remote.address !== rinfo.address || remote.port !== rinfo.port;
      if (changed) {
        // The SDP's RTCP port is as wrong as its RTP port; assume the RFC 3550 neighbour.
        const latched = { address: rinfo.address, port: rinfo.port, rtcpPort: rinfo.port + 1 };
        this.sender.remote = latched;
        if (!this.rtcpLatched) this.rtcp.remote = { address: rinfo.address, port: rinfo.port + 1 };
        this.emit('latched', { ...latched });
      }
      this.maybeStartPacing();
    }
    if (this.reflect) this.sender.reflect(msg);
    // At scale, receives are the pacer's finest clock (the time now, not the
    // packet's kernel arrival, which may be earlier).
    this.pacer.poll();
    if (!this.gotRtp && hasPackets) {
      this.gotRtp = true;
      this.emit('first-rtp', { address: rinfo.address, port: rinfo.port });
    }
  };

  /** Receive fast path (udpio): a known stream's plain audio packet, counted in place; else false (onRtpMessage). */
  private readonly onRtpFast = (d: DatagramView): boolean => {
    if (!this.gotRtp || this.reflect || this.tailMark !== undefined || (this.latch && !this.latched)) return false;
    const now = this.clock === monotonicClock ? d.arrivalMs : this.clock.now(); // as arrivalOf()
    if (!this.receivers.updateInPlace(d.buf, d.offset, d.length, now)) return false;
    this.activity.note(now);
    this.pacer.poll();
    return true;
  };

  /** A packet of the far sender's tail, its SSRC and sequence number untouched by any relay. */
  private isTail(msg: Buffer): boolean {
    const mark = this.tailMark;
    if (mark === undefined || msg.readUInt32BE(8) !== mark.ssrc) return false;
    return ((msg.readUInt16BE(2) - mark.firstSeq) & 0xffff) < mark.frames;
  }

  private readonly onRtcpMessage = (msg: Buffer, rinfo: MediaRemoteInfo): void => {
    this.handleRtcp(msg, rinfo, this.arrivalOf(rinfo));
  };

  private handleRtcp(msg: Buffer, rinfo: MediaRemoteInfo, now: number): void {
    const parsed = this.rtcp.receive(msg, now);
    if (!parsed) {
      this.invalid++;
      return;
    }
    this.receivers.noteRtcp(parsed);
    if (this.latch && !this.rtcpLatched) {
      this.rtcpLatched = true;
      this.rtcp.remote = { address: rinfo.address, port: rinfo.port };
    }
    this.emit('rtcp', parsed, { address: rinfo.address, port: rinfo.port });
  }
}
