/**
 * The one monotonic clock of the media engine: milliseconds as a float from
 * process.hrtime.bigint() (ns resolution), relative to module load so the
 * numbers stay small. Injected wherever timing matters, so tests can fake it.
 */
export interface Clock {
  /** Monotonic time in ms (fractional). */
  now(): number;
}

const origin = process.hrtime.bigint();

/**
 * The origin of monotonicClock in ns of CLOCK_MONOTONIC (the clock behind
 * process.hrtime), so times taken outside JS on that clock (the kernel receive
 * stamps of udpio) can be put on monotonicClock: (ns - origin) / 1e6.
 */
export const monotonicOriginNs = Number(origin);

export const monotonicClock: Clock = {
  now: () => Number(process.hrtime.bigint() - origin) / 1e6,
};

/** Epoch ms at monotonicClock 0: both clocks are CLOCK_MONOTONIC-based, so this stays put (kernel stamps → wall time). */
export const epochAtMonotonicZero = performance.timeOrigin + performance.now() - monotonicClock.now();

/** A clock you move by hand (tests). */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
