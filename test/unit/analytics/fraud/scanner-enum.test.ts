import { describe, expect, it } from 'vitest';
import { DEFAULT_SCANNER_USER_AGENTS, resolveFraudConfig } from '../../../../src/analytics/fraud/config.js';
import { EnumerationDetector } from '../../../../src/analytics/fraud/enumeration.js';
import { ScannerUaDetector, matchScannerUa } from '../../../../src/analytics/fraud/scanner.js';
import { T0, request } from './helpers.js';

const cfg = resolveFraudConfig();

describe('scanner User-Agents', () => {
  it('matches known tools case-insensitively and leaves sipsak and phones alone', () => {
    for (const ua of ['friendly-scanner', 'SIPVicious 0.3.3', 'sipcli/v1.8', 'VaxSIPUserAgent/3.1', 'pplsip', 'sundayddr', 'iWar']) {
      expect(matchScannerUa(ua, DEFAULT_SCANNER_USER_AGENTS), ua).not.toBeNull();
    }
    for (const ua of ['sipsak 0.9.8.1', 'Yealink SIP-T46S', 'baresip v1.0.0', 'lab-sipp-uac', undefined]) {
      expect(matchScannerUa(ua, DEFAULT_SCANNER_USER_AGENTS), String(ua)).toBeNull();
    }
  });

  it('reports an IP once per scanner_repeat with the count seen', () => {
    const d = new ScannerUaDetector(cfg);
    const first = d.observe(request(T0, '100', 401, 'REGISTER', '192.0.2.7', 'friendly-scanner'));
    expect(first).toHaveLength(1);
    expect(first[0]?.evidence).toMatchObject({ ip: '192.0.2.7', ua: 'friendly-scanner', count: 1 });
    for (let i = 1; i < 50; i++) expect(d.observe(request(T0 + i, '100', 401, 'REGISTER', '192.0.2.7', 'friendly-scanner'))).toEqual([]);
    expect(d.observe(request(T0 + 3_599_999, '1', 401, 'REGISTER', '192.0.2.7', 'friendly-scanner'))).toEqual([]);
    const again = d.observe(request(T0 + 3_600_000, '1', 401, 'REGISTER', '192.0.2.7', 'friendly-scanner'));
    expect(again[0]?.evidence.count).toBe(51);
    expect(d.observe(request(T0, '1', 200, 'REGISTER', '192.0.2.8', 'Yealink'))).toEqual([]);
  });
});

describe('EnumerationDetector (10 distinct users in 60 s)', () => {
  it('fires at the 10th distinct probed user', () => {
    const d = new EnumerationDetector(cfg);
    for (let i = 0; i < 9; i++) expect(d.observe(request(T0 + i, String(1000 + i), 404, 'INVITE'))).toEqual([]);
    const hit = d.observe(request(T0 + 9, '1009', 401, 'REGISTER'));
    expect(hit).toHaveLength(1);
    expect(hit[0]?.evidence).toMatchObject({ ip: '192.0.2.1', count: 10, window_s: 60 });
  });

  it('ignores phones that authenticate after the challenge', () => {
    const d = new EnumerationDetector(cfg);
    for (let i = 0; i < 50; i++) {
      expect(d.observe(request(T0 + i * 10, String(2000 + i), 401, 'REGISTER'))).toEqual([]);
      expect(d.observe(request(T0 + i * 10 + 5, String(2000 + i), 200, 'REGISTER'))).toEqual([]);
    }
  });

  it('does not count 407 on INVITE (normal proxy auth) nor 486', () => {
    const d = new EnumerationDetector(cfg);
    for (let i = 0; i < 30; i++) expect(d.observe(request(T0 + i, String(3000 + i), i % 2 ? 407 : 486, 'INVITE'))).toEqual([]);
  });
});
