/**
 * RtpSession: one G.711 media stream, sent and received on one port pair.
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
 * The fixed 12-byte header of outgoing packets is written in place (the hot
 * path); received RTP is parsed with rtp.js, RTCP built/parsed by rtcp.ts.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { computeQuality } from '../quality/emodel.js';
import { defaultAudioSource, encodedFrames, SAMPLE_RATE, type AudioSource } from './audio.js';
import { monotonicClock, type Clock } from './clock.js';
import { DtmfDetector, DtmfError, encodeEvent, eventCode, type DetectedDigit } from './dtmf.js';
import { payloadTypeOf, type G711Codec } from './g711.js';
import { sharedPacer, type Pacer, type PacerSlot } from './pacer.js';
import type { PortPair } from './ports.js';
import { buildReport, compactNtp, msToCompact, ntpFromMs, parseRtcp, roundTripMs, type ParsedRtcp, type ReportBlock } from './rtcp.js';
import { RtpReceiverStats, type ReceiverStatsSnapshot } from './stats.js';
import type { MediaRemoteInfo } from './udp.js';

export interface RemoteAddress {
  address: string;
  port: number;
  /** RTCP port; default port + 1 (RFC 3550 §11), or from SDP a=rtcp. */
  rtcpPort?: number;
}

export interface RtpSessionOptions {
  /** Bound socket pair from PortAllocator.allocate() or bindPair(). Released by close(). */
  ports: PortPair;
  codec?: G711Codec;
  /** Packetisation time in ms (10–60, multiple of 10). Default 20. */
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
}

