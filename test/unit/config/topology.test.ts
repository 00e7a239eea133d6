// Topology keys (issue 17): per-account domain/registrar, a probe's own `server`,
// feature codes in allowed_destinations, the warnings of `probe config check`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { accountEndpoint } from '../../../src/config/accounts.js';
import { checkConfig, configWarnings } from '../../../src/config/check.js';
import { destinationAllowed } from '../../../src/config/destinations.js';
import { parseConfigText } from '../../../src/config/load.js';
import { parseProbeFileText } from '../../../src/config/probes.js';
import { buildCallSpec } from '../../../src/probes/call/spec.js';
import { buildScenarioSpec } from '../../../src/probes/scenario/probe.js';
import { parseScenarioText } from '../../../src/probes/scenario/load.js';
import { escapeSipUser } from '../../../src/sip/uri.js';
import { configIssuesOf } from './issues.js';
import { runCli } from '../cli/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');

const STACK = parseConfigText(
  [
    'pbx: { uri: "sip:127.0.0.1:5060", transport: udp }',
    'accounts:',
    '  "1001": { password: a }',
    '  "1002": { password: b, domain: pbx.lab }',
    '  trunk: { password: c, auth_user: "4930123", domain: carrier.lab, registrar: "sip:127.0.0.1:5164;transport=tcp" }',
    '  bare-registrar: { password: d, registrar: "sip:reg.carrier.example:5070" }',
    'allowed_destinations: ["\\\\*97", "#21", "9*"]',
  ].join('\n'),
  '/lab/callprobe.yaml',
  {},
);

describe('accountEndpoint', () => {
  const pbx = { uri: 'sip:127.0.0.1:5060', transport: 'udp' as const };
  it('next hop: the probe\'s server, else the account\'s registrar, else the pbx', () => {
    expect(accountEndpoint(STACK.accounts['1001'], {}, pbx)).toEqual({ server: 'sip:127.0.0.1:5060', transport: 'udp' });
    expect(accountEndpoint(STACK.accounts.trunk, {}, pbx)).toEqual({ server: 'sip:127.0.0.1:5164;transport=tcp', domain: 'carrier.lab' });
    expect(accountEndpoint(STACK.accounts.trunk, { server: 'sip:127.0.0.1:5060' }, pbx)).toEqual({ server: 'sip:127.0.0.1:5060', domain: 'carrier.lab' });
    expect(accountEndpoint(STACK.accounts['1001'], { server: 'sip:127.0.0.1:5160', transport: 'tcp' }, pbx)).toEqual({ server: 'sip:127.0.0.1:5160', transport: 'tcp' });
  });
  it('AOR domain: the account\'s domain, else its registrar\'s host', () => {
    expect(accountEndpoint(STACK.accounts['1002'], {}, pbx).domain).toBe('pbx.lab');
    expect(accountEndpoint(STACK.accounts['bare-registrar'], {}, pbx).domain).toBe('reg.carrier.example');
    expect(accountEndpoint({ registrar: 'sip:u@[2001:db8::1]:5060' }, {}, pbx).domain).toBe('2001:db8::1');
  });
});

