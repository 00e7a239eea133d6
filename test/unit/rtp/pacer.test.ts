import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/rtp/clock.js';
import { Pacer, type TimerHost } from '../../../src/rtp/pacer.js';

/** Fake timers on a ManualClock; `lateBy` makes every timeout fire that much late. */
class FakeTimers implements TimerHost {
  private seq = 0;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  constructor(
    private readonly clock: ManualClock,
    private readonly lateBy = 0,
  ) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.clock.now() + ms + this.lateBy, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  setImmediate(fn: () => void): unknown {
    return this.setTimeout(fn, -this.lateBy);
  }
  clearImmediate(h: unknown): void {
    this.pending.delete(h as number);
  }
  /** Runs due timers in time order up to `t`, moving the clock to each firing time. */
  runUntil(t: number): void {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (!next || e[1].at < next[1].at) next = e;
      if (!next || next[1].at > t) break;
      this.pending.delete(next[0]);
      if (next[1].at > this.clock.now()) this.clock.set(next[1].at);
      next[1].fn();
    }
    if (t > this.clock.now()) this.clock.set(t);
  }
}

function setup(lateBy = 0): { clock: ManualClock; timers: FakeTimers; pacer: Pacer } {
  const clock = new ManualClock(1000);
  const timers = new FakeTimers(clock, lateBy);
  const pacer = new Pacer({ clock, timers, spinMs: 0, earlyMs: 0, batchEarlyMs: 0 });
  return { clock, timers, pacer };
}

