import { describe, expect, it } from 'vitest';
import { destinationAllowed } from '../../../src/config/destinations.js';
import { durationToMs } from '../../../src/config/duration.js';

describe('destinationAllowed', () => {
  it('matches glob-ish dial patterns anchored at both ends', () => {
    const patterns = ['+1555*', '9*', '10??'];
    expect(destinationAllowed('+15550100', patterns)).toBe(true);
    expect(destinationAllowed('9155501234', patterns)).toBe(true);
    expect(destinationAllowed('1002', patterns)).toBe(true);
    expect(destinationAllowed('10020', patterns)).toBe(false);
    expect(destinationAllowed('+8821234', patterns)).toBe(false);
    expect(destinationAllowed('x+1555', patterns)).toBe(false);
    expect(destinationAllowed('+1555', [])).toBe(false);
  });
});

describe('durationToMs', () => {
  it('parses units and rejects bare numbers', () => {
    expect(durationToMs('60s')).toBe(60_000);
    expect(durationToMs('2m')).toBe(120_000);
    expect(durationToMs('1500ms')).toBe(1500);
    expect(durationToMs('1.5h')).toBe(5_400_000);
    expect(durationToMs('60')).toBeNull();
    expect(durationToMs('s')).toBeNull();
  });
});