describe('feature codes and short numbers', () => {
  it('"\\*97" allows exactly *97; "#21" exactly #21; an unescaped "*97" any number ending in 97', () => {
    expect(destinationAllowed('*97', ['\\*97'])).toBe(true);
    expect(destinationAllowed('+88297', ['\\*97'])).toBe(false);
    expect(destinationAllowed('#21', ['#21'])).toBe(true);
    expect(destinationAllowed('#210', ['#21'])).toBe(false);
    expect(destinationAllowed('+88297', ['*97'])).toBe(true);
    expect(destinationAllowed('?1', ['\\?1'])).toBe(true);
    expect(destinationAllowed('21', ['\\?1'])).toBe(false);
  });
  it('a call probe may dial them once allowed; refused otherwise', () => {
    const ok = parseProbeFileText('probes:\n  - { name: vm, kind: call, from: "1001", to: "*97" }\n  - { name: cf, kind: call, from: "1001", to: "#21" }\n', '/p/a.yaml', STACK);
    expect(ok.map((d) => d.kind === 'call' && d.to)).toEqual(['*97', '#21']);
    const refused = configIssuesOf(() => parseProbeFileText('probes:\n  - { name: vm, kind: call, from: "1001", to: "*98" }\n', '/p/b.yaml', STACK));
    expect(refused.join('\n')).toMatch(/probes\[0\]\.to.*"\*98" is neither a config account nor in allowed_destinations/);
  });
  it('a scenario may dial them', () => {
    const s = parseScenarioText('name: vm\nfrom: "1001"\nto: "*97"\nsteps:\n  - call: {}\n', '/s/vm.yaml', STACK);
    expect(s.to).toBe('*97');
  });
  it('buildCallSpec: allowed feature code dialled, unknown one refused before any packet', () => {
    const spec = buildCallSpec({ from: '1001', to: '#21', durationMs: 3000 }, STACK, {});
    expect(spec.ok && spec.spec.to).toBe('#21');
    const refused = buildCallSpec({ from: '1001', to: '#22', durationMs: 3000 }, STACK, {});
    expect(refused.ok ? '' : refused.message).toMatch(/refusing to dial: #22/);
  });
  it('the Request-URI user part escapes "#" as %23 and keeps "*" (RFC 3261 §25.1)', () => {
    expect(escapeSipUser('#21')).toBe('%2321');
    expect(escapeSipUser('*97')).toBe('*97');
    expect(escapeSipUser('+15550100')).toBe('+15550100');
    expect(escapeSipUser('a b@c')).toBe('a%20b%40c');
  });
  it('pattern syntax errors name the path', () => {
    const issues = configIssuesOf(() => parseConfigText('pbx: { uri: "sip:127.0.0.1" }\nallowed_destinations: ["\\\\x9"]\n', '/c.yaml', {}));
    expect(issues.join('\n')).toMatch(/allowed_destinations\[0\]/);
  });
});

describe('a probe\'s own server', () => {
  it('register, call and scenario probes take server and transport', () => {
    const defs = parseProbeFileText(
      [
        'probes:',
        '  - { name: r, kind: register, account: trunk, server: "sip:127.0.0.1:5164", transport: tcp }',
        '  - { name: c, kind: call, from: "1001", to: "1002", server: "sip:127.0.0.1:5160" }',
        '  - { name: s, kind: scenario, file: x.yaml, server: "sips:127.0.0.1:5061" }',
        '',
      ].join('\n'),
      '/p/c.yaml',
      STACK,
    );
    expect(defs.map((d) => ('server' in d ? d.server : undefined))).toEqual(['sip:127.0.0.1:5164', 'sip:127.0.0.1:5160', 'sips:127.0.0.1:5061']);
    expect(configIssuesOf(() => parseProbeFileText('probes:\n  - { name: r, kind: register, account: "1001", server: "127.0.0.1" }\n', '/p/d.yaml', STACK)).join('\n')).toMatch(
      /probes\[0\]\.server/,
    );
  });
  it('buildCallSpec: a trunk account uses its registrar and domain; --server wins over the registrar, keeps the domain', () => {
    const viaRegistrar = buildCallSpec({ from: 'trunk', to: '1002', durationMs: 3000 }, STACK, {});
    expect(viaRegistrar.ok && viaRegistrar.spec.from).toEqual({
      user: 'trunk',
      password: 'c',
      authUser: '4930123',
      domain: 'carrier.lab',
      server: 'sip:127.0.0.1:5164;transport=tcp',
    });
    expect(viaRegistrar.ok && viaRegistrar.spec.server).toBe('sip:127.0.0.1:5060');
    const viaServer = buildCallSpec({ from: 'trunk', to: '1002', durationMs: 3000, server: 'sip:127.0.0.1:5160' }, STACK, {});
    expect(viaServer.ok && viaServer.spec.from).toEqual({ user: 'trunk', password: 'c', authUser: '4930123', domain: 'carrier.lab' });
    expect(viaServer.ok && viaServer.spec.server).toBe('sip:127.0.0.1:5160');
    // a named server brings its own transport (from its URI) unless one is given
    expect(viaServer.ok && viaServer.spec.transport).toBeUndefined();
    const pbxDefault = buildCallSpec({ from: '1001', to: '1002', durationMs: 3000 }, STACK, {});
    expect(pbxDefault.ok && pbxDefault.spec.transport).toBe('udp');
  });
  it('buildScenarioSpec: the probe\'s server wins over the scenario file\'s, which wins over the pbx', () => {
    const scenario = parseScenarioText('name: x\nfrom: "1001"\nto: "1002"\nserver: "sip:127.0.0.1:5160"\ntransport: tcp\nsteps:\n  - call: {}\n', '/s/x.yaml', STACK);
    const file = buildScenarioSpec(scenario, STACK);
    expect([file.server, file.transport, file.serverExplicit]).toEqual(['sip:127.0.0.1:5160', 'tcp', true]);
    const probe = buildScenarioSpec(scenario, STACK, undefined, undefined, { server: 'sip:127.0.0.1:5164' });
    expect([probe.server, probe.transport, probe.serverExplicit]).toEqual(['sip:127.0.0.1:5164', undefined, true]);
    const plain = buildScenarioSpec(parseScenarioText('name: y\nfrom: "1001"\nsteps:\n  - wait: 1s\n', '/s/y.yaml', STACK), STACK);
    expect([plain.server, plain.transport, plain.serverExplicit]).toEqual(['sip:127.0.0.1:5060', 'udp', false]);
  });
});

describe('config check warnings', () => {
  const base = 'pbx: { uri: "sip:127.0.0.1" }\n';
  it('warns when the probe\'s RTP range overlaps the relay\'s on this host (rtpengine 10000-20000 by default)', () => {
    const overlapping = parseConfigText(`${base}rtp: { port_min: 16000, port_max: 16999, relay: {} }\n`, '/c.yaml', {});
    expect(overlapping.rtp.relay).toEqual({ port_min: 10000, port_max: 20000 });
    expect(configWarnings(overlapping)).toEqual([
      { path: 'rtp.port_min', message: expect.stringMatching(/RTP ports 16000-16999 overlap the media relay's 10000-20000 \(rtp\.relay\)/) },
    ]);
    // the edges: 20000 is the relay's, 20002 is free
    expect(configWarnings(parseConfigText(`${base}rtp: { port_min: 20000, port_max: 20999, relay: {} }\n`, '/c.yaml', {}))).toHaveLength(1);
    expect(configWarnings(parseConfigText(`${base}rtp: { port_min: 20002, port_max: 20999, relay: {} }\n`, '/c.yaml', {}))).toEqual([]);
    expect(configWarnings(parseConfigText(`${base}rtp: { port_min: 16000, port_max: 16999, relay: { port_min: 30000, port_max: 40000 } }\n`, '/c.yaml', {}))).toEqual([]);
    // no relay configured: nothing to compare
    expect(configWarnings(parseConfigText(base, '/c.yaml', {}))).toEqual([]);
    expect(configIssuesOf(() => parseConfigText(`${base}rtp: { relay: { port_min: 20000, port_max: 10000 } }\n`, '/c.yaml', {})).join('\n')).toMatch(/rtp\.relay\.port_max/);
  });
  it('warns about "*97" (any number ending in 97) and suggests "\\*97"', () => {
    const w = configWarnings(parseConfigText(`${base}allowed_destinations: ["*97", "9*", "\\\\*98"]\n`, '/c.yaml', {}));
    expect(w).toEqual([{ path: 'allowed_destinations[0]', message: expect.stringContaining('for the feature code write "\\*97"') }]);
  });
  it('checkConfig reports warnings and stays ok', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-topo-'));
    writeFileSync(join(dir, 'callprobe.yaml'), `${base}rtp: { relay: {} }\nstate_dir: ${dir}\n`);
    const r = checkConfig({ file: join(dir, 'callprobe.yaml'), probeFiles: [], env: {} });
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.path)).toEqual(['rtp.port_min']);
  });
});

