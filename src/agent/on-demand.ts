// Rate limit of on-demand runs (/probe?target=): each GET may place a real
// call, so a probe runs on demand at most once per http.probe_min_interval,
// counted from the end of its last on-demand run. A request while the probe
// is running (scheduled or on demand) joins that run instead: never two runs
// of one probe at once (the scheduler guarantees that part).

export class OnDemandLimiter {
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  /** probe → when its last on-demand run ended. */
  readonly #lastEnd = new Map<string, number>();

  constructor(minIntervalMs: number, now: () => number = Date.now) {
    this.#minIntervalMs = minIntervalMs;
    this.#now = now;
  }

  /** 0 when a new on-demand run may start now, else the milliseconds to wait. */
  waitMs(name: string): number {
    const end = this.#lastEnd.get(name);
    if (end === undefined) return 0;
    return Math.max(0, end + this.#minIntervalMs - this.#now());
  }

  /** Records the end of an on-demand run. */
  ended(name: string): void {
    this.#lastEnd.set(name, this.#now());
  }

  /** Forgets probes no longer configured (reload). */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.#lastEnd.keys()) if (!names.has(name)) this.#lastEnd.delete(name);
  }
}
