// The receiving half of an RTP session, apart from the socket (as pion/interceptor keeps
// per-stream receiver state apart from I/O): RFC 3550 statistics and a DTMF detector per
// SSRC, the session's receive figures summed over SSRCs, and the report blocks of our RTCP.
// With an audio tap, each stream's payloads are also decoded to PCM (decode.ts) and handed
// to the tap's sink; without one nothing is decoded.
import { createDecoder, type PayloadDecoder } from './decode.js';
import { DtmfDetector, type DetectedDigit } from './dtmf.js';
import { msToCompact, type ParsedRtcp, type ReportBlock } from './rtcp.js';
import { RTP_HEADER } from './rtp-header.js';
import { RtpReceiverStats, type ReceiverStatsSnapshot } from './stats.js';

/** update() options, shared: nothing allocated per packet. */
const JITTER = { jitter: true };
const NO_JITTER = { jitter: false };

export interface ReceivedStream {
  ssrc: number;
  /** "address:port" the stream came from (first packet). */
  source: string;
  payloadType: number;
  stats: ReceiverStatsSnapshot;
  /** The sender's packet count from its last RTCP SR, if it sent one. */
  senderPackets: number | null;
  /** The sender said RTCP BYE (it ended the stream on purpose). */
  bye: boolean;
}

/** A received stream as the audio tap sees it (once, at its first packet). */
export interface TappedStream {
  ssrc: number;
  /** "address:port" of the first packet. */
  source: string;
  payloadType: number;
  /** Codec name of the payload type (what createDecoder() takes). */
  codec: string;
  /** RTP clock rate (8000 for PCMU/PCMA/G722). */
  clockRate: number;
}

/**
 * Receives one stream's decoded audio, packet by packet in arrival order (duplicates and
 * telephone events left out). The sink places each frame by its RTP timestamp: a lost
 * packet is a gap of silence, a late one goes back in its place. `pcm` is only valid during
 * the call (the decoder reuses it): copy what you keep.
 */
export interface AudioSink {
  onFrame(pcm: Int16Array, sampleRate: number, rtpTimestamp: number, arrivalMs: number): void;
}

/** Called at each new stream's first packet: a sink to decode it into, or undefined to leave it undecoded. */
export type AudioTap = (stream: TappedStream) => AudioSink | undefined;

/** Receive counters of a session, summed over its SSRCs (jitter and burst ratio: the busiest SSRC). */
export interface ReceiveTotals {
  received: number;
  lost: number;
  expected: number;
  duplicates: number;
  outOfOrder: number;
  jitterMaxMs: number;
  /** Clock ms of the first / last packet, null before any. */
  firstArrivalMs: number | null;
  lastArrivalMs: number | null;
  /** The SSRC with the most packets. */
  main: ReceiverStatsSnapshot | undefined;
}

interface ReceiveState {
  stats: RtpReceiverStats;
  source: string;
  payloadType: number;
  dtmf: DtmfDetector;
  senderPackets: number | null;
  bye: boolean;
  /** Decoder + sink when the audio tap took this stream. */
  audio: { decoder: PayloadDecoder; sink: AudioSink } | undefined;
}

export class ReceiveStreams {
  private readonly rx = new Map<number, ReceiveState>();
  /** The stream of the last packet (a session mostly hears one SSRC): no Map lookup per packet. */
  private lastSsrc = -1;
  private last: ReceiveState | undefined;

  constructor(
    private readonly telephoneEventPt: number,
    /** Called when a packet completes a telephone event (RFC 4733). */
    private readonly onDigit: (digit: DetectedDigit & { ssrc: number }) => void,
    /** Decoded-audio tap (off when undefined: nothing is decoded). */
    private readonly audioTap?: AudioTap,
    /** Codec name of a payload type, for the tap (default: none). */
    private readonly codecOf: (payloadType: number) => string | undefined = () => undefined,
    /**
     * RTP clock rate of a payload type (the negotiated codec's: 8000, Opus 48000): a stream's
     * jitter and event durations are in the units of its first packet's payload type.
     */
    private readonly clockRateOf: (pt: number) => number = () => 8000,
  ) {}

