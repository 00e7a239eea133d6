import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import type { FraudEvent } from '../../../src/analytics/fraud/types.js';
import { FAIL2BAN_FAILREGEX, fail2banRegexToJs } from '../../../src/analytics/fraud/fail2ban.js';
import { FraudLogWriter } from '../../../src/report/fraud-log.js';
import {
  SECURITY_LOG_PRESETS,
  SecurityLogSource,
  compileSecurityPattern,
  matchSecurityLine,
} from '../../../src/sources/securitylog.js';

const KAM =
  ' 7(1234) WARNING: <script>: LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 from=1001 to=1001 src=127.0.0.1:5096 proto=udp ua="friendly-scanner" fails_60s=1';
const AST =
  '[2026-01-05 12:00:00] SECURITY[123] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2026-01-05T12:00:00.000+0000",Severity="Error",Service="SIP",EventVersion="2",AccountID="1002",SessionID="0x7f",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/203.0.113.9/5062",Challenge="abc"';

describe('security log patterns', () => {
  it('the kamailio preset reads ip, user, method, ua', () => {
    const ev = matchSecurityLine(KAM, [compileSecurityPattern(SECURITY_LOG_PRESETS.kamailio)], 5);
    expect(ev).toEqual({ type: 'auth_failure', source: 'security_log', at: 5, ip: '127.0.0.1', user: '1001', method: 'REGISTER', ua: 'friendly-scanner', reason: 'invalid_password' });
  });

  it('the asterisk preset reads RemoteAddress and AccountID', () => {
    const ev = matchSecurityLine(AST, [compileSecurityPattern(SECURITY_LOG_PRESETS.asterisk)], 5);
    expect(ev).toMatchObject({ ip: '203.0.113.9', user: '1002', reason: 'InvalidPassword' });
    const noAccount = AST.replace('AccountID="1002",', '');
    expect(matchSecurityLine(noAccount, [compileSecurityPattern(SECURITY_LOG_PRESETS.asterisk)], 5)?.ip).toBe('203.0.113.9');
    expect(matchSecurityLine(AST.replace('InvalidPassword', 'SuccessfulAuth'), [compileSecurityPattern(SECURITY_LOG_PRESETS.asterisk)], 5)).toBeNull();
  });

  it('custom patterns use <HOST>; bad ones are rejected with a code', () => {
    const re = compileSecurityPattern('Failed login for (?<user>\\w+) from <HOST>');
    expect(matchSecurityLine('Failed login for bob from 2001:db8::7', [re], 1)).toMatchObject({ ip: '2001:db8::7', user: 'bob' });
    expect(matchSecurityLine('Failed login for bob from ::ffff:192.0.2.1', [re], 1)?.ip).toBe('192.0.2.1');
    expect(() => compileSecurityPattern('no host here')).toThrow(expect.objectContaining({ code: 'E_PATTERN' }));
    expect(() => compileSecurityPattern('(<HOST>')).toThrow(expect.objectContaining({ code: 'E_PATTERN' }));
  });
});

describe('SecurityLogSource + FraudLogWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callprobe-seclog-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('tails new lines only (startAt end by default) and emits auth failures', async () => {
    const p = join(dir, 'kamailio.log');
    writeFileSync(p, `${KAM}\n`);
    const events: AnalyticsEvent[] = [];
    const src = new SecurityLogSource({ path: p, now: () => 42, onEvent: (e) => events.push(e) });
    await src.poll();
    expect(events).toEqual([]);
    appendFileSync(p, `${KAM}\nunrelated line\n${AST}\n`);
    await src.poll();
    expect(events.map((e) => (e.type === 'auth_failure' ? e.ip : ''))).toEqual(['127.0.0.1', '203.0.113.9']);
    expect(src.stats).toEqual({ lines: 3, matches: 2 });
    await src.close();
  });

  it('the writer appends lines the published failregex matches', async () => {
    const p = join(dir, 'fraud.log');
    const w = new FraudLogWriter({ path: p, pid: 77 });
    const ev: FraudEvent = { rule: 'brute_force', severity: 'critical', at: 0, evidence: { ip: '127.0.0.1', count: 10, window_s: 60 }, message: '' };
    w.write(ev);
    w.write({ ...ev, rule: 'long_call', evidence: { count: 4000, window_s: 3600 } });
    await w.close();
    w.write(ev);
    const lines = readFileSync(p, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const re = fail2banRegexToJs(FAIL2BAN_FAILREGEX);
    expect(lines.map((l) => re.exec(l)?.groups?.host ?? null)).toEqual(['127.0.0.1', null]);
  });
});
