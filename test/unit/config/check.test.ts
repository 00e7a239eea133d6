import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../../src/config/check.js';

const ROOT = resolve(import.meta.dirname, '../../..');

function workdir(config: string, probes?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cp-check-'));
  writeFileSync(join(dir, 'callprobe.yaml'), config);
  if (probes !== undefined) {
    mkdirSync(join(dir, 'probes'));
    writeFileSync(join(dir, 'probes', 'main.yaml'), probes);
  }
  return dir;
}

const BROKEN = [
  'pbx:',
  '  uri: "sip//127.0.0.1"',
  'acounts:',
  '  "1001": { password: lab1001pw }',
  'webhooks:',
  '  - { url: "https://hooks.example.com/x", secret: "file:/nonexistent/callprobe/webhook" }',
  '',
].join('\n');

describe('checkConfig', () => {
  it('accepts a valid config and counts the probes in its probes_dir', () => {
    const dir = workdir('pbx: { uri: "sip:127.0.0.1" }\naccounts: { "1001": { password: x } }\nprobes_dir: probes\n', 'probes:\n  - { name: a, kind: register, account: "1001" }\n  - { name: smoke-x, kind: options }\n');
    writeFileSync(join(dir, 'probes', 'smoke.yaml'), 'probes:\n  - { name: a, kind: options }\n');
    const r = checkConfig({ file: join(dir, 'callprobe.yaml'), env: {} });
    expect(r).toEqual({ ok: true, file: join(dir, 'callprobe.yaml'), probes: 2, errors: [], warnings: [] });
  });

  it('collects config and probe-file errors together, each with its file', () => {
    const dir = workdir('pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: probes\n', 'probes:\n  - { name: a, kind: register, account: "1001" }\n');
    const r = checkConfig({ file: join(dir, 'callprobe.yaml'), env: {} });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      { file: join(dir, 'probes', 'main.yaml'), path: 'probes[0].account', message: 'unknown account "1001" (config accounts: none)', line: 2 },
    ]);
  });
});

describe('configWarnings: HEP beyond loopback (issue 14 item 6)', () => {
  it('warns when HEP listens beyond loopback without sources.hep_auth_key, and only then', () => {
    const base = 'pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: probes\n';
    const probes = 'probes:\n  - { name: a, kind: options }\n';
    const open = checkConfig({ file: join(workdir(`${base}sources: { hep: "0.0.0.0:9060" }\n`, probes), 'callprobe.yaml'), env: {} });
    expect(open.ok).toBe(true);
    expect(open.warnings).toEqual([expect.objectContaining({ path: 'sources.hep', message: expect.stringMatching(/beyond loopback, without sources\.hep_auth_key/) })]);
    const keyed = checkConfig({ file: join(workdir(`${base}sources: { hep: "0.0.0.0:9060", hep_auth_key: "env:HEPKEY" }\n`, probes), 'callprobe.yaml'), env: { HEPKEY: 'k' } });
    expect(keyed.warnings).toEqual([]);
    const local = checkConfig({ file: join(workdir(`${base}sources: { hep: "127.0.0.1:9060" }\n`, probes), 'callprobe.yaml'), env: {} });
    expect(local.warnings).toEqual([]);
    const missing = checkConfig({ file: join(workdir(`${base}sources: { hep: "0.0.0.0:9060", hep_auth_key: "env:NOPE" }\n`, probes), 'callprobe.yaml'), env: {} });
    expect(missing.errors).toEqual([expect.objectContaining({ path: 'sources.hep_auth_key', message: 'environment variable NOPE is not set' })]);
  });
});

describe('probe config check (CLI)', () => {
  it('exits 2 with one path-qualified line per error: typo, bad URI, missing secret file', async () => {
    const dir = workdir(BROKEN);
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'check', ...args], { cwd: ROOT }, (err, stdout, stderr) =>
          done({ code: err === null ? 0 : Number(err.code), stdout, stderr }),
        );
      });
    const bad = await run([join(dir, 'callprobe.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    const file = join(dir, 'callprobe.yaml');
    const lines = bad.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(expect.arrayContaining([
      `${file}: pbx.uri: expected a SIP URI like "sip:pbx.example.com:5060" or "sips:127.0.0.1:5061" (line 2)`,
      `${file}: acounts: unknown key (line 3)`,
      `${file}: webhooks[0].secret: file /nonexistent/callprobe/webhook not readable (ENOENT) (line 6)`,
    ]));

    mkdirSync(join(dir, 'probes'));
    writeFileSync(join(dir, 'probes', 'p.yaml'), 'probes:\n  - { name: o, kind: options }\n');
    writeFileSync(file, `pbx: { uri: "sip:127.0.0.1:5060" }\nprobes_dir: probes\nstate_dir: ${JSON.stringify(dir)}\n`);
    const good = await run([file]);
    expect(good).toEqual({ code: 0, stdout: `OK ${file} (1 probe)\n`, stderr: '' });
  });
});
