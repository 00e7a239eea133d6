import { describe, expect, it } from 'vitest';
import type { CallEndEvent, CallFinalEvent } from '../../../src/analytics/events.js';
import { KpiTracker, USER_CAUSED_STATUSES, computeKpis, kpiSamples, percentile } from '../../../src/analytics/kpi.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

function final(at: number, status: number, extra: Partial<CallFinalEvent> = {}): CallFinalEvent {
  return { type: 'call_final', source: 'hep', route: 'trunk-a', callId: `c${at}-${status}`, at, status, inviteAt: at - 1000, ...extra };
}
function end(at: number, durationS: number, route = 'trunk-a'): CallEndEvent {
  return { type: 'call_end', source: 'hep', route, callId: `e${at}`, at, answerAt: at - durationS * 1000, durationS };
}

describe('computeKpis', () => {
  it('matches a hand count for a mixed set (ASR, NER, SER, SEER, classes)', () => {
    // 10 seizures: 4 x 200, 1 x 486, 1 x 487, 1 x 404, 1 x 503, 1 x 302, 1 x 603
    const statuses = [200, 200, 200, 200, 486, 487, 404, 503, 302, 603];
    const k = computeKpis(statuses.map((status) => ({ status })), [30, 90]);
    expect(k.seizures).toBe(10);
    expect(k.answered).toBe(4);
    expect(k.asr).toBeCloseTo(0.4);
    // NER: answered 4 + user-caused (486, 487, 603) = 7 / 10
    expect(k.user_failures).toBe(3);
    expect(k.ner).toBeCloseTo(0.7);
    // SER: 4 / (10 - 1 redirect); SEER: (4 + 486 + 603) / 9
    expect(k.ser).toBeCloseTo(4 / 9);
    expect(k.seer).toBeCloseTo(6 / 9);
    expect(k.acd_s).toBe(60);
    expect(k.by_class).toEqual({ '1xx': 0, '2xx': 4, '3xx': 1, '4xx': 3, '5xx': 1, '6xx': 1 });
  });

  it('gives null ratios when there is nothing to divide by', () => {
    const k = computeKpis([], []);
    expect(k.asr).toBeNull();
    expect(k.ner).toBeNull();
    expect(k.ser).toBeNull();
    expect(k.acd_s).toBeNull();
    expect(k.pdd_p95_s).toBeNull();
    const onlyRedirects = computeKpis([{ status: 302 }], []);
    expect(onlyRedirects.asr).toBe(0);
    expect(onlyRedirects.ser).toBeNull();
  });

  it('counts exactly the documented user-caused codes for NER', () => {
    expect([...USER_CAUSED_STATUSES].sort()).toEqual([408, 480, 486, 487, 600, 603]);
    for (const s of [404, 484, 403, 500, 503, 488]) {
      expect(computeKpis([{ status: s }], []).ner).toBe(0);
    }
    // A synthetic 408 (no final response at all, closed by the source) lowers NER.
    expect(computeKpis([{ status: 408 }], []).ner).toBe(1);
    expect(computeKpis([{ status: 408, timedOut: true }], []).ner).toBe(0);
  });

  it('percentile uses nearest rank', () => {
    const v = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(v, 95)).toBe(19);
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([], 95)).toBeNull();
  });
});

describe('KpiTracker', () => {
  it('computes per route, per source and overall snapshots over a sliding window', () => {
    let now = T0;
    const k = new KpiTracker({ now: () => now });
    k.observe(final(T0 - 1000, 200, { ringingAt: T0 - 1000 - 1000 + 100 }));
    k.observe(final(T0 - 2000, 486, { route: 'trunk-b' }));
    k.observe(end(T0 - 500, 42));
    const snaps = k.snapshot(5 * 60_000);
    const a = snaps.find((s) => s.route === 'trunk-a');
    const b = snaps.find((s) => s.route === 'trunk-b');
    const all = snaps.find((s) => s.source === '*');
    expect(a?.asr).toBe(1);
    expect(a?.acd_s).toBe(42);
    expect(a?.pdd_mean_s).toBeCloseTo(0.1);
    expect(b?.asr).toBe(0);
    expect(b?.ner).toBe(1);
    expect(all?.seizures).toBe(2);
    expect(snaps.find((s) => s.source === 'hep' && s.route === '*')?.seizures).toBe(2);
    // The window is (now - 5m, now]: move so the 200 is exactly 5 min old.
    now = T0 - 1000 + 5 * 60_000;
    const later = k.snapshot(5 * 60_000).find((s) => s.source === '*');
    expect(later?.seizures).toBe(0);
  });

  it('alerts on ASR below the floor and on a drop versus the previous hour', () => {
    let now = T0;
    const k = new KpiTracker({ now: () => now });
    // previous hour: 20 calls, 19 answered (95 %)
    for (let i = 0; i < 20; i++) k.observe(final(T0 + i * 1000, i === 0 ? 503 : 200));
    now = T0 + 3_600_000;
    // this hour: 20 calls, 14 answered (70 %)
    for (let i = 0; i < 20; i++) k.observe(final(now + i * 1000, i < 6 ? 503 : 200));
    now += 30_000;
    const alerts = k.checkAsr({ minPercent: 80, maxDropPoints: 20, minSeizures: 10 });
    const route = alerts.filter((a) => a.route === 'trunk-a');
    expect(route.map((a) => a.check).sort()).toEqual(['asr_drop', 'asr_min']);
    const drop = route.find((a) => a.check === 'asr_drop');
    expect(drop?.previous).toBeCloseTo(95);
    expect(drop?.actual).toBeCloseTo(70);
    // A drop of exactly 25 points is not more than 25.
    expect(k.checkAsr({ minPercent: 0, maxDropPoints: 25, minSeizures: 10 })).toEqual([]);
    // Too few seizures: no judgement.
    expect(k.checkAsr({ minPercent: 80, minSeizures: 21 })).toEqual([]);
  });

  it('stays bounded by maxRecords and retention', () => {
    let now = T0;
    const k = new KpiTracker({ now: () => now, maxRecords: 100, retainMs: 60_000 });
    for (let i = 0; i < 5000; i++) {
      now = T0 + i;
      k.observe(final(now, 200));
    }
    expect(k.size).toBeLessThanOrEqual(101);
    now += 120_000;
    expect(k.snapshot(3_600_000)).toEqual([]);
    expect(k.size).toBe(0);
  });
});

describe('kpiSamples', () => {
  it('names gauges in base units with {source, route, window} and skips null ratios', () => {
    const now = T0;
    const k = new KpiTracker({ now: () => now });
    k.observe(final(T0 - 10, 486));
    const samples = kpiSamples(k.snapshot(300_000));
    const asr = samples.filter((s) => s.name === 'callprobe_asr_ratio');
    expect(asr.map((s) => [s.labels.source, s.labels.route, s.labels.window, s.value])).toEqual([
      ['*', '*', '300s', 0],
      ['hep', '*', '300s', 0],
      ['hep', 'trunk-a', '300s', 0],
    ]);
    expect(samples.some((s) => s.name === 'callprobe_acd_seconds')).toBe(false);
    expect(samples.find((s) => s.name === 'callprobe_calls_by_class' && s.labels.class === '4xx' && s.labels.route === 'trunk-a')?.value).toBe(1);
    for (const s of samples) expect(s.name).toMatch(/^callprobe_[a-z0-9_]+$/);
  });
});