/** What the peer told us about our stream in its last RTCP report block. */
export interface RemoteReport {
  fraction_lost: number;
  cumulative_lost: number;
  jitter_ms: number;
  received_at: number;
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

/** Numbers for one session: what it sent and what it received (its receive direction). */
export interface RtpSessionStats extends ReceiveFigures {
  codec: G711Codec;
  packets_sent: number;
  /** RTCP round trip (RFC 3550 §6.4.1), ms; null until an RR/SR about our SR arrived. */
  rtt_ms: number | null;
  /** Epoch ms of the first / last RTP packet received; null before any. */
  first_packet_at: number | null;
  last_packet_at: number | null;
  /** E-model of the received direction, delay = rtt/2 when known. */
  r_factor: number;
  mos: number;
  /** Pacer ticks skipped because the process was too late to send. */
  send_skipped: number;
  /** Datagrams that were not RTP/RTCP or failed to parse. */
  invalid_packets: number;
  remote_report: RemoteReport | null;
}

export interface ReceivedStream {
  ssrc: number;
  /** "address:port" the stream came from (first packet). */
  source: string;
  payloadType: number;
  stats: ReceiverStatsSnapshot;
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

interface ReceiveState {
  stats: RtpReceiverStats;
  source: string;
  payloadType: number;
  dtmf: DtmfDetector;
}

interface DtmfJob {
  code: number;
  bodyPackets: number;
  pausePackets: number;
  done?: () => void;
}

interface DtmfSending {
  job: DtmfJob;
  eventTs: number;
  sent: number;
  endSent: number;
  pauseLeft: number;
}

const RTP_HEADER = 12;

/**
 * Where the payload of an RTP packet starts (RFC 3550 §5.1: after the fixed
 * header, CC CSRCs and, with X set, the §5.3.1 header extension), or -1 when
 * the lengths do not add up (truncated, or padding longer than what is left).
 * The hot receive path reads the few header fields it needs in place instead
 * of building an rtp.js packet object per datagram (a third of the receive CPU
 * at scale); the caller has checked the version and the 12-byte minimum.
 */
export function rtpPayloadStart(msg: Uint8Array): number {
  const b0 = msg[0] ?? 0;
  let offset = RTP_HEADER + 4 * (b0 & 0x0f);
  if ((b0 & 0x10) !== 0) {
    if (msg.length < offset + 4) return -1;
    offset += 4 + 4 * (((msg[offset + 2] ?? 0) << 8) | (msg[offset + 3] ?? 0));
  }
  const padding = (b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0;
  if ((b0 & 0x20) !== 0 && padding === 0) return -1;
  return offset + padding <= msg.length ? offset : -1;
}
const DTMF_VOLUME = 10; // −10 dBm0
const DTMF_END_REPEATS = 3; // RFC 4733 §2.5.1.4

function random32(): number {
  return randomBytes(4).readUInt32BE(0);
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export class RtpSession extends EventEmitter<RtpSessionEvents> {
  readonly ssrc: number;
  readonly codec: G711Codec;
  readonly payloadType: number;
  readonly ptimeMs: number;
  readonly localPort: number;
  readonly localRtcpPort: number;
  private readonly ports: PortPair;
  private readonly pacer: Pacer;
  private readonly clock: Clock;
  private readonly wallOrigin: number;
  private readonly frames: readonly Uint8Array[];
  private readonly samplesPerFrame: number;
  private readonly telephoneEventPt: number;
  private readonly rtcpIntervalMs: number;
  private readonly latch: boolean;
  private readonly reflect: boolean;
  private readonly cname: string;

  private remote: RemoteAddress | undefined;
  private rtcpRemote: RemoteAddress | undefined;
  private latched = false;
  private rtcpLatched = false;
  private wantSending = false;
  private slot: PacerSlot | undefined;
  private seq: number;
  /** RTP timestamp of pacer tick 0 of the current slot (moves forward at each resume). */
  private tsBase: number;
  /** Pacer deadline (NaN before the first) and RTP timestamp of the last tick sent, for continuing after a resume. */
  private lastTickDeadline = Number.NaN;
  private lastTickTs = 0;
  /** Set the marker bit on the next packet (first after a start). */
  private markNext = true;
  private sendView = Buffer.alloc(0);
  private lastSentTs = 0;
  private lastSentAtMs = 0;
  private packetsSent = 0;
  private octetsSent = 0;
  private sentSinceReport = false;
  private sendErrors = 0;
  private invalid = 0;
  private gotRtp = false;
  private readonly rx = new Map<number, ReceiveState>();
  private readonly lastSr = new Map<number, { compact: number; arrivalMs: number }>();
  private rttMs: number | null = null;
  private remoteReport: RemoteReport | null = null;
  private rtcpTimer: NodeJS.Timeout | undefined;
  private readonly dtmfQueue: DtmfJob[] = [];
  private dtmfSending: DtmfSending | undefined;
  private closing: Promise<void> | undefined;

  constructor(opts: RtpSessionOptions) {
    super();
    this.ports = opts.ports;
    this.codec = opts.codec ?? 'PCMU';
    this.payloadType = payloadTypeOf(this.codec);
    this.ptimeMs = opts.ptimeMs ?? 20;
    if (!Number.isInteger(this.ptimeMs) || this.ptimeMs < 10 || this.ptimeMs > 60 || this.ptimeMs % 10 !== 0) {
      throw new RangeError(`ptime must be 10, 20, 30, 40, 50 or 60 ms, got ${this.ptimeMs}`);
    }
    this.samplesPerFrame = (SAMPLE_RATE * this.ptimeMs) / 1000;
    this.frames = encodedFrames(opts.audio ?? defaultAudioSource(), this.codec, this.samplesPerFrame);
    this.pacer = opts.pacer ?? sharedPacer();
    this.clock = opts.clock ?? monotonicClock;
    this.wallOrigin = (opts.wallClock ?? Date.now)() - this.clock.now();
    this.ssrc = (opts.ssrc ?? random32()) >>> 0;
    this.cname = opts.cname ?? `callprobe-${this.ssrc.toString(16)}@${opts.ports.address}`;
    this.telephoneEventPt = opts.telephoneEventPt ?? 101;
    this.rtcpIntervalMs = opts.rtcpIntervalMs ?? 5000;
    this.latch = opts.latch ?? true;
    this.reflect = opts.reflect ?? false;
    this.seq = random32() & 0xffff;
    this.tsBase = random32();
    this.localPort = opts.ports.rtpPort;
    this.localRtcpPort = opts.ports.rtcpPort;
    if (opts.remote) this.setRemote(opts.remote);

    opts.ports.rtp.on('message', this.onRtpMessage);
    opts.ports.rtcp.on('message', this.onRtcpMessage);
    opts.ports.rtp.on('error', this.onSocketError);
    opts.ports.rtcp.on('error', this.onSocketError);
    if (this.rtcpIntervalMs > 0) this.scheduleRtcp(true);
  }

  // ---- control -------------------------------------------------------------

  /** Sets where to send (SDP answer). A latched source, once seen, takes precedence. */
  setRemote(remote: RemoteAddress): void {
    if (!this.latched) this.remote = { ...remote };
    if (!this.rtcpLatched) this.rtcpRemote = { address: remote.address, port: remote.rtcpPort ?? remote.port + 1 };
    this.maybeStartPacing();
  }

  /** Where packets go now (after latching), if anywhere. */
  get remoteAddress(): RemoteAddress | undefined {
    return this.remote ? { ...this.remote } : undefined;
  }

  /** Begins sending (as soon as a remote address is known). No-op in reflect mode. */
  start(): void {
    if (this.closing || this.reflect) return;
    this.wantSending = true;
    this.maybeStartPacing();
  }

  /** Stops sending; receiving and RTCP go on until close(). */
  stop(): void {
    this.wantSending = false;
    this.slot?.remove();
    this.slot = undefined;
    for (const job of this.dtmfQueue.splice(0)) job.done?.();
    this.dtmfSending?.job.done?.();
    this.dtmfSending = undefined;
  }

  /** Stops, sends an RTCP BYE if we reported before, releases sockets and the pacer slot. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasSending = this.packetsSent > 0;
      this.stop();
      if (this.rtcpTimer) clearTimeout(this.rtcpTimer);
      this.rtcpTimer = undefined;
      if (wasSending && this.rtcpIntervalMs > 0) this.sendReport(true);
      this.ports.rtp.off('message', this.onRtpMessage);
      this.ports.rtcp.off('message', this.onRtcpMessage);
      await this.ports.release();
      this.ports.rtp.off('error', this.onSocketError);
      this.ports.rtcp.off('error', this.onSocketError);
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
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
    const durationMs = opts.durationMs ?? 100;
    const pauseMs = opts.pauseMs ?? 100;
    if (!(durationMs >= this.ptimeMs && durationMs <= 5000)) {
      return Promise.reject(new DtmfError(`DTMF duration must be ${this.ptimeMs}-5000 ms`));
    }
    let codes: number[];
    try {
      codes = [...digits].map(eventCode);
    } catch (err) {
      return Promise.reject(err);
    }
    if (codes.length === 0) return Promise.resolve();
    if (!this.wantSending || this.closing) return Promise.reject(new DtmfError('session is not sending'));
    return new Promise((resolve) => {
      codes.forEach((code, i) => {
        this.dtmfQueue.push({
          code,
          bodyPackets: Math.ceil(durationMs / this.ptimeMs),
          pausePackets: Math.ceil(pauseMs / this.ptimeMs),
          ...(i === codes.length - 1 ? { done: resolve } : {}),
        });
      });
    });
  }

  /** Digits received so far (all SSRCs, arrival order). */
  get receivedDigits(): string {
    return [...this.rx.values()].flatMap((s) => s.dtmf.digits.map((d) => d.digit)).join('');
  }

  // ---- statistics ----------------------------------------------------------

  /** Per-SSRC receive statistics. */
  receivedStreams(): ReceivedStream[] {
    return [...this.rx.entries()].map(([ssrc, s]) => ({
      ssrc,
      source: s.source,
      payloadType: s.payloadType,
      stats: s.stats.snapshot(),
    }));
  }

  /** Session numbers; counters add up over SSRCs, jitter and burst ratio come from the busiest SSRC. */
  stats(opts: { delayMs?: number } = {}): RtpSessionStats {
    let received = 0;
    let lost = 0;
    let expected = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let jitterMaxMs = 0;
    let first: number | null = null;
    let last: number | null = null;
    let main: ReceiverStatsSnapshot | undefined;
    for (const { stats } of this.rx.values()) {
      const s = stats.snapshot();
      received += s.received;
      lost += s.lost;
      expected += s.expected;
      duplicates += s.duplicates;
      outOfOrder += s.outOfOrder;
      jitterMaxMs = Math.max(jitterMaxMs, s.jitterMaxMs);
      if (s.firstArrivalMs !== null) first = first === null ? s.firstArrivalMs : Math.min(first, s.firstArrivalMs);
      if (s.lastArrivalMs !== null) last = last === null ? s.lastArrivalMs : Math.max(last, s.lastArrivalMs);
      if (!main || s.received > main.received) main = s;
    }
    const lossPercent = expected > 0 ? (lost / expected) * 100 : 0;
    const burstRatio = main?.burstRatio ?? 1;
    const delayMs = opts.delayMs ?? (this.rttMs !== null ? this.rttMs / 2 : 0);
    const quality = computeQuality({ codec: this.codec, lossPercent, burstRatio, delayMs });
    return {
      codec: this.codec,
      packets_sent: this.packetsSent,
      packets_received: received,
      packets_lost: lost,
      loss_percent: round(lossPercent, 2),
      duplicates,
      out_of_order: outOfOrder,
      jitter_ms: round(main?.jitterMs ?? 0, 3),
      jitter_max_ms: round(jitterMaxMs, 3),
      jitter_mean_ms: round(main?.jitterMeanMs ?? 0, 3),
      burst_ratio: round(burstRatio, 3),
      rtt_ms: this.rttMs === null ? null : round(this.rttMs, 3),
      first_packet_at: first === null ? null : Math.round(this.wallOrigin + first),
      last_packet_at: last === null ? null : Math.round(this.wallOrigin + last),
      r_factor: quality.r_factor,
      mos: quality.mos,
      send_skipped: this.slot?.skipped ?? 0,
      invalid_packets: this.invalid,
      remote_report: this.remoteReport,
    };
  }

  // ---- sending -------------------------------------------------------------

  private maybeStartPacing(): void {
    if (!this.wantSending || this.slot || !this.remote || this.closing) return;
    const lastDeadline = this.lastTickDeadline;
    if (Number.isNaN(lastDeadline)) {
      this.slot = this.pacer.add(this.ptimeMs, this.onTick);
      return;
    }
    // Resume: RFC 3550 §5.1, the timestamp keeps running with the sampling clock
    // through the pause; restarting at tick 0 would send it back in time, and the
    // receiver's jitter estimate would take the whole sent duration as transit
    // variation. Never resume faster than one packet per ptime.
    const startMs = Math.max(this.pacer.clock.now(), lastDeadline + this.ptimeMs);
    this.tsBase = (this.lastTickTs + Math.round(((startMs - lastDeadline) * SAMPLE_RATE) / 1000)) >>> 0;
    this.markNext = true;
    this.slot = this.pacer.add(this.ptimeMs, this.onTick, startMs);
  }

  private readonly onTick = (tick: number, deadline: number, now: number): void => {
    const remote = this.remote;
    if (!remote) return;
    const ts = (this.tsBase + tick * this.samplesPerFrame) >>> 0;
    this.lastTickDeadline = deadline;
    this.lastTickTs = ts;
    let payload: Uint8Array;
    let pt = this.payloadType;
    let marker = this.markNext;
    this.markNext = false;
    let packetTs = ts;
    const event = this.nextDtmfPayload(ts);
    if (event) {
      payload = event.payload;
      pt = this.telephoneEventPt;
      marker = event.marker;
      packetTs = event.ts;
    } else {
      payload = this.frames[tick % this.frames.length] as Uint8Array;
    }
    // A socket whose send() copies the bytes out before returning (udpio) lets
    // one buffer serve every packet; node:dgram sends later, so a fresh one.
    const size = RTP_HEADER + payload.length;
    let buf: Buffer;
    if (this.ports.rtp.sendsSynchronously === true) {
      if (this.sendView.length !== size) this.sendView = Buffer.allocUnsafe(size);
      buf = this.sendView;
    } else {
      buf = Buffer.allocUnsafe(size);
    }
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | pt;
    buf.writeUInt16BE(this.seq, 2);
    buf.writeUInt32BE(packetTs, 4);
    buf.writeUInt32BE(this.ssrc, 8);
    buf.set(payload, RTP_HEADER);
    this.seq = (this.seq + 1) & 0xffff;
    // No per-packet callback: a send error surfaces as the socket's 'error' event.
    this.ports.rtp.send(buf, remote.port, remote.address);
    this.packetsSent++;
    this.octetsSent += payload.length;
    this.sentSinceReport = true;
    this.lastSentTs = ts;
    this.lastSentAtMs = now;
  };

  private readonly onSent = (err: Error | null): void => {
    if (err) {
      this.sendErrors++;
      if (this.sendErrors === 1 || this.sendErrors % 100 === 0) this.emit('warning', err);
    }
  };

  /** RFC 4733 §2.5: start (marker), continuation, 3× end, then a pause of audio. */
  private nextDtmfPayload(audioTs: number): { payload: Uint8Array; marker: boolean; ts: number } | undefined {
    let state = this.dtmfSending;
    if (!state) {
      const job = this.dtmfQueue.shift();
      if (!job) return undefined;
      state = { job, eventTs: audioTs, sent: 0, endSent: 0, pauseLeft: job.pausePackets };
      this.dtmfSending = state;
    }
    const { job } = state;
    if (state.sent < job.bodyPackets) {
      state.sent++;
      const payload = encodeEvent({ event: job.code, end: false, volume: DTMF_VOLUME, duration: state.sent * this.samplesPerFrame });
      return { payload, marker: state.sent === 1, ts: state.eventTs };
    }
    if (state.endSent < DTMF_END_REPEATS) {
      state.endSent++;
      const payload = encodeEvent({ event: job.code, end: true, volume: DTMF_VOLUME, duration: job.bodyPackets * this.samplesPerFrame });
      return { payload, marker: false, ts: state.eventTs };
    }
    if (state.pauseLeft > 0) {
      state.pauseLeft--;
      if (state.pauseLeft > 0) return undefined;
    }
    this.dtmfSending = undefined;
    job.done?.();
    return undefined;
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
    const ssrc = msg.readUInt32BE(8);
    const pt = b1 & 0x7f;
    const rtpTs = msg.readUInt32BE(4);
    let state = this.rx.get(ssrc);
    if (!state) {
      state = {
        stats: new RtpReceiverStats({ clockRate: SAMPLE_RATE }),
        source: `${rinfo.address}:${rinfo.port}`,
        payloadType: pt,
        dtmf: new DtmfDetector(SAMPLE_RATE),
      };
      this.rx.set(ssrc, state);
    }
    const isEvent = pt === this.telephoneEventPt;
    const verdict = state.stats.update(msg.readUInt16BE(2), rtpTs, now, { jitter: !isEvent });
    if (isEvent && verdict !== 'duplicate') {
      const end = msg.length - ((b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0);
      const digit = state.dtmf.onPacket(rtpTs, msg.subarray(payloadStart, end));
      if (digit) this.emit('dtmf', { ...digit, ssrc });
    }
    if (this.latch && !this.latched) {
      this.latched = true;
      const changed = !this.remote || this.remote.address !== rinfo.address || this.remote.port !== rinfo.port;
      if (changed) {
        // The SDP's RTCP port is as wrong as its RTP port; assume the RFC 3550 neighbour.
        this.remote = { address: rinfo.address, port: rinfo.port, rtcpPort: rinfo.port + 1 };
        if (!this.rtcpLatched) this.rtcpRemote = { address: rinfo.address, port: rinfo.port + 1 };
        this.emit('latched', { ...this.remote });
      }
      this.maybeStartPacing();
    }
    if (this.reflect) this.reflectPacket(msg);
    // At scale, receives are the pacer's finest clock (the time now, not the
    // packet's kernel arrival, which may be earlier).
    this.pacer.poll();
    if (!this.gotRtp && state.stats.hasPackets) {
      this.gotRtp = true;
      this.emit('first-rtp', { address: rinfo.address, port: rinfo.port });
    }
  };

  private reflectPacket(msg: Buffer): void {
    const remote = this.remote;
    if (!remote) return;
    const copy = Buffer.allocUnsafe(msg.length);
    msg.copy(copy);
    copy.writeUInt32BE(this.ssrc, 8);
    this.ports.rtp.send(copy, remote.port, remote.address);
    this.packetsSent++;
    this.octetsSent += msg.length - RTP_HEADER;
    this.sentSinceReport = true;
    this.lastSentTs = copy.readUInt32BE(4);
    this.lastSentAtMs = this.clock.now();
  }

  private readonly onRtcpMessage = (msg: Buffer, rinfo: MediaRemoteInfo): void => {
    this.handleRtcp(msg, rinfo, this.arrivalOf(rinfo));
  };

  private handleRtcp(msg: Buffer, rinfo: MediaRemoteInfo, now: number): void {
    let parsed: ParsedRtcp;
    try {
      parsed = parseRtcp(msg);
    } catch {
      this.invalid++;
      return;
    }
    if (this.latch && !this.rtcpLatched) {
      this.rtcpLatched = true;
      this.rtcpRemote = { address: rinfo.address, port: rinfo.port };
    }
    const arrivalCompact = compactNtp(ntpFromMs(this.wallOrigin + now));
    for (const report of parsed.reports) {
      if (report.sender) this.lastSr.set(report.ssrc, { compact: report.sender.ntpCompact, arrivalMs: now });
      for (const block of report.blocks) {
        if (block.ssrc !== this.ssrc) continue;
        const rtt = roundTripMs(arrivalCompact, block.lsr, block.dlsr);
        if (rtt !== null) this.rttMs = rtt;
        this.remoteReport = {
          fraction_lost: block.fractionLost,
          cumulative_lost: block.cumulativeLost,
          jitter_ms: round((block.jitter / SAMPLE_RATE) * 1000, 3),
          received_at: Math.round(this.wallOrigin + now),
        };
      }
    }
    this.emit('rtcp', parsed, { address: rinfo.address, port: rinfo.port });
  }

  // ---- RTCP ----------------------------------------------------------------

  private scheduleRtcp(first = false): void {
    // RFC 3550 §6.3.5: randomise the interval to [0.5, 1.5] × T; the first one is halved (§6.2).
    const delay = this.rtcpIntervalMs * (0.5 + Math.random()) * (first ? 0.5 : 1);
    this.rtcpTimer = setTimeout(() => {
      this.sendReport(false);
      if (!this.closing) this.scheduleRtcp();
    }, delay);
  }

  private sendReport(bye: boolean): void {
    const to = this.rtcpRemote;
    if (!to) return;
    const now = this.clock.now();
    const blocks: ReportBlock[] = [];
    for (const [ssrc, state] of this.rx) {
      if (!state.stats.hasPackets) continue;
      const sr = this.lastSr.get(ssrc);
      blocks.push({
        ssrc,
        ...state.stats.takeReportBlock(),
        lsr: sr?.compact ?? 0,
        dlsr: sr ? msToCompact(now - sr.arrivalMs) : 0,
      });
    }
    const sender =
      this.sentSinceReport || (this.slot && this.packetsSent > 0)
        ? {
            ntp: ntpFromMs(this.wallOrigin + now),
            rtpTimestamp: (this.lastSentTs + Math.round(((now - this.lastSentAtMs) * SAMPLE_RATE) / 1000)) >>> 0,
            packetCount: this.packetsSent,
            octetCount: this.octetsSent,
          }
        : undefined;
    this.sentSinceReport = false;
    const packet = buildReport({ ssrc: this.ssrc, cname: this.cname, blocks, bye, ...(sender ? { sender } : {}) });
    try {
      this.ports.rtcp.send(packet, to.port, to.address, this.onSent);
    } catch (err) {
      this.emit('warning', err as Error); // socket already closed
    }
  }

  private readonly onSocketError = (err: Error): void => {
    this.onSent(err);
  };
}
