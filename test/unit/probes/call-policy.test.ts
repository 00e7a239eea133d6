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

describe('buildCallSpec --dial', () => {
  const env = { CALLPROBE_1001_PASSWORD: 'a', CALLPROBE_1002_PASSWORD: 'b' };
  it('dials the given string and still answers as the callee extension', async () => {
    const { buildCallSpec } = await import('../../../src/probes/call/spec.js');
    const { buildConfigSchema } = await import('../../../src/config/schema.js');
    const config = buildConfigSchema(null).parse({ pbx: { uri: 'sip:127.0.0.1:5060' }, allowed_destinations: ['xc.*'] });
    const built = buildCallSpec({ from: '1001', to: '1002', dial: 'xc.m-PCMU.t-PCMA.1002', durationMs: 2000 }, config, env);
    expect(built.ok && built.spec.to).toBe('xc.m-PCMU.t-PCMA.1002');
    expect(built.ok && built.spec.callee?.user).toBe('1002');
  });
  it('a dial string is external: refused unless allowed_destinations matches it (toll-fraud guard)', async () => {
    const { buildCallSpec } = await import('../../../src/probes/call/spec.js');
    const built = buildCallSpec({ from: '1001', to: '1002', dial: '900441234', durationMs: 2000 }, undefined, env);
    expect(built.ok).toBe(false);
    expect(!built.ok && built.message).toMatch(/refusing to dial: 900441234/);
  });
});