describe('Pacer (absolute deadlines, one timer)', () => {
  it('ticks at start + n·period exactly', () => {
    const { timers, pacer } = setup();
    const seen: [number, number, number][] = [];
    pacer.add(20, (tick, deadline, now) => seen.push([tick, deadline, now]), 1000);
    timers.runUntil(1100);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5].map((n) => [n, 1000 + 20 * n, 1000 + 20 * n]));
    expect(pacer.lateness()).toMatchObject({ count: 6, skipped: 0, max_ms: 0 });
  });

  it('does not drift when every wake-up is late', () => {
    const { timers, pacer } = setup(0.7);
    const deadlines: number[] = [];
    const nows: number[] = [];
    pacer.add(20, (_t, d, now) => {
      deadlines.push(d);
      nows.push(now);
    }, 1000);
    timers.runUntil(1000 + 20 * 100 + 5);
    expect(deadlines).toHaveLength(101);
    expect(deadlines.at(-1)).toBe(1000 + 20 * 100);
    // lateness stays bounded (0.7 ms late timer + < 1 ms timer rounding) instead of accumulating
    for (let i = 0; i < nows.length; i++) {
      expect((nows[i] ?? 0) - (deadlines[i] ?? 0)).toBeGreaterThanOrEqual(0);
      expect((nows[i] ?? 0) - (deadlines[i] ?? 0)).toBeLessThan(1.7);
    }
    expect(pacer.lateness().max_ms).toBeLessThan(1.7);
    expect(pacer.lateness().max_ms).toBeGreaterThanOrEqual(0.7);
  });

  it('catches up (sends the missed tick late, back to back) after a stall within catchUpMs', () => {
    const { clock, timers, pacer } = setup();
    const ticks: [number, number][] = [];
    const slot = pacer.add(20, (tick, _d, now) => ticks.push([tick, now]), 1000);
    timers.runUntil(1000); // tick 0
    clock.set(1045); // event loop blocked for 45 ms: tick 1 (deadline 1020) is 25 ms late, tick 2 (1040) 5 ms
    timers.runUntil(1045);
    expect(ticks).toEqual([[0, 1000], [1, 1045], [2, 1045]]);
    expect(slot.skipped).toBe(0);
    expect(pacer.lateness()).toMatchObject({ skipped: 0, caught_up: 1 });
    expect(pacer.lateness().max_ms).toBeCloseTo(25, 9);
    timers.runUntil(1060);
    expect(ticks.map(([t]) => t)).toEqual([0, 1, 2, 3]);
  });

  it('runs at most one tick per stream per wake-up: a backlog goes out over several wake-ups', () => {
    const { clock, timers, pacer } = setup();
    const ticks: [number, number][] = [];
    for (let i = 0; i < 3; i++) pacer.add(20, (tick) => ticks.push([i, tick]), 1000);
    timers.runUntil(1000); // tick 0 of each
    expect(ticks).toHaveLength(3);
    clock.set(1045); // 45 ms stall: ticks 1 and 2 of each are due (caught up)
    expect(timers.pending.size).toBe(1);
    const [[id, wake] = [0, { fn: () => undefined }]] = [...timers.pending.entries()];
    timers.pending.delete(id);
    wake.fn(); // one wake-up
    expect(ticks).toHaveLength(3 + 3); // not all six at once
    timers.runUntil(1045); // the next wake-up, armed at once, takes the rest
    expect(ticks).toHaveLength(3 + 6);
    expect(pacer.lateness()).toMatchObject({ skipped: 0, caught_up: 3 });
    pacer.close();
  });

  it('skips (no catch-up) when catchUpMs is 0', () => {
    const { clock, timers } = setup();
    const pacer = new Pacer({ clock, timers, spinMs: 0, earlyMs: 0, batchEarlyMs: 0, catchUpMs: 0 });
    const ticks: number[] = [];
    const slot = pacer.add(20, (tick) => ticks.push(tick), 1000);
    timers.runUntil(1000);
    clock.set(1045);
    timers.runUntil(1045);
    expect(ticks).toEqual([0, 2]);
    expect(slot.skipped).toBe(1);
    pacer.close();
  });

  it('skips ahead (no burst) when more than catchUpMs late, and counts it', () => {
    const { clock, timers, pacer } = setup();
    const ticks: number[] = [];
    const slot = pacer.add(20, (tick) => ticks.push(tick), 1000);
    timers.runUntil(1000); // tick 0
    clock.set(1085); // event loop blocked for 85 ms
    timers.runUntil(1085);
    // late 85 ms for tick 1 (deadline 1020): skip 3 ticks to tick 4 (deadline 1080), one send only
    expect(ticks).toEqual([0, 4]);
    expect(slot.skipped).toBe(3);
    expect(pacer.lateness().skipped).toBe(3);
    expect(pacer.lateness().max_ms).toBeCloseTo(5, 9);
    timers.runUntil(1100);
    expect(ticks).toEqual([0, 4, 5]);
  });

  it('paces 1000 streams with a single pending timer', () => {
    const { timers, pacer } = setup();
    const counts = new Uint32Array(1000);
    for (let i = 0; i < 1000; i++) {
      pacer.add(20, () => {
        counts[i] = (counts[i] ?? 0) + 1;
      }, 1000 + (i % 20));
    }
    expect(timers.pending.size).toBe(1);
    for (let t = 1000; t <= 1200; t += 1) {
      timers.runUntil(t);
      expect(timers.pending.size).toBeLessThanOrEqual(1);
    }
    // deadlines 1000..1019 + 20n up to 1200: every stream ticked 10 or 11 times
    for (const c of counts) expect(c === 10 || c === 11).toBe(true);
    expect(pacer.lateness().max_ms).toBe(0);
    pacer.close();
    expect(timers.pending.size).toBe(0);
    expect(pacer.size).toBe(0);
  });

  it('lets a stream remove itself (or another) from inside its tick; no timer left when empty', () => {
    const { timers, pacer } = setup();
    let a = 0;
    let b = 0;
    const slotB = pacer.add(10, () => b++, 1000);
    const slotA = pacer.add(10, () => {
      a++;
      if (a === 3) {
        slotA.remove();
        slotB.remove();
        slotA.remove(); // idempotent
      }
    }, 1001);
    timers.runUntil(1100);
    expect(a).toBe(3);
    expect(b).toBe(3);
    expect(pacer.size).toBe(0);
    expect(timers.pending.size).toBe(0);
  });

  it('keeps a stream whose tick throws and reports the error', () => {
    const clock = new ManualClock(0);
    const timers = new FakeTimers(clock);
    const errors: unknown[] = [];
    const pacer = new Pacer({ clock, timers, spinMs: 0, earlyMs: 0, batchEarlyMs: 0, onError: (e) => errors.push(e) });
    let n = 0;
    pacer.add(20, () => {
      n++;
      throw new Error('boom');
    }, 0);
    timers.runUntil(40);
    expect(n).toBe(3);
    expect(errors).toHaveLength(3);
    pacer.close();
  });

  it('summarises lateness as quantiles and a cumulative histogram', () => {
    const { clock, timers, pacer } = setup();
    let i = 0;
    // lateness pattern: 99 on-time ticks, then one 3 ms late
    pacer.add(20, () => {
      i++;
    }, 1000);
    for (let n = 0; n < 99; n++) timers.runUntil(1000 + 20 * n);
    clock.set(1000 + 20 * 99 + 3);
    timers.runUntil(1000 + 20 * 99 + 3);
    expect(i).toBe(100);
    const s = pacer.lateness();
    expect(s.count).toBe(100);
    expect(s.p50_ms).toBeLessThanOrEqual(0.01);
    expect(s.p99_ms).toBeLessThanOrEqual(0.01);
    expect(s.max_ms).toBeCloseTo(3, 9);
    expect(pacer.latenessHistogram([0.001, 1, 5, 1000])).toEqual([
      { le: 0.001, count: 99 },
      { le: 1, count: 99 },
      { le: 5, count: 100 },
      { le: 1000, count: 100 },
    ]);
    pacer.resetLateness();
    expect(pacer.lateness().count).toBe(0);
    pacer.close();
  });
});