describe('docs/examples/stack (the issue\'s example stack)', () => {
  it('probe config check accepts it, with its probe files, without warnings', () => {
    const r = checkConfig({
      file: join(ROOT, 'docs/examples/stack/callprobe.yaml'),
      env: { CALLPROBE_1001_PASSWORD: 'a', CALLPROBE_1002_PASSWORD: 'b', CALLPROBE_TRUNK_A_PASSWORD: 'c' },
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.probes).toBe(8);
  });
  it('`probe config check` (the shipped CLI) says OK for it, and prints the relay overlap as a warning with exit 0', async () => {
    const env = { CALLPROBE_1001_PASSWORD: 'a', CALLPROBE_1002_PASSWORD: 'b', CALLPROBE_TRUNK_A_PASSWORD: 'c' };
    const ok = await runCli(['config', 'check', 'docs/examples/stack/callprobe.yaml'], { env, timeoutMs: 60_000 });
    expect(ok.stdout).toMatch(/^OK .*docs\/examples\/stack\/callprobe\.yaml \(8 probes\)/);
    expect(ok.stderr).not.toMatch(/warning/);
    expect(ok.code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'cp-topo-cli-'));
    writeFileSync(join(dir, 'callprobe.yaml'), `pbx: { uri: "sip:127.0.0.1" }\nrtp: { relay: {} }\nallowed_destinations: ["*97"]\nstate_dir: ${dir}\n`);
    writeFileSync(join(dir, 'p.yaml'), 'probes:\n  - { name: o, kind: options }\n');
    const warned = await runCli(['config', 'check', join(dir, 'callprobe.yaml'), '--probes', join(dir, 'p.yaml')], { timeoutMs: 60_000 });
    expect(warned.stderr).toMatch(/warning: .*rtp\.port_min: the probe's RTP ports 16000-16999 overlap/);
    expect(warned.stderr).toMatch(/warning: .*allowed_destinations\[0\]: "\*97" allows every number ending in 97/);
    expect(warned.code).toBe(0);
  }, 120_000);
});
