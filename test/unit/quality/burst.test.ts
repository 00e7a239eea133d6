import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { burstRatio, burstRatioFromTransitions, countTransitions, emptyTransitions } from '../../../src/quality/burst.js';

const R = true;
const L = false;

describe('burst ratio (Gilbert model, RFC 3611 §4.7.2)', () => {
  it('is 1 without loss and for an empty pattern', () => {
    expect(burstRatio([])).toBe(1);
    expect(burstRatio([R, R, R, R])).toBe(1);
    expect(burstRatioFromTransitions(emptyTransitions())).toBe(1);
  });

  it('counts transitions between consecutive packets', () => {
    expect(countTransitions([R, R, L, L, R])).toEqual({
      receivedToReceived: 1,
      receivedToLost: 1,
      lostToLost: 1,
      lostToReceived: 1,
    });
  });

  it('computes 1/(p+q) for a bursty pattern', () => {
    // 20 packets: one burst of 4 losses. From R: 15 transitions, 1 to L -> p = 1/15.
    // From L: 4 transitions, 1 to R -> q = 1/4.
    const pattern = [...Array<boolean>(8).fill(R), ...Array<boolean>(4).fill(L), ...Array<boolean>(8).fill(R)];
    expect(burstRatio(pattern)).toBeCloseTo(1 / (1 / 15 + 1 / 4), 12);
    expect(burstRatio(pattern)).toBeGreaterThan(3);
  });

  it('is below 1 when losses are spread more evenly than random', () => {
    // Alternating R, L: p = 1, q = 1 -> 0.5
    expect(burstRatio([R, L, R, L, R, L, R])).toBeCloseTo(0.5, 12);
  });

  it('is near 1 for long Bernoulli loss', () => {
    // Deterministic LCG so the test is reproducible.
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pattern = Array.from({ length: 200_000 }, () => rand() >= 0.05);
    expect(burstRatio(pattern)).toBeGreaterThan(0.95);
    expect(burstRatio(pattern)).toBeLessThan(1.05);
  });

  it('never returns a non-finite or non-positive value', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (pattern) => {
        const b = burstRatio(pattern);
        return Number.isFinite(b) && b > 0;
      }),
    );
  });
});
