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
 */
import { burstRatioFromTransitions, emptyTransitions, type LossTransitions } from '../quality/burst.js';

const RTP_SEQ_MOD = 1 << 16;
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
/** How far back duplicates are recognised (packets); a power of two. */
const DUP_WINDOW = 1024;

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
  | 'bad_seq';

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
  /** Arrival time (caller's clock, ms) of the first and last counted packet. */
  firstArrivalMs: number | null;
  lastArrivalMs: number | null;
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
  private outOfOrder = 0;
  private readonly seen = new Uint8Array(DUP_WINDOW);
  private transitions: LossTransitions = emptyTransitions();
  private firstArrivalMs: number | null = null;
  private lastArrivalMs: number | null = null;

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
    const verdict = this.updateSeq(seq & 0xffff);
    if (verdict === 'bad_seq' || verdict === 'duplicate') return verdict;
    if (this.firstArrivalMs === null) this.firstArrivalMs = arrivalMs;
    this.lastArrivalMs = arrivalMs;
    if (opts?.jitter !== false) this.updateJitter(timestamp >>> 0, arrivalMs);
    return verdict;
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
    this.transitions = emptyTransitions();
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
        this.duplicates++;
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
        // telling us, so just re-sync (i.e. pretend this was the first packet).
        this.initSeq(seq);
        this.received++;
        return 'in_order';
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
        this.duplicates++;
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
  private updateJitter(timestamp: number, arrivalMs: number): void {
    const arrivalTs = (arrivalMs * this.clockRate) / 1000;
    if (this.haveTransit) {
      const d = arrivalTs - this.lastArrivalTs - signed32(timestamp - this.lastTimestamp);
      this.jitter += (Math.abs(d) - this.jitter) / 16;
      if (this.jitter > this.jitterMax) this.jitterMax = this.jitter;
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

  private expected(): number {
    return this.received === 0 && this.probation > 0 ? 0 : this.extendedMax() - this.baseSeq + 1;
  }

  snapshot(): ReceiverStatsSnapshot {
    const expected = this.received > 0 ? this.expected() : 0;
    const lost = Math.max(0, expected - (this.received - this.duplicates));
    const msPerTs = 1000 / this.clockRate;
    return {
      received: this.received,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      expected,
      cumulativeLost: expected - this.received,
      lost,
      lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
      baseSeq: this.baseSeq,
      extendedHighestSeq: this.extendedMax(),
      jitterTs: this.jitter,
      jitterMs: this.jitter * msPerTs,
      jitterMaxMs: this.jitterMax * msPerTs,
      jitterMeanMs: this.jitterSamples > 0 ? (this.jitterSum / this.jitterSamples) * msPerTs : 0,
      burstRatio: burstRatioFromTransitions(this.transitions),
      firstArrivalMs: this.firstArrivalMs,
      lastArrivalMs: this.lastArrivalMs,
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
    const cumulative = Math.max(-0x800000, Math.min(0x7fffff, expected - this.received));
    return {
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: cumulative,
      extendedHighestSeq: this.extendedMax() >>> 0,
      jitter: Math.floor(this.jitter),
    };
  }
}
