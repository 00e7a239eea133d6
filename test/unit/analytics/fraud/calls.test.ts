import { describe, expect, it } from 'vitest';
import { CallVelocityDetector, ConcurrentCallsDetector, LongCallDetector } from '../../../../src/analytics/fraud/calls.js';
import { resolveFraudConfig } from '../../../../src/analytics/fraud/config.js';
import { T0, attempt, end, final } from './helpers.js';

const cfg = resolveFraudConfig();

describe('LongCallDetector (max_call_duration 3600 s)', () => {
  it('3600 s is allowed, 3601 s fires (at the end)', () => {
    const d = new LongCallDetector(cfg);
    expect(d.observe(end(T0, 'a', 3600))).toEqual([]);
    const hit = d.observe(end(T0, 'b', 3601));
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence).toMatchObject({ callId: 'b', count: 3601, window_s: 3600 });
  });

  it('tick() reports a call still up once, and the end does not report it again', () => {
    const d = new LongCallDetector(cfg);
    d.observe(final(T0, 'c', 200, { answerAt: T0, caller: '1001', callee: '+4930123' }));
    expect(d.tick(T0 + 3_600_000)).toEqual([]);
    const hit = d.tick(T0 + 3_600_001);
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence.user).toBe('1001');
    expect(d.tick(T0 + 4_000_000)).toEqual([]);
    expect(d.observe(end(T0 + 5_000_000, 'c', 5000))).toEqual([]);
    expect(d.trackedKeys()).toBe(0);
  });
});

describe('CallVelocityDetector (max 10 calls per minute)', () => {
  it('10 calls in a minute are fine, the 11th fires, once', () => {
    const d = new CallVelocityDetector(cfg);
    for (let i = 0; i < 10; i++) expect(d.observe(attempt(T0 + i * 1000, `v${i}`, '1001', '1002'))).toEqual([]);
    expect(d.observe(attempt(T0 + 10_000, 'v10', '1001', '1002'))).toHaveLength(1);
    expect(d.observe(attempt(T0 + 11_000, 'v11', '1001', '1002'))).toEqual([]);
  });

  it('calls spread one window apart never fire', () => {
    const d = new CallVelocityDetector(cfg);
    for (let i = 0; i < 40; i++) expect(d.observe(attempt(T0 + i * 6000, `s${i}`, '1001', '1002'))).toEqual([]);
  });
});

describe('ConcurrentCallsDetector (max 5)', () => {
  it('5 calls up is fine, the 6th fires once, and re-arms after calls end', () => {
    const d = new ConcurrentCallsDetector(cfg);
    for (let i = 0; i < 5; i++) expect(d.observe(attempt(T0 + i, `k${i}`, '1001', '1002'))).toEqual([]);
    const hit = d.observe(attempt(T0 + 10, 'k5', '1001', '1002'));
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence.count).toBe(6);
    expect(d.observe(attempt(T0 + 11, 'k6', '1001', '1002'))).toEqual([]);
    for (let i = 0; i < 7; i++) d.observe(end(T0 + 100, `k${i}`, 1, { caller: '1001' }));
    expect(d.observe(attempt(T0 + 200, 'k7', '1001', '1002'))).toEqual([]);
  });

  it('failed attempts close their interval', () => {
    const d = new ConcurrentCallsDetector(cfg);
    for (let i = 0; i < 20; i++) {
      expect(d.observe(attempt(T0 + i * 10, `f${i}`, '1001', '1002'))).toEqual([]);
      d.observe(final(T0 + i * 10 + 5, `f${i}`, 486, { caller: '1001' }));
    }
  });

  it('works on CDR replays (rows arrive at their end, overlapping in time)', () => {
    const d = new ConcurrentCallsDetector(cfg);
    let fired = 0;
    // 6 calls all starting within a minute and each lasting 10 min, written at their ends
    for (let i = 0; i < 6; i++) {
      const start = T0 + i * 10_000;
      fired += d.observe(attempt(start, `r${i}`, '1001', '+88212345')).length;
      fired += d.observe(end(start + 600_000, `r${i}`, 600, { caller: '1001' })).length;
    }
    expect(fired).toBe(1);
  });
});
