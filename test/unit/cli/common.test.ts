import { describe, expect, it } from 'vitest';
import { parseDuration, parseNumber, UsageError } from '../../../src/cli/common.js';

describe('parseDuration', () => {
  it('reads units and bare seconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1500ms')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2.5')).toBe(2500);
  });
  it('rejects garbage with the flag name', () => {
    expect(() => parseDuration('ten', 'timeout')).toThrow(UsageError);
    expect(() => parseDuration('ten', 'timeout')).toThrow(/--timeout/);
    expect(() => parseDuration('-1s')).toThrow(UsageError);
  });
});

describe('parseNumber', () => {
  it('enforces bounds', () => {
    expect(parseNumber('5', 'loss', 0, 100)).toBe(5);
    expect(() => parseNumber('101', 'loss', 0, 100)).toThrow(/0 to 100/);
    expect(() => parseNumber('', 'loss')).toThrow(UsageError);
  });
});
