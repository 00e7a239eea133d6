import { describe, expect, it } from 'vitest';
import { OnDemandLimiter } from '../../../src/agent/on-demand.js';

describe('OnDemandLimiter', () => {
  it('counts the interval from the end of the last on-demand run, per probe', () => {
    let now = 1000;
    const l = new OnDemandLimiter(10_000, () => now);
    expect(l.waitMs('a')).toBe(0);
    now = 5000;
    l.ended('a');
    expect(l.waitMs('a')).toBe(10_000);
    expect(l.waitMs('b')).toBe(0);
    now = 14_999;
    expect(l.waitMs('a')).toBe(1);
    now = 15_000;
    expect(l.waitMs('a')).toBe(0);
    l.retain(new Set(['b']));
    now = 5000;
    expect(l.waitMs('a')).toBe(0);
  });

  it('with 0 never limits', () => {
    const l = new OnDemandLimiter(0, () => 0);
    l.ended('a');
    expect(l.waitMs('a')).toBe(0);
  });
});
