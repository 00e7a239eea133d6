// Runs each probe on its interval (grafana synthetic-monitoring-agent style):
// a random start offset per probe so a fleet does not fire in lockstep,
// absolute deadlines (anchor + k·interval, so no drift and no catch-up burst
// after a slow run), never two runs of one probe at once, and a global limit
// on concurrent runs (waiting runs queue in deadline order).

export interface Schedulable {
  name: string;
  /** Milliseconds between runs. */
  interval: number;
}

export type SkipReason = 'overlap' | 'queued';

export interface SchedulerOptions<P extends Schedulable> {
  run: (probe: P) => Promise<unknown>;
  /** At most this many runs at once (≥ 1). */
  concurrency: number;
  /** First run within [0, min(interval, this)) of start (default 10 s). */
  maxStartOffsetMs?: number;
  random?: () => number;
  now?: () => number;
  /** A deadline passed while the previous run was still going or still waiting for a slot. */
  onSkip?: (probe: P, reason: SkipReason) => void;
  /** run() rejected (the runner never should; logged by the caller). */
  onError?: (probe: P, err: unknown) => void;
}

interface Entry<P> {
  probe: P;
  anchor: number;
  /** Index of the armed deadline: anchor + k·interval. */
  k: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<unknown> | undefined;
  queued: boolean;
  /** Waiters of an out-of-schedule run queued via trigger(). */
  waiters: ((v: unknown) => void)[];
}

export class Scheduler<P extends Schedulable> {
  readonly #opts: Required<Omit<SchedulerOptions<P>, 'onSkip' | 'onError'>> & Pick<SchedulerOptions<P>, 'onSkip' | 'onError'>;
  readonly #entries = new Map<string, Entry<P>>();
  readonly #queue: Entry<P>[] = [];
  #active = 0;
  #stopped = false;

  constructor(opts: SchedulerOptions<P>) {
    if (!(opts.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
    // Per field: an explicit `undefined` from a caller's optional option must not erase a default.
    this.#opts = {
      ...opts,
      maxStartOffsetMs: opts.maxStartOffsetMs ?? 10_000,
      random: opts.random ?? Math.random,
      now: opts.now ?? Date.now,
    };
  }

  /** Runs in progress. */
  get active(): number {
    return this.#active;
  }

  /** Names currently scheduled. */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /** Starts (or, on reload, reconciles) the schedule: unchanged intervals keep their timing. */
  schedule(probes: readonly P[]): void {
    if (this.#stopped) throw new Error('scheduler stopped');
    const wanted = new Map(probes.map((p) => [p.name, p]));
    for (const [name, entry] of this.#entries) {
      const next = wanted.get(name);
      if (next === undefined || next.interval !== entry.probe.interval) this.#remove(entry);
      else entry.probe = next;
    }
    for (const probe of probes) {
      if (this.#entries.has(probe.name)) continue;
      const offset = Math.floor(this.#opts.random() * Math.min(probe.interval, this.#opts.maxStartOffsetMs));
      const entry: Entry<P> = { probe, anchor: this.#opts.now() + offset, k: 0, timer: undefined, running: undefined, queued: false, waiters: [] };
      this.#entries.set(probe.name, entry);
      this.#arm(entry, entry.anchor);
    }
  }

  /** Whether the probe is running or waiting for a slot (a trigger() now joins that run). */
  busy(name: string): boolean {
    const entry = this.#entries.get(name);
    return entry !== undefined && (entry.running !== undefined || entry.queued);
  }

  /**
   * Runs a probe now, out of schedule (/probe). Joins the run in progress if
   * there is one; otherwise waits for a free slot like any other run.
   */
  trigger(name: string): Promise<unknown> | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined || this.#stopped) return undefined;
    if (entry.running !== undefined) return entry.running;
    return new Promise((resolve) => {
      entry.waiters.push(resolve);
      if (!entry.queued) this.#due(entry);
    });
  }

  /** Stops scheduling; resolves when every run in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running = [...this.#entries.values()].map((e) => e.running).filter((r) => r !== undefined);
    for (const entry of this.#entries.values()) this.#remove(entry);
    await Promise.allSettled(running);
  }

  #remove(entry: Entry<P>): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const i = this.#queue.indexOf(entry);
    if (i >= 0) this.#queue.splice(i, 1);
    entry.queued = false;
    for (const w of entry.waiters.splice(0)) w(undefined);
    this.#entries.delete(entry.probe.name);
  }

  #arm(entry: Entry<P>, at: number): void {
    entry.timer = setTimeout(() => this.#tick(entry), Math.max(0, at - this.#opts.now()));
  }

  #tick(entry: Entry<P>): void {
    if (this.#entries.get(entry.probe.name) !== entry) return;
    // Next deadline first, from the anchor: a slow run never shifts the grid.
    // Strictly after the one that fired: timers may fire a millisecond early
    // by the wall clock, which must not run the same deadline twice.
    const now = this.#opts.now();
    entry.k = Math.max(entry.k + 1, Math.floor((now - entry.anchor) / entry.probe.interval) + 1);
    this.#arm(entry, entry.anchor + entry.k * entry.probe.interval);
    if (entry.running !== undefined) return this.#opts.onSkip?.(entry.probe, 'overlap');
    if (entry.queued) return this.#opts.onSkip?.(entry.probe, 'queued');
    this.#due(entry);
  }

  #due(entry: Entry<P>): void {
    if (this.#active < this.#opts.concurrency) this.#start(entry);
    else {
      entry.queued = true;
      this.#queue.push(entry);
    }
  }

  #start(entry: Entry<P>): void {
    entry.queued = false;
    this.#active++;
    const waiters = entry.waiters.splice(0);
    const run = Promise.resolve()
      .then(() => this.#opts.run(entry.probe))
      .catch((err: unknown) => {
        this.#opts.onError?.(entry.probe, err);
        return undefined;
      });
    entry.running = run;
    void run.then((value) => {
      entry.running = undefined;
      this.#active--;
      for (const w of waiters) w(value);
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#active < this.#opts.concurrency && this.#queue.length > 0) {
      const next = this.#queue.shift();
      if (next !== undefined && this.#entries.get(next.probe.name) === next) this.#start(next);
    }
  }
}
