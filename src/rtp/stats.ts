/**
 * RFC 3550 receiver statistics for one SSRC, pure (arrival times are injected).
 *
 * - Sequence tracking exactly as RFC 3550 A.1 (`update_seq`): extended sequence
 *   numbers with wrap cycles, MAX_DROPOUT = 3000, MAX_MISORDER = 100, a large
 *   jump is accepted only when the next packet confirms it (then the counters
 *   restart, as `init_seq` does). Probation (MIN_SEQUENTIAL) is optional and
 *   OFF by default (`probation: 0`): a probe knows its peer, and with
 *   probation the first packets would not be counted (RFC default is 2).
 * - Expected / cumulative lost / fraction lost per RFC 3550 A.3 (interval math
 *   in `takeReportBlock`). `cumulativeLost` is the RFC value (expected −
 *   received, duplicates count as received, so it can go negative); `lost`
 *   counts distinct missing sequence numbers (never negative) and is what
 *   results report as packets_lost.
 * - Interarrival jitter per RFC 3550 A.8 in timestamp units (J += (|D| − J)/16,
 *   floating point), first packet initialises the transit time; converted to
 *   ms by the clock rate. Duplicates do not update it.
 * - Additions not in the RFC: duplicates (a sequence number already received
 *   within the last DUP_WINDOW packets), out-of-order (late but new), maximum
 *   jitter, and the loss pattern's Gilbert transitions for the burst ratio
 *   (counted as the highest sequence number advances; a late packet that fills
 *   a gap does not rewrite the pattern).
 * - Sender restarts: A.1 re-syncs after a confirmed large sequence jump (and
 *   counts both packets of the confirming pair). Counts are kept per
 *   *segment*: a re-sync closes the current segment into running totals
 *   instead of forgetting it, so received/expected/lost cover the whole
 *   stream. A sender that restarts with a new sequence number inside
 *   MAX_DROPOUT is recognised by its timestamp: a transit time that jumps by
 *   more than MAX_TRANSIT_STEP_S (no network delays packets by that much) with
 *   the sequence moving forward starts a new segment too, rather than counting
 *   the sequence gap as loss. Either way the A.8 transit reference restarts, so
 *   a new timestamp base never enters the jitter estimate.
 */
import { burstRatioFromTransitions, emptyTransitions, type LossTransitions } from '../quality/burst.js';

const RTP_SEQ_MOD = 1 << 16;
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
/** How far back duplicates are recognised (packets); a power of two. */
const DUP_WINDOW = 1024;
/**
 * A change of transit time (A.8 D) beyond this many seconds is a timeline
 * discontinuity (the sender restarted or reset its timestamp), not jitter.
 */
export const MAX_TRANSIT_STEP_S = 10;

export interface ReceiverStatsOptions {
  /** RTP clock rate in Hz (8000 for G.711). */
  clockRate: number;
  /** RFC 3550 A.1 MIN_SEQUENTIAL; 0 (default) disables probation. */
  probation?: number;
}

/** What `update` made of one packet. */
export type PacketVerdict =
  | 'in_order'
  | 'duplicate'
  | 'out_of_order'
  /** Counted while on probation (RFC: not yet valid source). */
  | 'probation'
  /** A jump larger than MAX_DROPOUT, ignored until the next packet confirms it. */
  | 'bad_seq'
  /** The sender restarted (confirmed sequence jump, or a timestamp discontinuity): a new segment begins. */
  | 'restart';

