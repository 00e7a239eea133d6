/**
 * Media-phase accounting at a receiver: when RTP arrived, the longest silence
 * (a gap between packets, or the tail from the last packet to the end of the
 * media phase), and the loss a stream that stopped early really had.
 *
 * RFC 3550 A.3 counts expected packets up to the highest sequence number
 * received, so a stream that stops looks complete. A probe knows better: the
 * media phase lasted until it hung up, and when it holds both ends it knows
 * what the sender sent. `coverMediaPhase` extends the expected count by the
 * packets the sender's rate says were due after the last arrival, and by the
 * sender's own count when known; the extra packets are a loss burst at the
 * end (for the burst ratio). Pure: times are injected.
 */
import { burstRatioFromTransitions, type LossTransitions } from '../quality/burst.js';

export interface Silence {
  /** Longest stretch without RTP (ms), up to `untilMs` included. */
  longestMs: number;
  /** When that stretch began (tracker clock, ms). */
  fromMs: number;
  /**
   * `none`: no RTP at all; `start`: before the first packet; `gap`: between
   * two packets; `end`: from the last packet to the end (the stream stopped).
   */
  where: 'none' | 'start' | 'gap' | 'end';
}

/**
 * Arrival activity of one receiver (all its packets, any SSRC). Silence while
 * suspended (the far end is on hold) does not count.
 */
export class ActivityTracker {
  private firstMs: number | null = null;
  private lastMs: number | null = null;
  /** Reference for the next gap: the last arrival, or the end of a suspension. */
  private sinceMs: number;
  private longest: Silence;
  private suspended = false;

  /** `startMs`: when media was due to start (the silence before the first packet counts from there). */
  constructor(readonly startMs: number) {
    this.sinceMs = startMs;
    this.longest = { longestMs: 0, fromMs: startMs, where: 'start' };
  }

  note(arrivalMs: number): void {
    if (!this.suspended) {
      this.account(arrivalMs, this.firstMs === null ? 'start' : 'gap');
      this.sinceMs = arrivalMs;
    }
    this.firstMs ??= arrivalMs;
    this.lastMs = arrivalMs;
  }

  /** Silence from now on is expected (hold) until resume(). */
  suspend(nowMs: number): void {
    if (this.suspended) return;
    this.account(nowMs, this.firstMs === null ? 'start' : 'gap');
    this.suspended = true;
  }

  resume(nowMs: number): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.sinceMs = nowMs;
  }

  get first(): number | null {
    return this.firstMs;
  }

  get last(): number | null {
    return this.lastMs;
  }

  /** The longest silence up to `untilMs` (the end of the media phase). */
  silence(untilMs: number): Silence {
    const tail = this.suspended ? 0 : untilMs - this.sinceMs;
    if (tail > this.longest.longestMs) return { longestMs: tail, fromMs: this.sinceMs, where: this.firstMs === null ? 'none' : 'end' };
    return { ...this.longest };
  }

  private account(nowMs: number, where: 'start' | 'gap'): void {
    const gap = nowMs - this.sinceMs;
    if (gap > this.longest.longestMs) this.longest = { longestMs: gap, fromMs: this.sinceMs, where };
  }
}

/** What a receiver counted (A.1/A.3, summed over its SSRCs). */
export interface Counted {
  expected: number;
  received: number;
  duplicates: number;
  lost: number;
  /** Loss pattern of the stream the burst ratio is taken from. */
  transitions: LossTransitions;
}

export interface MediaPhase {
  /** End of the media phase (tracker clock, ms): when the call was hung up or the listener stopped. */
  untilMs: number;
  /** Start of the media phase (when nothing at all arrived, the whole phase was due). */
  startMs: number;
  /** Packet interval of the stream (ptime), ms. */
  packetMs: number;
  /** Last arrival (tracker clock), null if none. */
  lastArrivalMs: number | null;
  /** What the sender says it sent (the probe holds that end, or its last RTCP SR), when known. */
  sent?: number | null;
}

export interface Covered {
  expected: number;
  lost: number;
  lossPercent: number;
  burstRatio: number;
  /** Packets added to the expected count beyond A.3 (the missing tail). */
  missingTail: number;
}

/**
 * Expected packets over the whole media phase: A.3's count, plus the packets
 * due between the last arrival and the end (one packet interval of slack for
 * the one in flight), and never fewer than the sender's own count.
 */
export function coverMediaPhase(counted: Counted, phase: MediaPhase): Covered {
  const from = phase.lastArrivalMs ?? phase.startMs;
  const dueAfter = Math.max(0, Math.floor((phase.untilMs - from) / phase.packetMs) - 1);
  const expected = Math.max(counted.expected + dueAfter, phase.sent ?? 0, counted.expected);
  const missingTail = expected - counted.expected;
  const lost = counted.lost + missingTail;
  const transitions = { ...counted.transitions };
  if (missingTail > 0) {
    // a run of losses at the end: R→L once, then L→L
    if (counted.received > 0) transitions.receivedToLost++;
    transitions.lostToLost += missingTail - 1;
  }
  return {
    expected,
    lost,
    lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
    burstRatio: burstRatioFromTransitions(transitions),
    missingTail,
  };
}

/**
 * Takes a sender's unmeasured tail (RtpSender.finish) out of what a receiver counted.
 * The tail is `tail` frames sent after the `sent` measured ones so that a relay
 * holding its last frame (a transcoder) releases every measured one; the relay then
 * holds a tail frame instead. Which packets are the tail cannot be read off a stream
 * the relay re-originated (new SSRC and sequence numbers), but the count can: when
 * the receiver's RFC 3550 A.3 expected count runs past `sent`, that excess (at most
 * `tail`) is tail that arrived, and comes off both expected and received. A stream cut
 * at its end (the last measured packets and the tail lost) keeps its loss: nothing
 * past `sent` arrived, and the sender's count still sets the floor in coverMediaPhase.
 * Limit: a relay that renumbers consecutively, does not hold, and lost a packet
 * upstream shows one loss fewer (its tail fills the count).
 */
export function withoutTail<T extends { expected: number; received: number }>(counted: T, sent: number | null, tail: number): T {
  if (sent === null || tail <= 0) return counted;
  const arrived = Math.min(tail, Math.max(0, counted.expected - sent), counted.received);
  if (arrived === 0) return counted;
  return { ...counted, expected: counted.expected - arrived, received: counted.received - arrived };
}
