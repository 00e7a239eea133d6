import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { fail2banLogPath, fraudAlert } from '../../../src/agent/analytics.js';
import { FAIL2BAN_FAILREGEX, fail2banRegexToJs } from '../../../src/analytics/fraud/fail2ban.js';
import type { Config } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';

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

describe('fail2banLogPath', () => {
  const cfg = (fail2ban_log?: string | false) => ({ fraud: { fail2ban_log } }) as unknown as Config;
  it('is the configured path, nothing when false, and the systemd default only under systemd', () => {
    expect(fail2banLogPath(cfg('/srv/f.log'), { INVOCATION_ID: 'x' })).toBe('/srv/f.log');
    expect(fail2banLogPath(cfg(false), { INVOCATION_ID: 'x', LOGS_DIRECTORY: '/var/log/callprobe' })).toBeUndefined();
    expect(fail2banLogPath(cfg(), {})).toBeUndefined();
    expect(fail2banLogPath(cfg(), { INVOCATION_ID: '' })).toBeUndefined();
    expect(fail2banLogPath(cfg(), { INVOCATION_ID: '5f1c' })).toBe('/var/log/callprobe/fraud.log');
    expect(fail2banLogPath(cfg(), { LOGS_DIRECTORY: '/var/log/cp:/var/log/other' })).toBe('/var/log/cp/fraud.log');
  });
});

describe('the agent under systemd writes the fail2ban log in $LOGS_DIRECTORY', () => {
  const KAM = (i: number) =>
    ` 7(1234) WARNING: <script>: LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 from=1001 to=1001 src=192.0.2.44:5096 proto=udp ua="friendly-scanner" fails_60s=${i}`;
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
  });

  it('ten auth failures from a scanner in the security log → scanner_ua and brute_force lines fail2ban matches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-agent-f2b-'));
    mkdirSync(join(dir, 'probes'));
    const seclog = join(dir, 'kamailio.log');
    writeFileSync(seclog, '');
    writeFileSync(
      join(dir, 'callprobe.yaml'),
      `pbx: { uri: "sip:127.0.0.1:5060" }\nprobes_dir: probes\nstate_dir: state\nlisten: { metrics: "127.0.0.1:0" }\nsources: { security_log: { path: kamailio.log, pattern: kamailio } }\n`,
    );
    writeFileSync(join(dir, 'probes', 'main.yaml'), 'probes:\n  - { name: o, kind: options, interval: 1h }\n');
    const logs = join(dir, 'logs');
    agent = await Agent.start({
      logger: createLogger('silent'),
      configFile: join(dir, 'callprobe.yaml'),
      env: { INVOCATION_ID: 'abc', LOGS_DIRECTORY: logs },
      kinds: { options: { run: async () => ({ probe: 'o', success: true, failures: [] }) } },
    });
    appendFileSync(seclog, `${Array.from({ length: 10 }, (_, i) => KAM(i + 1)).join('\n')}\n`);
    const path = join(logs, 'fraud.log');
    const deadline = Date.now() + 8000;
    while (!(existsSync(path) && /rule=brute_force/.test(readFileSync(path, 'utf8'))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const re = fail2banRegexToJs(FAIL2BAN_FAILREGEX);
    expect(lines.filter((l) => re.exec(l)?.groups?.host === '192.0.2.44').map((l) => /rule=(\S+)/.exec(l)?.[1])).toEqual(['scanner_ua', 'brute_force']);
  });
});
