import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configIssuesOf } from './issues.js';
import { findConfigFile, loadConfig, parseConfigText } from '../../../src/config/load.js';

const MINIMAL = 'pbx: { uri: "sip:127.0.0.1:5060" }\n';

describe('parseConfigText', () => {
  it('fills defaults from the design and converts durations to ms', () => {
    const c = parseConfigText(MINIMAL, '/etc/callprobe/callprobe.yaml', {});
    expect(c.pbx).toEqual({ uri: 'sip:127.0.0.1:5060', transport: 'udp' });
    expect(c.listen.metrics).toBe('127.0.0.1:9464');
    expect(c.thresholds).toMatchObject({ mos_min: 3.5, loss_max_percent: 1, pdd_max_ms: 3000, cert_warn_days: 30, cert_crit_days: 7, asr_min_percent: 95 });
    expect(c.max_call_duration).toBe(120_000);
    expect(c.fraud.auth_fail_window).toBe(60_000);
    expect(c.rtp).toEqual({ port_min: 16000, port_max: 16999, codecs: ['PCMU', 'PCMA'], media_timeout: 2000 });
  });

  it('resolves relative paths against the config file directory', () => {
    const c = parseConfigText(`${MINIMAL}probes_dir: probes\nstate_dir: /var/lib/x\n`, '/opt/cp/callprobe.yaml', {});
    expect(c.probes_dir).toBe('/opt/cp/probes');
    expect(c.state_dir).toBe('/var/lib/x');
  });

  it('returns a deeply frozen object', () => {
    const c = parseConfigText(`${MINIMAL}accounts: { "1001": { password: pw } }\n`, '/x/c.yaml', {});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.accounts['1001'])).toBe(true);
    expect(() => {
      (c.pbx as { uri: string }).uri = 'sip:evil';
    }).toThrow(TypeError);
  });

  it('resolves env: and file: secrets, relative names in $CREDENTIALS_DIRECTORY', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-cred-'));
    writeFileSync(join(dir, 'sip-1002'), 'from-file\n');
    const text = `${MINIMAL}accounts:\n  "1001": { password: "env:PW_1001" }\n  "1002": { password: "file:sip-1002" }\n  "1003": { password: literal }\n`;
    const c = parseConfigText(text, '/x/c.yaml', { PW_1001: 'from-env', CREDENTIALS_DIRECTORY: dir });
    expect(c.accounts['1001']?.password).toBe('from-env');
    expect(c.accounts['1002']?.password).toBe('from-file');
    expect(c.accounts['1003']?.password).toBe('literal');
  });

  it('reports a typo, a bad URI and a missing secret file together, each with its path and line', () => {
    const text = [
      'pbx:',
      '  uri: "http://pbx.example.com"',
      '  trasport: udp',
      'accounts:',
      '  "1001": { password: "file:/nonexistent/callprobe-secret" }',
    ].join('\n');
    const lines = configIssuesOf(() => parseConfigText(text, '/x/c.yaml', {}));
    expect(lines).toHaveLength(3);
    expect(lines).toContain('pbx.trasport: unknown key (line 3)');
    expect(lines.some((l) => l.startsWith('pbx.uri: expected a SIP URI') && l.endsWith('(line 2)'))).toBe(true);
    expect(lines).toContain('accounts.1001.password: file /nonexistent/callprobe-secret not readable (ENOENT) (line 5)');
  });

  it('never echoes a secret value in an error', () => {
    const text = `${MINIMAL}accounts: { "1001": { password: "s3cret-value", bogus: 1 } }\n`;
    const lines = configIssuesOf(() => parseConfigText(text, '/x/c.yaml', {}));
    expect(lines.join('\n')).not.toContain('s3cret-value');
  });

  it('names a missing environment variable', () => {
    const lines = configIssuesOf(() => parseConfigText(`${MINIMAL}accounts: { "1001": { password: "env:NOPE_X" } }\n`, '/x/c.yaml', {}));
    expect(lines).toEqual(['accounts.1001.password: environment variable NOPE_X is not set (line 2)']);
  });

  it('reports YAML syntax errors with a line number', () => {
    const lines = configIssuesOf(() => parseConfigText('pbx:\n  uri: "sip:x\n  bad: [\n', '/x/c.yaml', {}));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^\(root\): YAML: .*\(line \d+\)$/);
  });

  it('rejects duplicate keys', () => {
    const lines = configIssuesOf(() => parseConfigText('pbx: { uri: "sip:a" }\npbx: { uri: "sip:b" }\n', '/x/c.yaml', {}));
    expect(lines.join('\n')).toMatch(/unique|duplicate/i);
  });

  it('validates durations, ranges and webhook formats', () => {
    const text = `${MINIMAL}max_call_duration: 120\nrtp: { port_min: 16000, port_max: 16001 }\nwebhooks: [ { url: "ftp://x", format: teams } ]\nthresholds: { cert_warn_days: 5, cert_crit_days: 9 }\n`;
    const lines = configIssuesOf(() => parseConfigText(text, '/x/c.yaml', {}));
    const paths = lines.map((l) => l.split(':')[0]);
    expect(paths).toEqual(expect.arrayContaining(['max_call_duration', 'rtp.port_max', 'webhooks[0].url', 'webhooks[0].format']));
  });

  it('requires pbx', () => {
    expect(configIssuesOf(() => parseConfigText('', '/x/c.yaml', {}))).toEqual(['pbx: required']);
  });
});

describe('findConfigFile / loadConfig', () => {
  it('prefers the explicit file, then $CALLPROBE_CONFIG, then ./callprobe.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-find-'));
    writeFileSync(join(dir, 'callprobe.yaml'), MINIMAL);
    expect(findConfigFile({ file: 'a.yaml', cwd: dir, env: { CALLPROBE_CONFIG: 'b.yaml' } })).toBe(join(dir, 'a.yaml'));
    expect(findConfigFile({ cwd: dir, env: { CALLPROBE_CONFIG: 'b.yaml' } })).toBe(join(dir, 'b.yaml'));
    expect(findConfigFile({ cwd: dir, env: {} })).toBe(join(dir, 'callprobe.yaml'));
    expect(loadConfig({ cwd: dir, env: {} }).config.pbx.uri).toBe('sip:127.0.0.1:5060');
  });

  it('reports an unreadable file as a ConfigError', () => {
    expect(configIssuesOf(() => loadConfig({ file: '/nonexistent/cp.yaml', env: {} }))[0]).toMatch(/cp\.yaml not readable \(ENOENT\)/);
  });
});
