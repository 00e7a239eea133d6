// The receiving half of an RTP session, apart from the socket (as pion/interceptor keeps
// per-stream receiver state apart from I/O): RFC 3550 statistics and a DTMF detector per
// SSRC, the session's receive figures summed over SSRCs, and the report blocks of our RTCP.
import { SAMPLE_RATE } from './audio.js';
import { DtmfDetector, type DetectedDigit } from './dtmf.js';
import { msToCompact, type ParsedRtcp, type ReportBlock } from './rtcp.js';
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
}

export class ReceiveStreams {
  private readonly rx = new Map<number, ReceiveState>();

  constructor(
    private readonly telephoneEventPt: number,
    /** Called when a packet completes a telephone event (RFC 4733). */
    private readonly onDigit: (digit: DetectedDigit & { ssrc: number }) => void,
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
    let state = this.rx.get(ssrc);
    if (!state) {
      state = {
        stats: new RtpReceiverStats({ clockRate: SAMPLE_RATE }),
        source: `${from.address}:${from.port}`,
        payloadType: pt,
        dtmf: new DtmfDetector(SAMPLE_RATE),
        senderPackets: null,
        bye: false,
      };
      this.rx.set(ssrc, state);
    }
    const isEvent = pt === this.telephoneEventPt;
    const verdict = state.stats.update(msg.readUInt16BE(2), rtpTs, now, isEvent ? NO_JITTER : JITTER);
    if (isEvent && verdict !== 'duplicate') {
      const end = msg.length - ((b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0);
      const digit = state.dtmf.onPacket(rtpTs, msg.subarray(payloadStart, end));
      if (digit) this.onDigit({ ...digit, ssrc });
    }
    return state.stats.hasPackets;
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