describe('Pacer precision modes', () => {
  it('poll() sends what is due from the I/O path, without waiting for the timer', () => {
    const clock = new ManualClock(0);
    const timers = new FakeTimers(clock);
    const pacer = new Pacer({ clock, timers, spinMs: 0, batchEarlyMs: 0.5 });
    const sent: number[] = [];
    pacer.add(20, (tick) => sent.push(tick), 0);
    timers.runUntil(0);
    expect(sent).toEqual([0]);
    clock.set(19.4);
    pacer.poll(); // not due yet (20 − 19.4 > 0.5)
    expect(sent).toEqual([0]);
    clock.set(19.6);
    pacer.poll(); // within the 0.5 ms window
    expect(sent).toEqual([0, 1]);
    pacer.poll();
    expect(sent).toEqual([0, 1]);
    pacer.close();
  });

  it('spins (setImmediate) only while few streams are paced', () => {
    const clock = new ManualClock(0);
    let immediates = 0;
    let timeouts = 0;
    const timers: TimerHost = {
      setTimeout: () => ++timeouts,
      clearTimeout: () => undefined,
      setImmediate: () => ++immediates,
      clearImmediate: () => undefined,
    };
    const pacer = new Pacer({ clock, timers, spinMs: 1, spinMaxStreams: 2 });
    pacer.add(20, () => undefined, 1.5); // 1.5 ms away: spin
    expect(immediates).toBe(1);
    pacer.add(20, () => undefined, 1.6);
    pacer.add(20, () => undefined, 1.7); // 3 streams: no spinning, a 1 ms timer instead
    expect(immediates).toBe(2);
    expect(timeouts).toBe(1);
    pacer.close();
  });
});