  /**
   * Accounts one RTP packet (the caller checked version and length and found where the
   * payload starts). Returns whether its stream has counted packets (the first-RTP signal).
   */
  update(msg: Buffer, payloadStart: number, now: number, from: { address: string; port: number }): boolean {
    const b0 = msg[0] ?? 0;
    const ssrc = msg.readUInt32BE(8);
    const pt = (msg[1] ?? 0) & 0x7f;
    const rtpTs = msg.readUInt32BE(4);
    let state = this.stateOf(ssrc);
    if (!state) {
      state = {
        stats: new RtpReceiverStats({ clockRate: this.clockRateOf(pt) }),
        source: `${from.address}:${from.port}`,
        payloadType: pt,
        dtmf: new DtmfDetector(this.clockRateOf(pt)),
        senderPackets: null,
        bye: false,
        audio: undefined,
      };
      if (this.audioTap) state.audio = this.tapStream(ssrc, state.source, pt);
      this.rx.set(ssrc, state);
      this.lastSsrc = ssrc;
      this.last = state;
    }
    const isEvent = pt === this.telephoneEventPt;
    const verdict = state.stats.update(msg.readUInt16BE(2), rtpTs, now, isEvent ? NO_JITTER : JITTER);
    if (isEvent && verdict !== 'duplicate') {
      const end = msg.length - ((b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0);
      const digit = state.dtmf.onPacket(rtpTs, msg.subarray(payloadStart, end));
      if (digit) this.onDigit({ ...digit, ssrc });
    } else if (state.audio && verdict !== 'duplicate' && !isEvent) {
      const end = msg.length - ((b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0);
      if (end > payloadStart) {
        const { decoder, sink } = state.audio;
        let pcm: Int16Array | undefined;
        try {
          pcm = decoder.decode(msg.subarray(payloadStart, end));
        } catch {
          pcm = undefined; // a malformed payload (Opus throws): left out, the sink sees a gap
        }
        if (pcm) sink.onFrame(pcm, decoder.sampleRate, rtpTs, now);
      }
    }
    return state.stats.hasPackets;
  }

  /**
   * The receive fast path (session.ts): `buf[offset, offset + length)` is a datagram, read in
   * place (no Buffer made for it). Accounts it when it is a plain audio packet (version 2, no
   * CSRC, extension or padding, not RTCP) of a stream already heard with nothing to decode.
   * Returns false, having changed nothing, for anything else (a new SSRC, a tapped stream, a
   * telephone event, another header): the caller then takes the full path, update().
   */
  updateInPlace(buf: Uint8Array, offset: number, length: number, now: number): boolean {
    const o = offset;
    if (length < RTP_HEADER || buf[o] !== 0x80) return false;
    const b1 = buf[o + 1] as number;
    const pt = b1 & 0x7f;
    if ((b1 >= 192 && b1 <= 223) || pt === this.telephoneEventPt) return false;
    const ssrc = (((buf[o + 8] as number) << 24) | ((buf[o + 9] as number) << 16) | ((buf[o + 10] as number) << 8) | (buf[o + 11] as number)) >>> 0;
    const state = this.stateOf(ssrc);
    if (state === undefined || state.audio !== undefined) return false;
    const seq = ((buf[o + 2] as number) << 8) | (buf[o + 3] as number);
    const ts = (((buf[o + 4] as number) << 24) | ((buf[o + 5] as number) << 16) | ((buf[o + 6] as number) << 8) | (buf[o + 7] as number)) >>> 0;
    state.stats.update(seq, ts, now, JITTER);
    return true;
  }

  private stateOf(ssrc: number): ReceiveState | undefined {
    if (ssrc === this.lastSsrc) return this.last;
    const state = this.rx.get(ssrc);
    if (state !== undefined) {
      this.lastSsrc = ssrc;
      this.last = state;
    }
    return state;
  }

  private tapStream(ssrc: number, source: string, payloadType: number): ReceiveState['audio'] {
    const codec = this.codecOf(payloadType);
    const decoder = codec !== undefined ? createDecoder(codec) : undefined;
    if (!decoder || !this.audioTap || codec === undefined) return undefined;
    const sink = this.audioTap({ ssrc, source, payloadType, codec, clockRate: this.clockRateOf(payloadType) });
    return sink ? { decoder, sink } : undefined;
  }

  /** Packets counted over every SSRC (totals().received, without the snapshots). */
  get receivedCount(): number {
    let n = 0;
    for (const state of this.rx.values()) n += state.stats.receivedCount;
    return n;
  }

  /** Digits received so far (all SSRCs, arrival order). */
  get digits(): string {
    return [...this.rx.values()].flatMap((s) => s.dtmf.digits.map((d) => d.digit)).join('');
  }

  /** Per-SSRC receive statistics. */
  streams(): ReceivedStream[] {
    return [...this.rx.entries()].map(([ssrc, s]) => ({
      ssrc,
      source: s.source,
      payloadType: s.payloadType,
      stats: s.stats.snapshot(),
      senderPackets: s.senderPackets,
      bye: s.bye,
    }));
  }

  /** Takes in what a sender said about its stream in RTCP: its SR packet count, its BYE. */
  noteRtcp(parsed: ParsedRtcp): void {
    for (const report of parsed.reports) {
      const state = report.sender ? this.rx.get(report.ssrc) : undefined;
      if (state && report.sender) state.senderPackets = Math.max(state.senderPackets ?? 0, report.sender.packetCount);
    }
    for (const ssrc of parsed.byes) {
      const state = this.rx.get(ssrc);
      if (state) state.bye = true;
    }
  }

  totals(): ReceiveTotals {
    const t: ReceiveTotals = { received: 0, lost: 0, expected: 0, duplicates: 0, outOfOrder: 0, jitterMaxMs: 0, firstArrivalMs: null, lastArrivalMs: null, main: undefined };
    for (const { stats } of this.rx.values()) {
      const s = stats.snapshot();
      t.received += s.received;
      t.lost += s.lost;
      t.expected += s.expected;
      t.duplicates += s.duplicates;
      t.outOfOrder += s.outOfOrder;
      t.jitterMaxMs = Math.max(t.jitterMaxMs, s.jitterMaxMs);
      if (s.firstArrivalMs !== null) t.firstArrivalMs = t.firstArrivalMs === null ? s.firstArrivalMs : Math.min(t.firstArrivalMs, s.firstArrivalMs);
      if (s.lastArrivalMs !== null) t.lastArrivalMs = t.lastArrivalMs === null ? s.lastArrivalMs : Math.max(t.lastArrivalMs, s.lastArrivalMs);
      if (!t.main || s.received > t.main.received) t.main = s;
    }
    return t;
  }

  /** One report block per SSRC heard since the start (RFC 3550 §6.4.1); takes the interval counters. */
  takeReportBlocks(now: number, lastSr: ReadonlyMap<number, { compact: number; arrivalMs: number }>): ReportBlock[] {
    const blocks: ReportBlock[] = [];
    for (const [ssrc, state] of this.rx) {
      if (!state.stats.hasPackets) continue;
      const sr = lastSr.get(ssrc);
      blocks.push({
        ssrc,
        ...state.stats.takeReportBlock(),
        lsr: sr?.compact ?? 0,
        dlsr: sr ? msToCompact(now - sr.arrivalMs) : 0,
      });
    }
    return blocks;
  }
}
