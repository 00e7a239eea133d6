import { describe, expect, it } from 'vitest';
import { AsrCollapseDetector } from '../../../../src/analytics/fraud/asr-collapse.js';
import { resolveFraudConfig } from '../../../../src/analytics/fraud/config.js';
import { WangiriDetector } from '../../../../src/analytics/fraud/wangiri.js';
import { T0, final } from './helpers.js';

describe('WangiriDetector (10 short unanswered inbound calls per prefix in 300 s)', () => {
  const cfg = resolveFraudConfig();
  const ring = (i: number, caller: string, rangMs: number, extra = {}) =>
    final(T0 + i * 1000 + rangMs, `w${i}`, 487, { inviteAt: T0 + i * 1000, caller, direction: 'inbound', ...extra });

  it('fires at the 10th one-ring call from one range', () => {
    const d = new WangiriDetector(cfg);
    for (let i = 0; i < 9; i++) expect(d.observe(ring(i, `+2250700000${i}`, 2000))).toEqual([]);
    const hit = d.observe(ring(9, '+22507000009', 5000)); // exactly max ring still counts
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence).toMatchObject({ prefix: '+225070', count: 10, distinct_numbers: 10 });
  });

  it('ignores long rings, answered, outbound and spread-out calls', () => {
    const d = new WangiriDetector(cfg);
    for (let i = 0; i < 20; i++) expect(d.observe(ring(i, '+22507000001', 5001))).toEqual([]);
    for (let i = 0; i < 20; i++) expect(d.observe(final(T0 + i, `a${i}`, 200, { caller: '+22507000001', direction: 'inbound' }))).toEqual([]);
    for (let i = 0; i < 20; i++) expect(d.observe(ring(i, '+22507000001', 100, { direction: 'outbound' }))).toEqual([]);
    for (let i = 0; i < 20; i++) expect(d.observe(ring(i * 40, '+22507000002', 100))).toEqual([]);
  });
});

describe('AsrCollapseDetector (ratio 0.5, 300 s windows, 20 calls min)', () => {
  const cfg = resolveFraudConfig();
  const call = (at: number, ok: boolean, route = 'carrier') => final(at, `x${at}`, ok ? 200 : 503, { route });

  it('fires once when ASR halves versus the previous window', () => {
    const d = new AsrCollapseDetector(cfg);
    // previous window: 20 calls, 100 % answered
    for (let i = 0; i < 20; i++) expect(d.observe(call(T0 + i * 1000, true))).toEqual([]);
    // current window: calls at T0+300 s.., 9 answered of 20 = 45 % < 50 %
    const out = [];
    for (let i = 0; i < 20; i++) out.push(...d.observe(call(T0 + 300_000 + i * 1000, i < 9)));
    expect(out).toHaveLength(1);
    expect(out[0]?.evidence).toMatchObject({ asr_percent: 45, previous_asr_percent: 100, count: 20 });
  });

  it('exactly half is not a collapse; too few calls are not judged', () => {
    const d = new AsrCollapseDetector(cfg);
    for (let i = 0; i < 20; i++) d.observe(call(T0 + i * 1000, true));
    const out = [];
    for (let i = 0; i < 20; i++) out.push(...d.observe(call(T0 + 300_000 + i * 1000, i < 10)));
    expect(out).toEqual([]);
    const few = new AsrCollapseDetector(cfg);
    for (let i = 0; i < 19; i++) few.observe(call(T0 + i * 1000, true));
    for (let i = 0; i < 30; i++) expect(few.observe(call(T0 + 300_000 + i * 1000, false))).toEqual([]);
  });

  it('window edges: the previous window is (t − 600 s, t − 300 s]', () => {
    const fire = (gap: number) => {
      const d = new AsrCollapseDetector(cfg);
      for (let i = 0; i < 20; i++) d.observe(call(T0, true));
      const out = [];
      for (let i = 0; i < 20; i++) out.push(...d.observe(call(T0 + gap, false)));
      return out.length;
    };
    expect(fire(599_999)).toBe(1); // T0 is inside the previous window
    expect(fire(600_000)).toBe(0); // T0 is exactly two windows old: gone
    expect(fire(300_000)).toBe(1); // T0 is exactly one window old: previous window
    expect(fire(299_999)).toBe(0); // same window: no previous to compare with
  });
});
