/**
 * The one pacer for every media stream: absolute deadlines on a single timer.
 *
 * Each stream has deadlines start + n·period. All streams sit in one binary
 * min-heap keyed by their next deadline, and one timer wakes for the earliest.
 * A wake runs every stream whose deadline has come, so N streams cost one
 * timer, never N setIntervals. Deadlines are absolute, so there is no drift;
 * a stream late by up to `catchUpMs` (default 60 ms, three 20 ms packets)
 * catches up: the missed ticks go out late, back to back, in the wake-up that
 * finds them (a receiver sees jitter, as from any network queue, not loss; the
 * lateness histogram shows every one of them). Later than that, the missed
 * ticks are skipped (counted: the bench counts them as self-inflicted loss)
 * instead of bursting a backlog no jitter buffer would still play.
 * The sends of one wake-up are one batch (udpio: one addon call, sendmmsg).
 *
 * Precision: with the udpio addon the pacer sleeps on a timerfd (1 ns timer
 * slack) armed at the next deadline and wakes within tens of µs, so it does not
 * spin at all (an idle call costs its wake-ups, nothing more). Spinning is
 * opt-in (`preciseSpinMs` > 0): then, when the wake-ups it measures come late
 * (p90 of the last 64 over `spinThresholdMs`, 0.5), it wakes that much earlier
 * (at most `preciseSpinMs`) and spins the rest on setImmediate. With many streams it wakes at most once
 * per `batchMinGapMs` and takes every deadline within `batchEarlyMs` of now, so
 * a send is at most about that early or late. Without the addon, Node timers
 * fire on a millisecond loop clock, up to ~1 ms off, so:
 * - Few streams (≤ `spinMaxStreams`, e.g. the two legs of one probe call):
 *   the timer is armed `spinMs` before the deadline and setImmediate turns
 *   cover the rest (I/O still runs between them); a deadline within
 *   `earlyMs` counts as due. Cheap because deadlines are sparse.
 * - Many streams: spinning would keep a core busy, so the pacer sleeps on
 *   the timer, treats deadlines within `batchEarlyMs` as due, and is also
 *   polled from the receive path (`poll()`), which at scale runs every few
 *   tens of µs and so sends on time without any extra wake-up (on the
 *   precise timer too, every 16th packet, so a long receive burst cannot
 *   hold the sends back).
 * Lateness is |send time − deadline| (an early send counts as much as a late
 * one; the send time of a batched packet is interpolated over the batch),
 * in a histogram with 10 µs bins for the "RTP send lateness" self-metric.
 */
import { monotonicClock, type Clock } from './clock.js';
import { beginSendBatch, createPreciseTimer, endSendBatch, type PreciseTimer } from './udp.js';

/** Called at each deadline; `tick` is n (skipped ticks advance it too). */
export type TickFn = (tick: number, deadlineMs: number, nowMs: number) => void;

export interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(fn: () => void): unknown;
  clearImmediate(handle: unknown): void;
}

const nodeTimers: TimerHost = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setImmediate: (fn) => setImmediate(fn),
  clearImmediate: (h) => clearImmediate(h as NodeJS.Immediate),
};

export interface PacerOptions {
  clock?: Clock;
  timers?: TimerHost;
  /** With few streams, a deadline this close (ms) counts as due. Default 0.02. */
  earlyMs?: number;
  /** With few streams, arm the timer this long (ms) before a deadline and spin the rest. 0 = timer only. Default 1. */
  spinMs?: number;
  /** Spin only while at most this many streams are paced. Default 2. */
  spinMaxStreams?: number;
  /** With many streams, a deadline this close (ms) counts as due. Default 0.25 (with a precise timer), 0.5 (Node timers). */
  batchEarlyMs?: number;
  /** With a precise timer and many streams, wake at most once per this many ms. Default 0.5. */
  batchMinGapMs?: number;
  /** Called when a stream's tick function throws (the stream keeps its slot). */
  onError?: (err: unknown) => void;
  /**
   * A stream late by at most this many ms (and more than one period) sends its missed ticks
   * late, back to back; later than this, it skips them. Default 60 (docs/decisions.md). 0: never
   * catch up (skip whatever is more than one period late).
   */
  catchUpMs?: number;
  /**
   * A timer that fires at a deadline with sub-ms precision (udpio's timerfd).
   * With one the pacer sleeps until each deadline and never spins. Default:
   * udpio's when the addon is in use and the clock is monotonicClock; `false`
   * forces Node timers (+ spin).
   */
  preciseTimer?: ((fire: () => void) => PreciseTimer | undefined) | false;
  /**
   * With a precise timer and few streams: the most (ms) the pacer wakes before
   * a deadline and spins, when its measured wake-up latency calls for it.
   * Default 0: never spin (on a loaded host the spin cost ~25 ms of CPU per
   * second and did not buy back the lateness the run queue adds).
   */
  preciseSpinMs?: number;
  /** Spin only while the p90 of the last 64 precise wake-up latencies exceeds this (ms). Default 0.5. */
  spinThresholdMs?: number;
  /**
   * Brackets the ticks of one wake-up, so their sends leave in one batch.
   * Default: udpio's send batch when the precise timer is udpio's; `false`: none.
   */
  sendBatch?: { begin(): void; end(): void } | false;
}