export interface ReceiverStatsSnapshot {
  /** Packets counted by A.1 (duplicates included, as in the RFC). */
  received: number;
  duplicates: number;
  outOfOrder: number;
  /** A.3: extended highest − base + 1. */
  expected: number;
  /** A.3: expected − received (may be negative with duplicates). */
  cumulativeLost: number;
  /** Distinct sequence numbers never received (≥ 0). */
  lost: number;
  /** lost / expected · 100 (0 when nothing expected). */
  lossPercent: number;
  baseSeq: number;
  extendedHighestSeq: number;
  /** A.8 jitter in timestamp units. */
  jitterTs: number;
  jitterMs: number;
  jitterMaxMs: number;
  /** Mean of the A.8 estimate over every packet (what Wireshark/tshark report as "Mean Jitter"). */
  jitterMeanMs: number;
  /** Gilbert-model burst ratio of the loss pattern (1 without loss). */
  burstRatio: number;
  /** The loss pattern's transition counts behind burstRatio (a copy). */
  transitions: LossTransitions;
  /** How many times the sender restarted (new sequence/timestamp base, same SSRC). */
  restarts: number;
  /** Arrival time (caller's clock, ms) of the first and last counted packet. */
  firstArrivalMs: number | null;
  lastArrivalMs: number | null;
  /** Longest time between two consecutive arrivals (ms), and when it began (the tail after the last is not included). */
  longestGapMs: number;
  longestGapFromMs: number | null;
}

/** RFC 3550 6.4.1 report block fields for this source. */
export interface ReportBlockFields {
  /** 8-bit fixed point fraction lost since the previous report (A.3). */
  fractionLost: number;
  /** 24-bit signed cumulative number of packets lost (clamped). */
  cumulativeLost: number;
  extendedHighestSeq: number;
  /** Interarrival jitter, timestamp units, truncated to an integer. */
  jitter: number;
}

function signed32(x: number): number {
  return x | 0;
}

export class RtpReceiverStats {
  readonly clockRate: number;
  private readonly minSequential: number;
  // RFC 3550 A.1 source state
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private probation = 0;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private started = false;
  /** Closed segments (before a sender restart): their counts, added to the current one's. */
  private prior = { received: 0, expected: 0, lost: 0 };
  private restarts = 0;
  // A.8 jitter state (floating point, wrap-safe via deltas)
  private jitter = 0;
  private jitterMax = 0;
  private jitterSum = 0;
  private jitterSamples = 0;
  private lastArrivalTs = 0;
  private lastTimestamp = 0;
  private haveTransit = false;
  // additions
  private duplicates = 0;
  /** Duplicates in the current segment (received counts them, as A.1 does). */
  private segmentDuplicates = 0;
  private outOfOrder = 0;
  private readonly seen = new Uint8Array(DUP_WINDOW);
  private transitions: LossTransitions = emptyTransitions();
  private firstArrivalMs: number | null = null;
  private lastArrivalMs: number | null = null;
  private longestGapMs = 0;
  private longestGapFromMs: number | null = null;

  constructor(opts: ReceiverStatsOptions) {
    if (!(opts.clockRate > 0)) throw new RangeError('clockRate must be > 0');
    this.clockRate = opts.clockRate;
    this.minSequential = opts.probation ?? 0;
  }

  /**
   * Accounts one received RTP packet. `arrivalMs` is the local arrival time
   * in ms on any monotonic clock. `jitter: false` keeps the packet out of the
   * jitter estimate (RFC 4733 events reuse one timestamp for many packets).
   */
  update(seq: number, timestamp: number, arrivalMs: number, opts?: { jitter?: boolean }): PacketVerdict {
    const ts = timestamp >>> 0;
    const forJitter = opts?.jitter !== false;
    seq &= 0xffff;
    let verdict: PacketVerdict;
    if (forJitter && this.isTimelineJump(seq, ts, arrivalMs)) {
      this.restart(seq);
      verdict = 'restart';
    } else {
      verdict = this.updateSeq(seq);
    }
    if (verdict === 'bad_seq' || verdict === 'duplicate') return verdict;
    if (this.firstArrivalMs === null) this.firstArrivalMs = arrivalMs;
    else if (this.lastArrivalMs !== null && arrivalMs - this.lastArrivalMs > this.longestGapMs) {
      this.longestGapMs = arrivalMs - this.lastArrivalMs;
      this.longestGapFromMs = this.lastArrivalMs;
    }
    this.lastArrivalMs = arrivalMs;
    if (forJitter) this.updateJitter(ts, arrivalMs);
    return verdict;
  }