describe('Pacer on a precise timer (udpio timerfd)', () => {
  /** A precise timer on the fake clock: fires exactly at the armed time (via FakeTimers). */
  function preciseSetup(
    opts: { wakeLateMs?: number; batch?: { begin(): void; end(): void }; spinMs?: number } = {},
  ): { clock: ManualClock; timers: FakeTimers; pacer: Pacer; armed: number[]; setTimeouts: () => number; immediates: () => number } {
    const clock = new ManualClock(0);
    let immediates = 0;
    const timers = new FakeTimers(clock);
    let timeouts = 0;
    const counting: TimerHost = {
      setTimeout: (fn, ms) => {
        timeouts++;
        return timers.setTimeout(fn, ms);
      },
      clearTimeout: (h) => timers.clearTimeout(h),
      // a spin turn takes 50 µs of fake time (a real one takes a few µs)
      setImmediate: (fn) => {
        immediates++;
        return timers.setTimeout(fn, 0.05);
      },
      clearImmediate: (h) => timers.clearImmediate(h),
    };
    const armed: number[] = [];
    let handle: unknown;
    const pacer = new Pacer({
      clock,
      timers: counting,
      preciseTimer: (fire) => ({
        arm: (at) => {
          armed.push(at);
          if (handle !== undefined) timers.clearTimeout(handle);
          handle = timers.setTimeout(fire, Math.max(0, at - clock.now()) + (opts.wakeLateMs ?? 0));
        },
        disarm: () => {
          if (handle !== undefined) timers.clearTimeout(handle);
          handle = undefined;
        },
        close: () => undefined,
      }),
      ...(opts.batch ? { sendBatch: opts.batch } : {}),
      ...(opts.spinMs !== undefined ? { preciseSpinMs: opts.spinMs } : {}),
    });
    return { clock, timers, pacer, armed, setTimeouts: () => timeouts, immediates: () => immediates };
  }

  it('sleeps to each deadline (minus the due window) without spinning while wake-ups are on time', () => {
    const { timers, pacer, armed, setTimeouts, immediates } = preciseSetup();
    const sent: { deadline: number; now: number }[] = [];
    pacer.add(20, (_tick, deadline, now) => sent.push({ deadline, now }), 10);
    timers.runUntil(200);
    expect(sent.map((s) => s.deadline)).toEqual([10, 30, 50, 70, 90, 110, 130, 150, 170, 190]);
    for (const s of sent) expect(s.now).toBeGreaterThanOrEqual(s.deadline - 0.02);
    expect(armed.slice(0, 3).map((a) => Math.round(a * 1000) / 1000)).toEqual([9.98, 29.98, 49.98]);
    expect(setTimeouts()).toBe(0); // no millisecond timer
    expect(immediates()).toBe(0); // and no spin turn
    // sent 0.02 ms early: |lateness| counts it
    expect(pacer.lateness().max_ms).toBeCloseTo(0.02, 9);
    pacer.close();
  });

  it('never spins by default, however late its wake-ups come', () => {
    const { timers, pacer, immediates } = preciseSetup({ wakeLateMs: 0.6 });
    const late: number[] = [];
    pacer.add(20, (_tick, deadline, now) => late.push(now - deadline), 0);
    timers.runUntil(20 * 200 + 1);
    expect(late.length).toBe(201);
    expect(immediates()).toBe(0);
    for (const l of late) expect(l).toBeGreaterThan(0.57); // the wake-up latency, not hidden by a spin
    pacer.close();
  });

  it('with preciseSpinMs, wakes earlier and spins only once its measured wake-ups come late', () => {
    // Every precise wake-up comes 0.6 ms late (a loaded VM): above the 0.5 ms threshold.
    const { timers, pacer, armed, immediates } = preciseSetup({ wakeLateMs: 0.6, spinMs: 0.5 });
    const late: number[] = [];
    pacer.add(20, (_tick, deadline, now) => late.push(now - deadline), 0);
    timers.runUntil(20 * 63 + 1); // 64 wake-ups measured
    expect(immediates()).toBe(0);
    // armed at d − 0.02, woke 0.6 later
    expect(Math.max(...late)).toBeGreaterThan(0.57);
    expect(Math.max(...late)).toBeLessThanOrEqual(0.6 + 1e-9);
    const before = late.length;
    timers.runUntil(20 * 80 + 1);
    // now armed 0.02 + 0.5 ms (the most) ahead: woken 0.08 ms late, no spin turn needed
    expect(armed.at(-1)).toBeCloseTo(20 * 81 - 0.52, 6);
    for (const l of late.slice(before)) expect(Math.abs(l)).toBeLessThanOrEqual(0.08 + 1e-9);
    pacer.close();
  });

  it('starts the second leg of a call on the first one\'s deadlines (one wake-up for both); many streams keep their phases', () => {
    const { clock, timers, pacer } = preciseSetup();
    const a: number[] = [];
    const b: number[] = [];
    pacer.add(20, (_t, d) => a.push(d), 3);
    clock.set(10); // the second leg starts 7 ms later: joins the first's phase at 23
    pacer.add(20, (_t, d) => b.push(d));
    timers.runUntil(70);
    expect(a).toEqual([3, 23, 43, 63]);
    expect(b).toEqual([23, 43, 63]);
    // a third stream (more than spinMaxStreams = 2) starts now, on its own phase
    const c: number[] = [];
    pacer.add(20, (_t, d) => c.push(d));
    timers.runUntil(100);
    expect(c[0]).toBe(70);
    pacer.close();
  });

  it('runs the ticks of one wake-up inside one send batch', () => {
    const events: string[] = [];
    const { timers, pacer } = preciseSetup({ batch: { begin: () => events.push('begin'), end: () => events.push('end') } });
    for (let i = 0; i < 10; i++) pacer.add(20, () => events.push('tick'), 1 + i * 0.01); // 10 deadlines within 0.1 ms
    timers.runUntil(1.2);
    expect(events).toEqual(['begin', ...Array<string>(10).fill('tick'), 'end']);
    pacer.close();
  });

  it('with many streams wakes once per batch window, without spinning', () => {
    const { timers, pacer, armed } = preciseSetup();
    let sends = 0;
    for (let i = 0; i < 10; i++) pacer.add(20, () => sends++, i * 0.1); // 10 deadlines within 1 ms
    timers.runUntil(19.9); // the next round starts at 20.0
    expect(sends).toBe(10);
    const armsBefore = armed.length;
    timers.runUntil(21);
    expect(sends).toBe(20);
    // 10 deadlines 0.1 ms apart, a wake-up takes all due within 0.25 ms and
    // wake-ups are ≥ 0.5 ms apart: 2-3 wake-ups, not 10
    expect(armed.length - armsBefore).toBeLessThanOrEqual(3);
    expect(armed[armsBefore - 1]).toBe(20); // at the round's first deadline itself: no spin
    // nothing more than the window early or the gap late
    expect(pacer.lateness().max_ms).toBeLessThanOrEqual(0.5 + 1e-9);
    pacer.close();
  });
});

describe('createPreciseTimer (real timerfd)', () => {
  it('fires once, not before its deadline; re-arming replaces it; disarm cancels', async () => {
    const { createPreciseTimer, udpBackend } = await import('../../../src/rtp/udp.js');
    const { monotonicClock } = await import('../../../src/rtp/clock.js');
    if (udpBackend().name !== 'udpio') return;
    const fired: number[] = [];
    const timer = createPreciseTimer(() => fired.push(monotonicClock.now()));
    expect(timer).toBeDefined();
    const at = monotonicClock.now() + 30;
    timer?.arm(monotonicClock.now() + 5);
    timer?.arm(at); // replaces the 5 ms deadline
    await new Promise((r) => setTimeout(r, 80));
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(at);
    timer?.arm(monotonicClock.now() + 10);
    timer?.disarm();
    await new Promise((r) => setTimeout(r, 40));
    expect(fired).toHaveLength(1);
    timer?.close();
  });
});
