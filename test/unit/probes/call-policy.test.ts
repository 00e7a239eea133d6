import { describe, expect, it } from 'vitest';
import { classifyDestination } from '../../../src/probes/call/policy.js';

describe('classifyDestination', () => {
  const own = ['1001', '1002'];
  it('own extensions are answered by us', () => {
    expect(classifyDestination('1002', own, [])).toEqual({ kind: 'extension', number: '1002' });
  });
  it('external numbers need an allow-list match', () => {
    expect(classifyDestination('9155501234', own, ['9*'])).toMatchObject({ kind: 'external', pattern: '9*' });
    const refused = classifyDestination('+8821234', own, ['+1555*']);
    expect(refused.kind).toBe('refused');
    expect(refused.kind === 'refused' && refused.reason).toMatch(/\+1555\*/);
    expect(classifyDestination('1003', own, []).kind).toBe('refused');
  });
});
