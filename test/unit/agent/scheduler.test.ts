import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Scheduler, type Schedulable } from '../../../src/agent/scheduler.js';

interface P extends Schedulable {
  work: number;
}

function deferredRun(starts: { name: string; at: number }[]) {
  return async (p: P) => {
    starts.push({ name: p.name, at: Date.now() });
    await new Promise((r) => setTimeout(r, p.work));
    return p.name;
  };
}

describe('Scheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('runs on absolute deadlines from a random start offset, without drift', async () => {
    const starts: { name: string; at: number }[] = [];
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 4, random: () => 0.5 });
    s.schedule([{ name: 'a', interval: 1000, work: 300 }]);
    await vi.advanceTimersByTimeAsync(5000);
    // offset = 0.5 × min(1000, 10 s) = 500; then every 1000 ms regardless of the 300 ms runs.
    expect(starts.map((x) => x.at)).toEqual([500, 1500, 2500, 3500, 4500]);
    await s.stop();
  });

  it('runs each deadline once even when the wall clock reads a little behind the timer', async () => {
    const starts: { name: string; at: number }[] = [];
    // On each whole second the wall clock reads 1 ms behind the timer that just fired.
    const now = () => (Date.now() > 0 && Date.now() % 1000 === 0 ? Date.now() - 1 : Date.now());
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 1, random: () => 0, now });
    s.schedule([{ name: 'a', interval: 1000, work: 0 }]);
    await vi.advanceTimersByTimeAsync(3500);
    const at = starts.map((x) => x.at);
    expect(at).toHaveLength(4);
    at.forEach((t, i) => expect(Math.abs(t - i * 1000)).toBeLessThanOrEqual(1));
    await s.stop();
  });

  it('treats options given as undefined as absent (defaults apply, no hot loop)', async () => {
    const starts: { name: string; at: number }[] = [];
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 1, maxStartOffsetMs: undefined, random: undefined, now: undefined });
    s.schedule([{ name: 'a', interval: 5000, work: 0 }]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts.length).toBeLessThanOrEqual(4);
    await s.stop();
  });

  it('never overlaps a probe with itself and skips, not bursts, after a slow run', async () => {
    const starts: { name: string; at: number }[] = [];
    const onSkip = vi.fn();
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 4, random: () => 0, onSkip });
    s.schedule([{ name: 'slow', interval: 1000, work: 2500 }]);
    await vi.advanceTimersByTimeAsync(6100);
    // 0 runs until 2500; 1000 and 2000 are skipped; 3000 runs until 5500; 4000 and 5000 skipped; 6000 runs.
    expect(starts.map((x) => x.at)).toEqual([0, 3000, 6000]);
    expect(onSkip).toHaveBeenCalledTimes(4);
    expect(onSkip.mock.calls.every((c) => c[1] === 'overlap')).toBe(true);
    const stopping = s.stop();
    await vi.advanceTimersByTimeAsync(2500);
    await stopping;
  });

  it('limits concurrency globally and queues in order', async () => {
    const starts: { name: string; at: number }[] = [];
    let peak = 0;
    let now = 0;
    const s = new Scheduler<P>({
      run: async (p) => {
        now++;
        peak = Math.max(peak, now);
        await deferredRun(starts)(p);
        now--;
      },
      concurrency: 2,
      random: () => 0,
    });
    s.schedule([
      { name: 'a', interval: 10_000, work: 100 },
      { name: 'b', interval: 10_000, work: 100 },
      { name: 'c', interval: 10_000, work: 100 },
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(peak).toBe(2);
    expect(starts).toEqual([
      { name: 'a', at: 0 },
      { name: 'b', at: 0 },
      { name: 'c', at: 100 },
    ]);
    await s.stop();
  });

  it('keeps timing across a reload for unchanged intervals and drops removed probes', async () => {
    const starts: { name: string; at: number }[] = [];
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 4, random: () => 0 });
    s.schedule([
      { name: 'a', interval: 1000, work: 10 },
      { name: 'b', interval: 1000, work: 10 },
    ]);
    await vi.advanceTimersByTimeAsync(1500);
    s.schedule([
      { name: 'a', interval: 1000, work: 10 },
      { name: 'c', interval: 1000, work: 10 },
    ]);
    expect(s.names.sort()).toEqual(['a', 'c']);
    await vi.advanceTimersByTimeAsync(900);
    const after = starts.filter((x) => x.at >= 1500);
    expect(after).toEqual([
      { name: 'c', at: 1500 },
      { name: 'a', at: 2000 },
    ]);
    await s.stop();
  });

  it('trigger() runs now or joins the run in progress', async () => {
    const starts: { name: string; at: number }[] = [];
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 1, random: () => 0.99, maxStartOffsetMs: 1000 });
    s.schedule([{ name: 'a', interval: 60_000, work: 200 }]);
    const first = s.trigger('a');
    const joined = s.trigger('a');
    await vi.advanceTimersByTimeAsync(200);
    await expect(first).resolves.toBe('a');
    await expect(joined).resolves.toBe('a');
    expect(starts).toEqual([{ name: 'a', at: 0 }]);
    expect(s.trigger('missing')).toBeUndefined();
    await s.stop();
  });

  it('stop() clears every timer and waits for runs in progress', async () => {
    const starts: { name: string; at: number }[] = [];
    const s = new Scheduler<P>({ run: deferredRun(starts), concurrency: 2, random: () => 0 });
    s.schedule([{ name: 'a', interval: 1000, work: 400 }]);
    await vi.advanceTimersByTimeAsync(100);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(300);
    await stopping;
    expect(stopped).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(s.active).toBe(0);
    expect(() => s.schedule([])).toThrow(/stopped/);
  });

  it('reports a rejecting run and keeps scheduling', async () => {
    const onError = vi.fn();
    let n = 0;
    const s = new Scheduler<P>({
      run: async () => {
        n++;
        throw new Error('bug');
      },
      concurrency: 1,
      random: () => 0,
      onError,
    });
    s.schedule([{ name: 'a', interval: 1000, work: 0 }]);
    await vi.advanceTimersByTimeAsync(2500);
    expect(n).toBe(3);
    expect(onError).toHaveBeenCalledTimes(3);
    await s.stop();
  });
});
