// Issue 15, item 1: the shipped agent (config file + `src/cli/main.ts agent`)
// with `fraud.fail2ban_log` set writes every detection to that file. The attack
// is real: SIPVicious svcrack (small range, never -R/-A) against the lab
// Kamailio, whose siptrace mirrors SIP over HEP to the agent's listener. Then
// Debian's `fail2ban-regex` with the shipped filter (systemd/fail2ban/filter.d)
// must report the attacker's address. A logrotate-style rename (the agent
// notices the new inode) and a rename + SIGHUP each start a new file; the
// brute-force window is 4 s here so the same attacker fires again after it
// (svcrack binds 0.0.0.0 whatever -b says: no other loopback source address).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB, resetAuthFailures, spawnTracked } from '../lab/lab.js';
import { until, type CliAgent } from './helpers/agent.js';
import { startHepAgent } from './helpers/hep-agent.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const FILTER = join(ROOT, 'systemd/fail2ban/filter.d/callprobe.conf');
const WINDOW_S = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/**
 * svcrack: 12 wrong passwords for 1001 from 127.0.0.1:5096, until `done` holds
 * (svcrack itself lingers ~10 s for late answers after its last guess).
 */
async function svcrack(what: string, done: () => boolean): Promise<void> {
  const ip = LAB.host;
  const p = spawnTracked('svcrack', ['-b', ip, '-x', ip, '-P', '5096', '-p', String(LAB.ports.udp), '-u', '1001', '-r', '1-12', LAB.host]);
  try {
    await until(what, () => done() || undefined, 8000);
  } finally {
    await p.stop();
  }
}

/** The addresses `fail2ban-regex -o ip` matches in a log with the shipped filter. */
async function fail2banRegex(log: string): Promise<string[]> {
  const { stdout } = await execFileP('fail2ban-regex', ['-o', 'ip', log, FILTER], { timeout: 30_000 });
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

const brute = (file: string) => (existsSync(file) ? [...readFileSync(file, 'utf8').matchAll(/rule=brute_force src=(\S+)/g)].map((m) => m[1]) : []);

describe('agent → fraud.fail2ban_log → fail2ban-regex', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-f2blog-'));
  const log = join(dir, 'log', 'fraud.log');
  let agent: CliAgent | undefined;

  beforeAll(async () => {
    await resetAuthFailures();
    agent = await startHepAgent(dir, { fraud: { fail2ban_log: 'log/fraud.log', auth_fail_window: `${WINDOW_S}s` } });
  });

  afterAll(async () => {
    await agent?.proc.stop();
    await resetAuthFailures();
    rmSync(dir, { recursive: true, force: true });
  });

  it('svcrack over HEP → brute_force line; fail2ban-regex finds the attacker; rotation by rename and by SIGHUP', async () => {
    await svcrack('the brute_force line', () => brute(log).length > 0);
    expect(brute(log)).toEqual(['127.0.0.1']);
    // brute_force and scanner_ua (friendly-scanner) both name the attacker
    expect(await fail2banRegex(log)).toEqual(['127.0.0.1', '127.0.0.1']);

    // logrotate: rename, no signal, no `create`
    renameSync(log, `${log}.1`);
    await sleep(WINDOW_S * 1000 + 200);
    await svcrack('a brute_force line in the new file', () => brute(log).length > 0);
    expect(brute(log)).toEqual(['127.0.0.1']);
    expect(brute(`${log}.1`)).toEqual(['127.0.0.1']);
    expect(await fail2banRegex(log)).toEqual(['127.0.0.1']);

    // rename + SIGHUP (the logrotate snippet's postrotate): the handle is let go at once
    renameSync(log, `${log}.2`);
    process.kill(agent?.proc.pid ?? 0, 'SIGHUP');
    await sleep(WINDOW_S * 1000 + 200);
    expect(existsSync(log)).toBe(false);
    await svcrack('a brute_force line in the third file', () => brute(log).length > 0);
    expect([brute(`${log}.1`), brute(`${log}.2`), brute(log)]).toEqual([['127.0.0.1'], ['127.0.0.1'], ['127.0.0.1']]);
    expect(await fail2banRegex(log)).toEqual(['127.0.0.1']);

    const metrics = (await agent?.get('/metrics'))?.body ?? '';
    expect(metrics).toMatch(/^callprobe_fraud_events_total\{rule="brute_force"\} 3$/m);
    expect(metrics).toMatch(/^callprobe_fraud_log_errors_total 0$/m);
  });
});
