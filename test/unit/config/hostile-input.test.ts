// Issue 21.5 and 21.7 through the shipped CLI: files that are not regular
// files, oversized secrets and configs, an alias bomb, and paths the agent
// cannot use all exit 2 with `path: message`, quickly and in bounded memory.
// Several faults share one config so each CLI run (1-3 s of start-up on the
// shared machine) checks many of them; the rest are checked in-process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentState } from '../../../src/agent/agent.js';
import { checkConfig } from '../../../src/config/check.js';
import { runCli, type CliRun } from '../cli/run-cli.js';
import { configIssuesOf } from './issues.js';

// "Refused quickly" is bounded in CPU time, not wall time: on a loaded 2-core machine (load 11) the
// tsx start-up alone took longer than a wall bound, while the CPU a run uses does not grow with the
// load. A hang that burns no CPU (a read blocked on a FIFO) is caught by runCli's kill (code null).
const BOUNDS = { cpuMs: 5_000, rssMb: 300 }; // a refusal costs ~1 s of CPU (tsx start-up)

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cp-hostile-'));
  mkdirSync(join(dir, 'probes'));
  writeFileSync(join(dir, 'probes', 'p.yaml'), 'probes:\n  - { name: o, kind: options }\n');
  return dir;
}

function config(dir: string, text: string): string {
  const file = join(dir, 'callprobe.yaml');
  writeFileSync(file, text);
  return file;
}

const base = (dir: string) => `pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: probes\nstate_dir: ${JSON.stringify(dir)}\nlisten: { metrics: "127.0.0.1:0" }\n`;

function expectRefused(r: CliRun, ...lines: RegExp[]): void {
  process.stderr.write(`hostile-input: exit ${r.code} in ${Math.round(r.ms)} ms wall, ${r.cpuMs} ms CPU, ${r.peakRssMb.toFixed(0)} MB peak\n`);
  expect(r.code, r.stderr).toBe(2);
  for (const line of lines) expect(r.stderr).toMatch(line);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.cpuMs, `wall ${Math.round(r.ms)} ms`).toBeLessThan(BOUNDS.cpuMs);
  expect(r.peakRssMb).toBeLessThan(BOUNDS.rssMb);
}

// Wall time: only a backstop against a hang (runCli kills at 45 s); tsx start-up took > 20 s at load 11.
describe('hostile config input (issues 21.5, 21.7)', { timeout: 60_000 }, () => {
  it('config check and the agent refuse a /dev/zero and a FIFO secret, state_dir /dev/null and a missing probes_dir, all at once', { timeout: 120_000 }, async () => {
    const dir = workdir();
    execFileSync('mkfifo', [join(dir, 'pw.fifo')]);
    const file = config(
      dir,
      [
        'pbx: { uri: "sip:127.0.0.1" }',
        'probes_dir: nowhere',
        'state_dir: /dev/null',
        'listen: { metrics: "127.0.0.1:0" }',
        'accounts:',
        '  "1001": { password: "file:/dev/zero" }',
        `  "1002": { password: "file:${join(dir, 'pw.fifo')}" }`,
        '',
      ].join('\n'),
    );
    const expected = [
      /accounts\.1001\.password: file \/dev\/zero is a character device, not a regular file \(line 6\)/,
      /accounts\.1002\.password: file .*pw\.fifo is a FIFO, not a regular file \(line 7\)/,
    ];
    expectRefused(await runCli(['config', 'check', file]), ...expected);
    expectRefused(await runCli(['agent', '--config', file]), /invalid configuration/, ...expected);
    // With the secrets fixed, the agent's own needs are reported by both, with exit 2.
    writeFileSync(file, `pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: nowhere\nstate_dir: /dev/null\nlisten: { metrics: "127.0.0.1:0" }\n`);
    const agentNeeds = [/state_dir: \/dev\/null is not a directory/, /probes_dir: .*\/nowhere does not exist/];
    expectRefused(await runCli(['config', 'check', file]), ...agentNeeds);
    expectRefused(await runCli(['agent', '--config', file]), ...agentNeeds);
  });

  it('refuses a 50 MB config file before parsing it', async () => {
    const dir = workdir();
    const file = config(dir, `${base(dir)}${'# padding padding padding padding padding padding\n'.repeat(1_000_000)}`);
    expectRefused(await runCli(['config', 'check', file]), /callprobe\.yaml: \(root\): .*callprobe\.yaml is larger than 4 MiB \(\d+ bytes\)/);
    expect(configIssuesOf(() => loadAgentState({ configFile: file, env: {} }))[0]).toMatch(/is larger than 4 MiB/);
  });

  it('a YAML alias bomb is a config error (exit 2), not an internal error (3)', async () => {
    const dir = workdir();
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    let prev = 'a';
    for (const name of 'bcdefghi') {
      lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
      prev = name;
    }
    const file = config(dir, `${base(dir)}${lines.join('\n')}\n`);
    expectRefused(await runCli(['config', 'check', file]), /\(root\): YAML: Excessive alias count/);
    expect(configIssuesOf(() => loadAgentState({ configFile: file, env: {} }))).toEqual([expect.stringMatching(/\(root\): YAML: Excessive alias count/)]);
  });

  it('refuses a secret over 64 KiB and a config path that is a FIFO; reads a 64 KiB secret', () => {
    const dir = workdir();
    writeFileSync(join(dir, 'big'), 'x'.repeat(64 * 1024 + 1));
    writeFileSync(join(dir, 'ok'), 'y'.repeat(64 * 1024));
    const file = config(dir, `${base(dir)}accounts: { "1001": { password: "file:big" }, "1002": { password: "file:ok" } }\n`);
    expect(checkConfig({ file, env: {} }).errors).toEqual([
      { file, path: 'accounts.1001.password', message: `file ${join(dir, 'big')} is larger than 64 KiB (65537 bytes)`, line: 5 },
    ]);
    execFileSync('mkfifo', [join(dir, 'cp.yaml')]);
    expect(configIssuesOf(() => loadAgentState({ configFile: join(dir, 'cp.yaml'), env: {} }))).toEqual([`(root): ${join(dir, 'cp.yaml')} is a FIFO, not a regular file`]);
  });

  it('state_dir under a file and probes_dir without probe files are refused; --probes stands in for probes_dir', () => {
    const dir = workdir();
    const file = config(dir, `pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: empty\nstate_dir: ${join(dir, 'probes', 'p.yaml', 'state')}\n`);
    mkdirSync(join(dir, 'empty'));
    expect(checkConfig({ file, env: {} }).errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      `state_dir: ${join(dir, 'probes', 'p.yaml', 'state')} cannot be created: ${join(dir, 'probes', 'p.yaml')} is not a directory`,
      `probes_dir: no probe files (*.yaml other than smoke*.yaml) in ${join(dir, 'empty')}`,
    ]);
    writeFileSync(file, `pbx: { uri: "sip:127.0.0.1" }\nprobes_dir: nowhere\nstate_dir: ${join(dir, 'new', 'state')}\n`);
    expect(checkConfig({ file, env: {}, probeFiles: [join(dir, 'probes', 'p.yaml')] })).toMatchObject({ ok: true, probes: 1 });
    expect(loadAgentState({ configFile: file, env: {}, probeFiles: [join(dir, 'probes', 'p.yaml')] }).probes).toHaveLength(1);
  });
});
