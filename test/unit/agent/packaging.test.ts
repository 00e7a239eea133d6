// The systemd unit and the Dockerfile, checked without a Docker engine:
// `systemd-analyze verify` + `security` when installed, and structural checks
// for the parts the design requires either way.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requiredInCi } from '../../ci-required.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const unitText = readFileSync(join(ROOT, 'systemd/callprobe.service'), 'utf8');

/** INI-ish unit parser: section → key → every value (keys repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1] ?? '', current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || current === undefined) throw new Error(`bad unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

describe('systemd/callprobe.service', () => {
  const service = parseUnit(unitText).get('Service') ?? new Map<string, string[]>();
  const one = (key: string) => service.get(key)?.at(-1);

  it('is a notify service with a watchdog that sd_notify from a helper can reach', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all');
    expect(one('WatchdogSec')).toMatch(/^\d+s$/);
    expect(one('ExecReload')).toContain('-HUP');
    expect(one('ExecStart')).toMatch(/ agent( |$)/);
    expect(one('RestartPreventExitStatus')).toBe('2');
  });

  it('runs unprivileged and sandboxed', () => {
    expect(one('DynamicUser')).toBe('yes');
    expect(one('StateDirectory')).toBe('callprobe');
    // the fail2ban log's default home (fraud.fail2ban_log): /var/log/callprobe
    expect(one('LogsDirectory')).toBe('callprobe');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(service.get('CapabilityBoundingSet')).toEqual(['']);
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
  });

  it('passes secrets as credentials, not environment variables', () => {
    const creds = service.get('LoadCredential') ?? [];
    expect(creds.length).toBeGreaterThan(0);
    for (const c of creds) expect(c).toMatch(/^[a-z0-9-]+:\/etc\/callprobe\/credentials\/[a-z0-9-]+$/);
    expect((service.get('Environment') ?? []).join(' ')).not.toMatch(/PASSWORD|SECRET/i);
  });

  it.skipIf(!requiredInCi(existsSync('/usr/bin/systemd-analyze'), 'systemd-analyze (package systemd)'))('passes systemd-analyze verify, with a low exposure score', () => {
    // verify checks that ExecStart exists: point it at a stand-in binary.
    const dir = mkdtempSync(join(tmpdir(), 'cp-unit-'));
    const unit = join(dir, 'callprobe.service');
    writeFileSync(unit, unitText.replace('/usr/bin/probe', '/bin/true'));
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', cwd: dir });
    expect(`${verify.stdout}${verify.stderr}`).toBe('');
    expect(verify.status).toBe(0);
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', unit], { encoding: 'utf8', cwd: dir });
    const score = /Overall exposure level for callprobe\.service: ([\d.]+)/.exec(security.stdout);
    expect(score).not.toBeNull();
    expect(Number(score?.[1])).toBeLessThanOrEqual(2.5);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ');
      return { op: l.slice(0, sp).toUpperCase(), args: l.slice(sp + 1).trim() };
    });
  const froms = instructions.filter((i) => i.op === 'FROM');
  const lastFrom = instructions.lastIndexOf(froms.at(-1) ?? { op: '', args: '' });
  const runtime = instructions.slice(lastFrom);

  it('is multi-stage on one base, an ARG defaulting to a pinned Node 20 image', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]?.args).toMatch(/ AS build$/);
    const arg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('BASE_IMAGE='));
    expect(arg?.args).toMatch(/^BASE_IMAGE=node:20[-.\w]*$/);
    expect(instructions.indexOf(arg ?? { op: '', args: '' })).toBeLessThan(instructions.indexOf(froms[0] ?? { op: '', args: '' }));
    for (const f of froms) expect(f.args).toMatch(/^\$\{BASE_IMAGE\}( AS build)?$/);
    expect(runtime.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
  });

  it('runs as a non-root user with a HEALTHCHECK on /healthz', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const health = runtime.find((i) => i.op === 'HEALTHCHECK');
    expect(health?.args).toContain('/healthz');
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe('9464');
    expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toMatch(/^\[.*dist\/cli\/probe\.cjs"\]$/);
  });

  it('installs reproducibly, fetches nothing by URL and documents --network host', () => {
    expect(instructions.some((i) => i.op === 'RUN' && i.args.includes('npm ci'))).toBe(true);
    expect(instructions.some((i) => i.op === 'ADD')).toBe(false);
    expect(text).toMatch(/--network host/);
  });

  it('builds the udpio addon (failing the build if it cannot) and ships it where src/rtp/udp.ts loads it', () => {
    const build = instructions.slice(0, lastFrom);
    expect(build.some((i) => i.op === 'RUN' && /CI=true node scripts\/build-native\.mjs/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'RUN' && /apt-get install .*g\+\+.*make.*python3/.test(i.args))).toBe(true);
    // udp.ts: new URL('../../native/udpio/build/Release/udpio.node', import.meta.url) from dist/rtp/
    const addon = runtime.find((i) => i.op === 'COPY' && i.args.includes('udpio.node'));
    expect(addon?.args).toBe('--from=build /src/native/udpio/build/Release/udpio.node ./native/udpio/build/Release/udpio.node');
    expect(runtime.find((i) => i.op === 'WORKDIR')?.args).toBe('/opt/callprobe');
    expect(readFileSync(join(ROOT, 'src/rtp/udp.ts'), 'utf8')).toContain("'../../native/udpio/build/Release/udpio.node'");
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const i of instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      const sources = i.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), src).toBe(true);
        expect(ignored, src).not.toContain(src);
      }
    }
  });
});