  /** A.8 transit difference D of this packet against the previous one, in timestamp units. */
  private transitDelta(timestamp: number, arrivalMs: number): number {
    return (arrivalMs * this.clockRate) / 1000 - this.lastArrivalTs - signed32(timestamp - this.lastTimestamp);
  }

  /**
   * A forward sequence step whose timestamp disagrees with the arrival time by
   * more than MAX_TRANSIT_STEP_S: the sender restarted with a sequence number
   * that happens to land inside MAX_DROPOUT. (A real outage keeps the
   * timestamp in step with the clock, so its D stays small.)
   */
  private isTimelineJump(seq: number, timestamp: number, arrivalMs: number): boolean {
    if (!this.started || this.probation > 0 || !this.haveTransit) return false;
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (udelta === 0 || udelta >= MAX_DROPOUT) return false;
    return Math.abs(this.transitDelta(timestamp, arrivalMs)) > MAX_TRANSIT_STEP_S * this.clockRate;
  }

  /** Closes the current segment into the totals and starts a new one at `seq`. */
  private restart(seq: number): void {
    const s = this.segmentCounts();
    this.prior.received += s.received;
    this.prior.expected += s.expected;
    this.prior.lost += s.lost;
    this.segmentDuplicates = 0;
    this.restarts++;
    this.haveTransit = false;
    this.initSeq(seq);
    this.received = 1;
  }

