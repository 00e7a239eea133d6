import { describe, expect, it } from 'vitest';
import { roundingSteps } from '../rounding.js';

describe('roundingSteps', () => {
  it('counts one step where the float difference exceeds the step (issue 14.5: 3.93 vs 3.92)', () => {
    expect(Math.abs(3.93 - 3.92)).toBeGreaterThan(0.01);
    expect(roundingSteps(3.93, 3.92, 2)).toBe(1);
    expect(roundingSteps(4.41, 4.41, 2)).toBe(0);
    expect(roundingSteps(93.2, 93.05, 2)).toBe(15);
    expect(roundingSteps(0.1 + 0.2, 0.3, 3)).toBe(0);
  });
});
