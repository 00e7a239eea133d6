import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FraudEngine } from '../../../../src/analytics/fraud/engine.js';
import { FAIL2BAN_FAILREGEX, fail2banRegexToJs, formatFail2banLine } from '../../../../src/analytics/fraud/fail2ban.js';
import type { FraudEvent } from '../../../../src/analytics/fraud/types.js';
import { T0, authFail } from './helpers.js';

describe('FraudEngine', () => {
  it('runs every detector and tells listeners, surviving a throwing listener', () => {
    const errors: unknown[] = [];
    const engine = new FraudEngine({}, { onListenerError: (e) => errors.push(e) });
    const seen: FraudEvent[] = [];
    engine.onFraud(() => {
      throw new Error('listener bug');
    });
    engine.onFraud((e) => seen.push(e));
    for (let i = 0; i < 12; i++) engine.observe(authFail(T0 + i, '198.51.100.1', String(1000 + i)));
    const rules = seen.map((e) => e.rule).sort();
    expect(rules).toEqual(['brute_force', 'credential_stuffing', 'scanner_ua']);
    expect(errors).toHaveLength(3);
    expect(engine.counts().get('brute_force')).toBe(1);
  });

  it('can disable rules', () => {
    const engine = new FraudEngine({}, { disabled: ['scanner_ua'] });
    const out = engine.observe(authFail(T0));
    expect(out).toEqual([]);
  });
});

describe('fail2ban line and filter', () => {
  const ev: FraudEvent = {
    rule: 'brute_force',
    severity: 'critical',
    at: T0,
    evidence: { ip: '127.0.0.1', user: '1001', ua: 'friendly-scanner', count: 10, window_s: 60 },
    message: 'x',
  };

  it('formats the documented line', () => {
    expect(formatFail2banLine(ev, 4242)).toBe(
      '2026-01-05T12:00:00.000Z callprobe[4242]: FRAUD rule=brute_force src=127.0.0.1 user=1001 count=10 window=60s severity=critical ua="friendly-scanner"',
    );
  });

  it('the published failregex finds <HOST> with and without the timestamp', () => {
    const re = fail2banRegexToJs(FAIL2BAN_FAILREGEX);
    const line = formatFail2banLine(ev, 1);
    expect(re.exec(line)?.groups?.host).toBe('127.0.0.1');
    expect(re.exec(line.slice(line.indexOf(' ')))?.groups?.host).toBe('127.0.0.1');
    const v6 = formatFail2banLine({ ...ev, evidence: { ...ev.evidence, ip: '2001:db8::1' } }, 1);
    expect(re.exec(v6)?.groups?.host).toBe('2001:db8::1');
  });

  it('docs/fraud.md publishes exactly this failregex', () => {
    const doc = readFileSync(new URL('../../../../docs/fraud.md', import.meta.url), 'utf8');
    const published = /^failregex = (.*)$/m.exec(doc)?.[1];
    expect(published).toBe(FAIL2BAN_FAILREGEX);
  });

  it('the shipped filter and jail (systemd/fail2ban/) are what docs/fraud.md shows', () => {
    const read = (p: string) => readFileSync(new URL(`../../../../${p}`, import.meta.url), 'utf8');
    const doc = read('docs/fraud.md');
    const blocks = [...doc.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]);
    const body = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).join('\n');
    const filter = read('systemd/fail2ban/filter.d/callprobe.conf');
    const jail = read('systemd/fail2ban/jail.d/callprobe.conf');
    expect(blocks.map((b) => body(b ?? ''))).toEqual(expect.arrayContaining([body(filter), body(jail)]));
    expect(/^failregex = (.*)$/m.exec(filter)?.[1]).toBe(FAIL2BAN_FAILREGEX);
    expect(jail).toMatch(/^logpath\s*=\s*\/var\/log\/callprobe\/fraud\.log$/m);
    expect(read('systemd/callprobe.logrotate')).toMatch(/^\/var\/log\/callprobe\/fraud\.log \{$/m);
  });

  it('does not match rules without an attacker address, and a hostile UA cannot inject src=', () => {
    const re = fail2banRegexToJs(FAIL2BAN_FAILREGEX);
    const long = formatFail2banLine({ ...ev, rule: 'long_call', evidence: { count: 4000, window_s: 3600 } }, 1);
    expect(re.test(long)).toBe(false);
    const evil = formatFail2banLine({ ...ev, evidence: { ...ev.evidence, ip: undefined, ua: 'x src=203.0.113.5 ' } }, 1);
    expect(evil).not.toContain('src=203');
    expect(re.test(evil)).toBe(false);
  });
});