  // RFC 3550 A.1 init_seq
  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
    this.seen.fill(0);
    this.markSeen(seq);
  }

  private extendedMax(): number {
    return this.cycles + this.maxSeq;
  }

  private markSeen(ext: number): void {
    this.seen[ext & (DUP_WINDOW - 1)] = 1;
  }

  // RFC 3550 A.1 update_seq, plus duplicate / reorder classification.
  private updateSeq(seq: number): PacketVerdict {
    if (!this.started) {
      this.started = true;
      this.initSeq(seq);
      if (this.minSequential > 0) {
        this.maxSeq = (seq - 1) & 0xffff;
        this.probation = this.minSequential;
      } else {
        this.received++;
        return 'in_order';
      }
    }
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (this.probation > 0) {
      // packet is in sequence
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.received++;
          return 'in_order';
        }
      } else {
        this.probation = this.minSequential - 1;
        this.maxSeq = seq;
      }
      return 'probation';
    }
    if (udelta < MAX_DROPOUT) {
      if (udelta === 0) {
        this.countDuplicate();
        this.received++;
        return 'duplicate';
      }
      // in order, with permissible gap
      const oldExt = this.extendedMax();
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
      const newExt = this.extendedMax();
      this.advanceWindow(oldExt, newExt);
      if (udelta === 1) this.transitions.receivedToReceived++;
      else {
        this.transitions.receivedToLost++;
        this.transitions.lostToLost += udelta - 2;
        this.transitions.lostToReceived++;
      }
      this.received++;
      return 'in_order';
    }
    if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // the sequence number made a very large jump
      if (seq === this.badSeq) {
        // Two sequential packets: assume the other side restarted without
        // telling us, so re-sync. Unlike the RFC's "pretend this was the first
        // packet", the segment starts at the previous packet, which really
        // arrived (and the old segment's counts are kept, see restart()).
        this.restart((seq - 1) & 0xffff);
        this.maxSeq = seq;
        if (seq === 0) this.cycles += RTP_SEQ_MOD;
        this.advanceWindow(this.extendedMax() - 1, this.extendedMax());
        this.transitions.receivedToReceived++;
        this.received++;
        return 'restart';
      }
      this.badSeq = (seq + 1) & (RTP_SEQ_MOD - 1);
      return 'bad_seq';
    }
    // duplicate or reordered packet
    const ext = this.extendedMax() - ((this.maxSeq - seq) & 0xffff);
    this.received++;
    if (this.extendedMax() - ext < DUP_WINDOW && ext >= this.baseSeq) {
      const slot = ext & (DUP_WINDOW - 1);
      if (this.seen[slot] === 1) {
        this.countDuplicate();
        return 'duplicate';
      }
      this.seen[slot] = 1;
    }
    this.outOfOrder++;
    return 'out_of_order';
  }

  private advanceWindow(oldExt: number, newExt: number): void {
    if (newExt - oldExt >= DUP_WINDOW) this.seen.fill(0);
    else for (let e = oldExt + 1; e < newExt; e++) this.seen[e & (DUP_WINDOW - 1)] = 0;
    this.markSeen(newExt);
  }

  // RFC 3550 A.8: D(i-1,i) = (Rj − Ri) − (Sj − Si), J += (|D| − J) / 16
  // A D beyond MAX_TRANSIT_STEP_S (a timestamp reset, e.g. a late packet of
  // the old timeline after a restart) moves the reference without entering J.
  private updateJitter(timestamp: number, arrivalMs: number): void {
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    if (this.haveTransit) {
      const d = this.transitDelta(timestamp, arrivalMs);
      if (Math.abs(d) <= MAX_TRANSIT_STEP_S * this.clockRate) {
        this.jitter += (Math.abs(d) - this.jitter) / 16;
        if (this.jitter > this.jitterMax) this.jitterMax = this.jitter;
      }
    }
    this.jitterSum += this.jitter;
    this.jitterSamples++;
    this.haveTransit = true;
    this.lastArrivalTs = arrivalTs;
    this.lastTimestamp = timestamp;
  }

  /** Whether at least one packet has been counted. */
  get hasPackets(): boolean {
    return this.received > 0;
  }

  /** Packets counted so far, every segment (snapshot().received without building a snapshot). */
  get receivedCount(): number {
    return this.prior.received + this.received;
  }

  private expected(): number {
    return this.received === 0 && this.probation > 0 ? 0 : this.extendedMax() - this.baseSeq + 1;
  }

  private countDuplicate(): void {
    this.duplicates++;
    this.segmentDuplicates++;
  }

  /** The current segment's A.1/A.3 counts. */
  private segmentCounts(): { received: number; expected: number; lost: number } {
    const expected = this.received > 0 ? this.expected() : 0;
    return { received: this.received, expected, lost: Math.max(0, expected - (this.received - this.segmentDuplicates)) };
  }

  snapshot(): ReceiverStatsSnapshot {
    const seg = this.segmentCounts();
    const received = this.prior.received + seg.received;
    const expected = this.prior.expected + seg.expected;
    const lost = this.prior.lost + seg.lost;
    const msPerTs = 1000 / this.clockRate;
    return {
      received,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      expected,
      cumulativeLost: expected - received,
      lost,
      lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
      baseSeq: this.baseSeq,
      extendedHighestSeq: this.extendedMax(),
      jitterTs: this.jitter,
      jitterMs: this.jitter * msPerTs,
      jitterMaxMs: this.jitterMax * msPerTs,
      jitterMeanMs: this.jitterSamples > 0 ? (this.jitterSum / this.jitterSamples) * msPerTs : 0,
      burstRatio: burstRatioFromTransitions(this.transitions),
      transitions: { ...this.transitions },
      restarts: this.restarts,
      firstArrivalMs: this.firstArrivalMs,
      lastArrivalMs: this.lastArrivalMs,
      longestGapMs: this.longestGapMs,
      longestGapFromMs: this.longestGapFromMs,
    };
  }

  /** RFC 3550 A.3 / 6.4.1: report block values; starts a new fraction-lost interval. */
  takeReportBlock(): ReportBlockFields {
    const expected = this.received > 0 ? this.expected() : 0;
    const expectedInterval = expected - this.expectedPrior;
    this.expectedPrior = expected;
    const receivedInterval = this.received - this.receivedPrior;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    // cumulative over the whole stream (closed segments included); the interval math above is per segment
    const cumulative = Math.max(-0x800000, Math.min(0x7fffff, this.prior.expected + expected - this.prior.received - this.received));
    return {
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: cumulative,
      extendedHighestSeq: this.extendedMax() >>> 0,
      jitter: Math.floor(this.jitter),
    };
  }
}
