import { describe, expect, it } from 'vitest';
import { resolveFraudConfig } from '../../../../src/analytics/fraud/config.js';
import { BruteForceDetector, CredentialStuffingDetector } from '../../../../src/analytics/fraud/auth.js';
import { T0, authFail } from './helpers.js';

const cfg = resolveFraudConfig();

describe('BruteForceDetector (auth_fail_limit 10 in 60 s, fires at the 10th)', () => {
  it('does not fire at 9 failures and fires exactly at the 10th', () => {
    const d = new BruteForceDetector(cfg);
    for (let i = 0; i < 9; i++) expect(d.observe(authFail(T0 + i * 1000))).toEqual([]);
    const hit = d.observe(authFail(T0 + 9000, '192.0.2.1', '1001'));
    expect(hit).toHaveLength(1);
    expect(hit[0]?.rule).toBe('brute_force');
    expect(hit[0]?.severity).toBe('critical');
    expect(hit[0]?.evidence).toMatchObject({ ip: '192.0.2.1', user: '1001', ua: 'friendly-scanner', count: 10, window_s: 60 });
  });

  it('fires once per window per IP, then again in the next window', () => {
    const d = new BruteForceDetector(cfg);
    let fired = 0;
    for (let i = 0; i < 30; i++) fired += d.observe(authFail(T0 + i * 100)).length;
    expect(fired).toBe(1);
    // quiet until T0 + 900 + 60 s; 10 more failures after that fire again
    let later = 0;
    for (let i = 0; i < 10; i++) later += d.observe(authFail(T0 + 61_000 + i * 100)).length;
    expect(later).toBe(1);
  });

  it('an event exactly one window old no longer counts; one ms younger still does', () => {
    const edge = new BruteForceDetector(cfg);
    edge.observe(authFail(T0));
    for (let i = 1; i <= 8; i++) edge.observe(authFail(T0 + i));
    expect(edge.observe(authFail(T0 + 60_000))).toEqual([]); // first is exactly 60 s old
    const inside = new BruteForceDetector(cfg);
    inside.observe(authFail(T0));
    for (let i = 1; i <= 8; i++) inside.observe(authFail(T0 + i));
    expect(inside.observe(authFail(T0 + 59_999))).toHaveLength(1);
  });

  it('counts IPs separately and keeps the table under its cap', () => {
    const d = new BruteForceDetector(resolveFraudConfig({ max_tracked_keys: 50 }));
    for (let i = 0; i < 9; i++) d.observe(authFail(T0 + i, '192.0.2.1'));
    expect(d.observe(authFail(T0 + 10, '192.0.2.2'))).toEqual([]);
    for (let i = 0; i < 1000; i++) d.observe(authFail(T0 + i, `10.0.${i >> 8}.${i & 255}`));
    expect(d.trackedKeys()).toBe(50);
  });
});

describe('CredentialStuffingDetector (5 distinct users per IP in 300 s)', () => {
  it('fires at the 5th distinct user, not on repeats of the same user', () => {
    const d = new CredentialStuffingDetector(cfg);
    for (let i = 0; i < 20; i++) expect(d.observe(authFail(T0 + i, '192.0.2.5', '1001'))).toEqual([]);
    for (const u of ['a', 'b', 'c']) expect(d.observe(authFail(T0 + 100, '192.0.2.5', u))).toEqual([]);
    const hit = d.observe(authFail(T0 + 200, '192.0.2.5', 'd'));
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence.count).toBe(5);
    expect(String(hit[0]?.evidence.users).split(',').sort()).toEqual(['1001', 'a', 'b', 'c', 'd']);
    expect(d.observe(authFail(T0 + 300, '192.0.2.5', 'e'))).toEqual([]);
  });

  it('users older than the window fall out', () => {
    const d = new CredentialStuffingDetector(cfg);
    d.observe(authFail(T0, '192.0.2.6', 'old'));
    for (const u of ['a', 'b', 'c']) d.observe(authFail(T0 + 1000, '192.0.2.6', u));
    expect(d.observe(authFail(T0 + 300_000, '192.0.2.6', 'd'))).toEqual([]);
    expect(d.observe(authFail(T0 + 300_001, '192.0.2.6', 'e'))).toHaveLength(1);
  });
});