export interface PacerSlot {
  /** Ticks skipped because the stream was more than `catchUpMs` (and one period) late. */
  readonly skipped: number;
  /** Ticks run so far. */
  readonly ticks: number;
  /** Takes the stream out of the pacer; idempotent. */
  remove(): void;
}

export interface LatenessSummary {
  /** Ticks measured. */
  count: number;
  /** Ticks skipped (late by more than catchUpMs and one period). */
  skipped: number;
  /** Ticks sent more than one period late (caught up after a stall instead of skipped). */
  caught_up: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

class Entry implements PacerSlot {
  index = -1;
  tick = 0;
  deadline: number;
  skipped = 0;
  ticks = 0;
  constructor(
    readonly start: number,
    readonly period: number,
    readonly fn: TickFn,
    private readonly pacer: Pacer,
  ) {
    this.deadline = start;
  }
  remove(): void {
    this.pacer.removeEntry(this);
  }
}

const BIN_US = 10;
/** Precise wake-up latencies kept for the spin decision. */
const WAKE_SAMPLES = 64;
const BINS = 10_000; // 0..100 ms in 10 µs bins, then overflow

export class Pacer {
  readonly clock: Clock;
  private readonly timers: TimerHost;
  private readonly earlyMs: number;
  private readonly spinMs: number;
  private readonly spinMaxStreams: number;
  private readonly batchEarlyMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly catchUpMs: number;
  private readonly heap: Entry[] = [];
  private timer: unknown;
  private immediate: unknown;
  private readonly precise: PreciseTimer | undefined;
  private readonly preciseSpinMs: number;
  private readonly spinThresholdMs: number;
  private readonly batchMinGapMs: number;
  private readonly sendBatch: { begin(): void; end(): void } | undefined;
  private preciseArmed = false;
  /** When the precise timer was armed for (NaN: not armed), to measure its wake-up latency. */
  private armedAt = Number.NaN;
  private lastWake = Number.NEGATIVE_INFINITY;
  private readonly wakeLate = new Float64Array(WAKE_SAMPLES);
  private readonly wakeScratch = new Float64Array(WAKE_SAMPLES);
  private wakes = 0;
  private polls = 0;
  /** How long before a deadline the precise timer wakes (0: no spinning). */
  private lead = 0;
  /** Deadlines of the ticks run in the current wake-up (lateness is recorded after the batch left). */
  private batchDeadlines = new Float64Array(256);
  private running = false;
  private readonly bins = new Uint32Array(BINS + 1);
  private count = 0;
  private skippedTotal = 0;
  private caughtUp = 0;
  private maxLate = 0;

  constructor(opts: PacerOptions = {}) {
    this.clock = opts.clock ?? monotonicClock;
    this.timers = opts.timers ?? nodeTimers;
    this.earlyMs = opts.earlyMs ?? 0.02;
    this.spinMs = opts.spinMs ?? 1;
    this.spinMaxStreams = opts.spinMaxStreams ?? 2;
    this.onError = opts.onError ?? ((err) => process.emitWarning(`pacer: stream tick failed: ${String(err)}`));
    this.catchUpMs = opts.catchUpMs ?? 60;
    const real = opts.clock === undefined && opts.timers === undefined;
    const precise = opts.preciseTimer ?? (real ? createPreciseTimer : false);
    this.precise = precise === false ? undefined : precise(this.run);
    this.batchEarlyMs = opts.batchEarlyMs ?? (this.precise ? 0.25 : 0.5);
    this.batchMinGapMs = opts.batchMinGapMs ?? 0.5;
    this.preciseSpinMs = opts.preciseSpinMs ?? 0;
    this.spinThresholdMs = opts.spinThresholdMs ?? 0.5;
    const batch = opts.sendBatch ?? (this.precise && opts.preciseTimer === undefined ? { begin: beginSendBatch, end: endSendBatch } : false);
    this.sendBatch = batch === false ? undefined : batch;
  }

  /** Number of streams paced. */
  get size(): number {
    return this.heap.length;
  }

