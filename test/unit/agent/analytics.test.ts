import { describe, expect, it } from 'vitest';
import { fraudAlert } from '../../../src/agent/analytics.js';

describe('fraudAlert', () => {
  const ev = {
    rule: 'brute_force' as const,
    severity: 'critical' as const,
    at: Date.parse('2026-11-25T17:00:00Z'),
    evidence: { ip: '203.0.113.7', user: '1001', caller: '+15550100', count: 10, window_s: 60 },
    message: 'brute force: 10 auth failures from 203.0.113.7 in 60 s',
  };

  it('is one firing critical alert per rule and source address', () => {
    const a = fraudAlert(ev, { instance: 'pbx-a' });
    expect(a).toMatchObject({
      status: 'firing',
      probe: 'fraud',
      check: 'brute_force',
      severity: 'critical',
      actual: 10,
      summary: ev.message,
      starts_at: '2026-11-25T17:00:00.000Z',
      labels: { instance: 'pbx-a', rule: 'brute_force', source_ip: '203.0.113.7' },
    });
    expect(fraudAlert({ ...ev, at: ev.at + 1000 }).fingerprint).toBe(a.fingerprint);
    expect(fraudAlert({ ...ev, evidence: { ...ev.evidence, ip: '198.51.100.1' } }).fingerprint).not.toBe(a.fingerprint);
  });

  it('keeps caller numbers out of the alert labels', () => {
    expect(JSON.stringify(fraudAlert(ev).labels)).not.toContain('+15550100');
  });
});
