import { describe, expect, it } from 'vitest';
import { resolveFraudConfig } from '../../../../src/analytics/fraud/config.js';
import { HighRiskDestinationDetector, OffHoursInternationalDetector, isOffHours } from '../../../../src/analytics/fraud/destination.js';
import { matchPrefix, toInternational } from '../../../../src/analytics/fraud/numbers.js';
import { T0, attempt } from './helpers.js';

describe('number helpers', () => {
  it('normalises 00 / 011 / + / sip: forms', () => {
    expect(toInternational('sip:0088212345@pbx', ['00', '011'])).toBe('+88212345');
    expect(toInternational('01144207946', ['00', '011'])).toBe('+44207946');
    expect(toInternational('+1 (555) 010-0000', ['00'])).toBe('+15550100000');
    expect(toInternational('1002', ['00', '011'])).toBeNull();
    expect(matchPrefix('+8821234', ['+882', '882123'])).toBe('+882123');
    expect(matchPrefix('+4930', ['+882'])).toBeNull();
  });
});

describe('HighRiskDestinationDetector', () => {
  it('fires on exactly the calls to listed prefixes', () => {
    const d = new HighRiskDestinationDetector(resolveFraudConfig({ high_risk_prefixes: ['+882', '+979'] }));
    expect(d.observe(attempt(T0, 'a', '1001', '0088212345678'))).toHaveLength(1);
    expect(d.observe(attempt(T0, 'b', '1001', '+97912345'))[0]?.evidence).toMatchObject({ prefix: '+979', callee: '+97912345', user: '1001' });
    expect(d.observe(attempt(T0, 'c', '1001', '+8812345'))).toEqual([]);
    expect(d.observe(attempt(T0, 'd', '1001', '882'))).toEqual([]);
    expect(d.observe(attempt(T0, 'e', '1001', '1002'))).toEqual([]);
  });

  it('uses the cited default list when the config list is empty', () => {
    const d = new HighRiskDestinationDetector(resolveFraudConfig({ high_risk_prefixes: [] }));
    expect(d.observe(attempt(T0, 'a', '1001', '+88212345'))).toHaveLength(1);
  });
});

describe('off-hours international calls', () => {
  const oh = { start: '20:00', end: '07:00', timezone: 'Europe/Berlin', weekend_days: [0, 6] };

  it('honours the time zone and the [start, end) edges', () => {
    // Jan: Berlin = UTC+1. 19:00 UTC = 20:00 local (inside), 18:59 UTC outside, 06:00 UTC = 07:00 local (outside).
    expect(isOffHours(Date.UTC(2026, 0, 5, 19, 0), oh)).toBe(true);
    expect(isOffHours(Date.UTC(2026, 0, 5, 18, 59), oh)).toBe(false);
    expect(isOffHours(Date.UTC(2026, 0, 6, 5, 59), oh)).toBe(true);
    expect(isOffHours(Date.UTC(2026, 0, 6, 6, 0), oh)).toBe(false);
    expect(isOffHours(Date.UTC(2026, 0, 10, 12, 0), oh)).toBe(true); // Saturday
  });

  it('fires for international, not for national or inbound calls', () => {
    const d = new OffHoursInternationalDetector(resolveFraudConfig({ off_hours: oh, home_country_code: '+49' }));
    const night = Date.UTC(2026, 0, 5, 23, 0);
    expect(d.observe(attempt(night, 'a', '1001', '0044207946'))).toHaveLength(1);
    expect(d.observe(attempt(night, 'b', '1001', '004930123'))).toEqual([]); // home country
    expect(d.observe(attempt(night, 'c', '1001', '1002'))).toEqual([]);
    expect(d.observe(attempt(night, 'd', '1001', '+44207946', { direction: 'inbound' }))).toEqual([]);
    expect(d.observe(attempt(T0, 'e', '1001', '+44207946'))).toEqual([]); // Monday 13:00 local
  });

  it('is off without an off_hours config', () => {
    const d = new OffHoursInternationalDetector(resolveFraudConfig());
    expect(d.observe(attempt(Date.UTC(2026, 0, 5, 23, 0), 'a', '1001', '+44207946'))).toEqual([]);
  });
});