  /**
   * Paces `fn` every `periodMs` from `startMs`. Without `startMs` the stream
   * starts now, or, while few streams are paced, at the next deadline of one
   * already paced with the same period (at most one period from now): the two
   * legs of a call then share every wake-up, and their packets every receive,
   * which halves what an idle call costs. Many streams keep their own phases
   * (aligned, they would burst).
   */
  add(periodMs: number, fn: TickFn, startMs?: number): PacerSlot {
    if (!(periodMs > 0)) throw new RangeError('period must be > 0');
    const entry = new Entry(startMs ?? this.alignedStart(periodMs), periodMs, fn, this);
    this.push(entry);
    if (!this.running) this.arm();
    return entry;
  }

  private alignedStart(periodMs: number): number {
    const now = this.clock.now();
    if (this.heap.length + 1 > this.spinMaxStreams) return now;
    for (const e of this.heap) {
      if (e.period !== periodMs) continue;
      // e's first deadline at or after now (its deadline may lie in the past while it is due)
      const ahead = e.deadline - now;
      return now + (ahead >= 0 ? ahead % periodMs : (periodMs - (-ahead % periodMs)) % periodMs);
    }
    return now;
  }

  /** @internal use PacerSlot.remove() */
  removeEntry(entry: Entry): void {
    const i = entry.index;
    if (i < 0) return;
    const last = this.heap.pop() as Entry;
    entry.index = -1;
    if (last !== entry) {
      this.heap[i] = last;
      last.index = i;
      this.siftDown(i);
      this.siftUp(last.index);
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Removes every stream and the timer. */
  close(): void {
    for (const e of this.heap) e.index = -1;
    this.heap.length = 0;
    this.disarm();
  }

  lateness(): LatenessSummary {
    return {
      count: this.count,
      skipped: this.skippedTotal,
      caught_up: this.caughtUp,
      p50_ms: this.quantile(0.5),
      p99_ms: this.quantile(0.99),
      max_ms: this.maxLate,
    };
  }

  /** Cumulative counts of lateness ≤ each bound (ms), for a Prometheus histogram. */
  latenessHistogram(boundsMs: readonly number[]): { le: number; count: number }[] {
    return boundsMs.map((le) => {
      const last = Math.min(BINS, Math.floor((le * 1000) / BIN_US));
      let n = 0;
      for (let b = 0; b <= last; b++) n += this.bins[b] ?? 0;
      return { le, count: le * 1000 >= BINS * BIN_US ? this.count : n };
    });
  }

  resetLateness(): void {
    this.bins.fill(0);
    this.count = 0;
    this.skippedTotal = 0;
    this.caughtUp = 0;
    this.maxLate = 0;
  }

  private quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let n = 0;
    for (let b = 0; b <= BINS; b++) {
      n += this.bins[b] ?? 0;
      if (n >= target) return b === BINS ? this.maxLate : Math.min(this.maxLate, ((b + 1) * BIN_US) / 1000);
    }
    return this.maxLate;
  }

  private record(lateMs: number): void {
    const late = lateMs < 0 ? -lateMs : lateMs;
    const bin = Math.min(BINS, Math.floor((late * 1000) / BIN_US));
    this.bins[bin] = (this.bins[bin] ?? 0) + 1;
    this.count++;
    if (late > this.maxLate) this.maxLate = late;
  }

  private fewStreams(): boolean {
    return this.heap.length <= this.spinMaxStreams;
  }

  private spinning(): boolean {
    return this.precise === undefined && this.spinMs > 0 && this.fewStreams();
  }

  private window(): number {
    return (this.precise !== undefined || this.spinMs > 0) && this.fewStreams() ? this.earlyMs : this.batchEarlyMs;
  }

  /**
   * Sends whatever is due now; call it from hot I/O paths (packet receive).
   * Costs one clock read (none when `nowMs` is given) when nothing is due. The armed timer stays: at
   * worst it wakes once for nothing and re-arms.
   */
  poll(nowMs?: number): void {
    if (this.running) return;
    // On the precise timer only every 16th call reads the clock: at scale that
    // is still every few tens of µs, and a long receive burst cannot hold the
    // sends back by more than that.
    if (this.precise && nowMs === undefined && (++this.polls & 15) !== 0) return;
    const head = this.heap[0];
    if (head && head.deadline <= (nowMs ?? this.clock.now()) + this.window()) this.process();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    const now = this.process();
    if (this.preciseArmed) {
      this.preciseArmed = false;
      this.noteWake(now - this.armedAt);
    }
    this.arm();
  };

  /** Keeps the precise timer's wake-up latency; every 64 wake-ups, decides how far ahead to wake. */
  private noteWake(lateMs: number): void {
    this.wakeLate[this.wakes++ % WAKE_SAMPLES] = lateMs;
    if (this.wakes % WAKE_SAMPLES !== 0) return;
    this.wakeScratch.set(this.wakeLate);
    this.wakeScratch.sort();
    const p90 = this.wakeScratch[Math.floor(WAKE_SAMPLES * 0.9)] ?? 0;
    this.lead = p90 > this.spinThresholdMs ? Math.min(this.preciseSpinMs, p90) : 0;
  }

  /**
   * Runs the ticks due now, as one send batch; returns the time at the start. At most one
   * tick per stream on average (heap size) per wake-up: a backlog (a caught-up stall, or a
   * process that cannot keep up) goes out over several wake-ups with I/O in between, so the
   * receive path is never starved by the send loop.
   */
  private process(): number {
    this.running = true;
    const window = this.window();
    const most = this.heap.length;
    const t0 = this.clock.now();
    let now = t0;
    let n = 0;
    this.lastWake = t0;
    this.sendBatch?.begin();
    try {
      for (let head = this.heap[0]; head && head.deadline <= now + window && n < most; head = this.heap[0]) {
        const late = now - head.deadline;
        if (late > head.period && late > this.catchUpMs) {
          const skip = Math.floor(late / head.period);
          head.tick += skip;
          head.skipped += skip;
          this.skippedTotal += skip;
          head.deadline = head.start + head.tick * head.period;
        } else if (late > head.period) this.caughtUp++;
        if (n === this.batchDeadlines.length) {
          const grown = new Float64Array(n * 2);
          grown.set(this.batchDeadlines);
          this.batchDeadlines = grown;
        }
        this.batchDeadlines[n++] = head.deadline;
        head.ticks++;
        try {
          head.fn(head.tick, head.deadline, now);
        } catch (err) {
          this.onError(err);
        }
        if (head.index >= 0) {
          head.tick++;
          head.deadline = head.start + head.tick * head.period;
          this.siftDown(head.index);
        }
        if ((n & 15) === 0) now = this.clock.now();
      }
    } finally {
      this.sendBatch?.end();
      // The packets left between t0 and t1 (in the batch, in order): interpolate each one's send time.
      const t1 = n > 0 ? this.clock.now() : t0;
      for (let i = 0; i < n; i++) this.record(t0 + ((t1 - t0) * (i + 1)) / n - (this.batchDeadlines[i] as number));
      this.running = false;
    }
    return t0;
  }

  private arm(): void {
    this.disarm();
    const head = this.heap[0];
    if (!head) return;
    if (this.precise) {
      // Few streams: wake at the deadline (minus the due window, and minus the
      // lead only if measured wake-ups need it; then spin the rest). Many: wake
      // at the first deadline but at most once per batchMinGapMs; the wake-up
      // takes every deadline within the batch window around it.
      const few = this.fewStreams();
      const lead = few ? this.lead : 0;
      const at = few ? head.deadline - this.window() - lead : Math.max(head.deadline, this.lastWake + this.batchMinGapMs);
      if (lead > 0 && at <= this.clock.now()) this.immediate = this.timers.setImmediate(this.run);
      else {
        this.precise.arm(at);
        this.preciseArmed = true;
        this.armedAt = at;
      }
      return;
    }
    const wait = head.deadline - this.clock.now() - this.window();
    if (this.spinning()) {
      // Timer until about spinMs before the deadline (a timer cannot be shorter than 1 ms), then spin.
      if (wait < this.spinMs + 1) this.immediate = this.timers.setImmediate(this.run);
      else this.timer = this.timers.setTimeout(this.run, Math.floor(wait - this.spinMs));
    } else if (wait <= 0) this.immediate = this.timers.setImmediate(this.run);
    else this.timer = this.timers.setTimeout(this.run, Math.max(1, Math.round(wait)));
  }

  private disarm(): void {
    if (this.preciseArmed) this.precise?.disarm();
    this.preciseArmed = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    if (this.immediate !== undefined) this.timers.clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private push(entry: Entry): void {
    entry.index = this.heap.length;
    this.heap.push(entry);
    this.siftUp(entry.index);
  }

  private less(a: Entry, b: Entry): boolean {
    return a.deadline < b.deadline;
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i] as Entry;
    const b = this.heap[j] as Entry;
    this.heap[i] = b;
    this.heap[j] = a;
    a.index = j;
    b.index = i;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i] as Entry, this.heap[parent] as Entry)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.heap[l] as Entry, this.heap[m] as Entry)) m = l;
      if (r < n && this.less(this.heap[r] as Entry, this.heap[m] as Entry)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

let shared: Pacer | undefined;

/** The process-wide pacer every RtpSession uses unless given another. */
export function sharedPacer(): Pacer {
  shared ??= new Pacer();
  return shared;
}
