// Issue 15, item 2: a real ban, end to end, with Debian's fail2ban.
//
//   namespace cpF-<pid>  198.18.7.2 (svcrack) ──veth── 198.18.7.1 root ns
//        DNAT udp 198.18.7.1:5060 → 127.0.0.1:5060 (the lab Kamailio; route_localnet on the veth)
//   Kamailio ──HEP (siptrace)──► `probe agent` (config file, fraud.fail2ban_log)
//        ──fraud.log──► fail2ban-server (own socket, pid file, config dir: the shipped
//        filter and jail, a .local that points the jail at this log and bans into
//        the test's chain cpf2b-<pid> only, hooked into INPUT for the veth alone)
//
// scanner_ua is switched off in the agent here (svcrack has no User-Agent option), so the
// only verdict is brute_force at the 10th failure. After the ban, svcrack's next REGISTER
// is dropped by the chain (its counter) and Kamailio logs nothing more from 198.18.7.2.
// Bounded: svcrack -r 1-12 then one more guess, never -R/-A; every process is stopped by
// PID, the rules, chain and namespace are deleted.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kamailioLog, LAB, resetAuthFailures, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import { inNs, nsExec } from '../lab/netns.js';
import { until } from './helpers/agent.js';
import { startHepAgent } from './helpers/hep-agent.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const TAG = String(process.pid);
const NS = `cpF-${TAG}`;
const VETH_HOST = `cpfh${TAG}`.slice(0, 15);
const VETH_NS = `cpfn${TAG}`.slice(0, 15);
const CHAIN = `cpf2b-${TAG}`;
const HOST_IP = '198.18.7.1';
const ATTACKER = '198.18.7.2';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { timeout: 15_000 });
  return stdout;
}
const quiet = (p: Promise<unknown>) => p.catch(() => undefined);


const DNAT = ['-t', 'nat', 'PREROUTING', '-i', VETH_HOST, '-p', 'udp', '-d', HOST_IP, '--dport', '5060', '-j', 'DNAT', '--to-destination', `${LAB.host}:${LAB.ports.udp}`];
const HOOK = ['INPUT', '-i', VETH_HOST, '-j', CHAIN];
const rule = (op: '-A' | '-D', r: string[]) => (r[0] === '-t' ? [r[0], r[1] ?? '', op, ...r.slice(2)] : [op, ...r]);

async function setUpNetwork(): Promise<void> {
  await sh('ip', 'netns', 'add', NS);
  await sh('ip', 'link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS, 'netns', NS);
  await sh('ip', 'addr', 'add', `${HOST_IP}/30`, 'dev', VETH_HOST);
  await sh('ip', 'link', 'set', VETH_HOST, 'up');
  await nsExec(NS, 'ip', ['addr', 'add', `${ATTACKER}/30`, 'dev', VETH_NS]);
  await nsExec(NS, 'ip', ['link', 'set', VETH_NS, 'up']);
  await nsExec(NS, 'ip', ['link', 'set', 'lo', 'up']);
  // Kamailio listens on 127.0.0.1 only: DNAT to it, which needs route_localnet on this veth alone
  writeFileSync(`/proc/sys/net/ipv4/conf/${VETH_HOST}/route_localnet`, '1');
  await sh('iptables', '-w', ...rule('-A', DNAT));
  await sh('iptables', '-w', '-N', CHAIN);
  await sh('iptables', '-w', ...rule('-A', HOOK));
}

async function tearDownNetwork(): Promise<void> {
  await quiet(sh('iptables', '-w', ...rule('-D', HOOK)));
  await quiet(sh('iptables', '-w', '-F', CHAIN));
  await quiet(sh('iptables', '-w', '-X', CHAIN));
  await quiet(sh('iptables', '-w', ...rule('-D', DNAT)));
  await quiet(sh('ip', 'netns', 'del', NS)); // takes the veth pair with it
}

/** Packets the ban rule for `ip` dropped, or null while there is no such rule. */
async function banned(ip: string): Promise<number | null> {
  const out = await sh('iptables', '-w', '-L', CHAIN, '-n', '-v', '-x');
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    // pkts bytes target prot opt in out source destination
    if (f[2] === 'DROP' && f[7] === ip) return Number(f[0]);
  }
  return null;
}

/** A private fail2ban: the Debian defaults, the shipped filter + jail, a .local for this test only. */
function fail2banConfig(dir: string, log: string): string {
  const conf = join(dir, 'fail2ban');
  for (const f of ['fail2ban.conf', 'jail.conf', 'paths-common.conf', 'paths-debian.conf', 'action.d']) cpSync(join('/etc/fail2ban', f), join(conf, f), { recursive: true });
  mkdirSync(join(conf, 'filter.d'), { recursive: true });
  mkdirSync(join(conf, 'jail.d'), { recursive: true });
  cpSync(join(ROOT, 'systemd/fail2ban/filter.d/callprobe.conf'), join(conf, 'filter.d/callprobe.conf'));
  cpSync(join(ROOT, 'systemd/fail2ban/jail.d/callprobe.conf'), join(conf, 'jail.d/callprobe.conf'));
  writeFileSync(join(conf, 'fail2ban.local'), `[DEFAULT]\ndbfile = :memory:\nlogtarget = ${join(dir, 'fail2ban.log')}\n`);
  // the ban touches this test's chain and nothing else (no actionstart/stop on INPUT)
  writeFileSync(
    join(conf, 'action.d/callprobe-test.conf'),
    '[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban = iptables -w -I <testchain> 1 -s <ip> -j DROP\nactionunban = iptables -w -D <testchain> -s <ip> -j DROP\n\n[Init]\ntestchain =\n',
  );
  writeFileSync(join(conf, 'jail.d/callprobe.local'), `[callprobe]\nlogpath = ${log}\naction = callprobe-test[testchain="${CHAIN}"]\n`);
  return conf;
}

describe('svcrack from a namespace → HEP → agent → fraud.log → fail2ban bans it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-f2b-ban-'));
  const log = join(dir, 'fraud.log');
  const started: TrackedProcess[] = [];

  beforeAll(async () => {
    await setUpNetwork();
    // fail2ban refuses a jail whose log does not exist yet; the agent appends to it
    writeFileSync(log, '');
    const conf = fail2banConfig(dir, log);
    const f2b = spawnTracked('fail2ban-server', ['-f', '-x', '-c', conf, '-s', join(dir, 'f2b.sock'), '-p', join(dir, 'f2b.pid'), '--loglevel', 'INFO'], { name: `fail2ban-${TAG}` });
    started.push(f2b);
    const agent = await startHepAgent(dir, { fraud: { fail2ban_log: log, scanner_user_agents: ['no-such-scanner-ua'] } });
    started.push(agent.proc);
    await until(
      'the fail2ban jail "callprobe" to run',
      async () => /Currently banned/.test(await sh('fail2ban-client', '-s', join(dir, 'f2b.sock'), 'status', 'callprobe').catch(() => '')) || undefined,
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${f2b.stderr()} ${existsSync(join(dir, 'fail2ban.log')) ? readFileSync(join(dir, 'fail2ban.log'), 'utf8').slice(-2000) : ''}`);
    });
    await resetAuthFailures();
  });

  afterAll(async () => {
    await quiet(sh('fail2ban-client', '-s', join(dir, 'f2b.sock'), 'stop'));
    for (const p of started.reverse()) await p.stop();
    await tearDownNetwork();
    await resetAuthFailures();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the 10th failure gets 198.18.7.2 banned; its next REGISTER is dropped before Kamailio', async () => {
    const from = kamailioLog().length;
    const fromAttacker = (tag: string) => (kamailioLog().slice(from).match(new RegExp(`${tag} .*src=${ATTACKER.replace(/\./g, '\\.')}:`, 'g')) ?? []).length;
    const [cmd, args] = inNs(NS, 'svcrack', ['-x', ATTACKER, '-P', '5096', '-p', '5060', '-u', '1001', '-r', '1-12', HOST_IP]);
    const crack = spawnTracked(cmd, args, { name: `svcrack-${TAG}` });
    started.push(crack);
    try {
      await until('the ban rule for 198.18.7.2 in the test chain', async () => (await banned(ATTACKER)) ?? undefined, 20_000);
    } finally {
      await crack.stop();
    }
    const line = readFileSync(log, 'utf8');
    expect(line).toMatch(new RegExp(`FRAUD rule=brute_force src=${ATTACKER} user=1001 count=10 `));
    expect(line).not.toMatch(/rule=scanner_ua/);
    const failsBeforeBan = fromAttacker('LAB-AUTH-FAIL');
    expect(failsBeforeBan).toBeGreaterThanOrEqual(10);
    const scannerLines = fromAttacker('LAB-SCANNER');
    const droppedBefore = (await banned(ATTACKER)) ?? 0;

    // the attacker's next try: one more guess
    const [cmd2, args2] = inNs(NS, 'svcrack', ['-x', ATTACKER, '-P', '5096', '-p', '5060', '-u', '1001', '-r', '13', '--maximumtime', '2', HOST_IP]);
    const again = spawnTracked(cmd2, args2, { name: `svcrack2-${TAG}` });
    started.push(again);
    const timer = setTimeout(() => void again.stop(), 15_000);
    await again.exited;
    clearTimeout(timer);
    await sleep(500);
    const dropped = ((await banned(ATTACKER)) ?? 0) - droppedBefore;
    expect(dropped).toBeGreaterThanOrEqual(1);
    expect(fromAttacker('LAB-SCANNER')).toBe(scannerLines);
    expect(fromAttacker('LAB-AUTH-FAIL')).toBe(failsBeforeBan);
    const status = await sh('fail2ban-client', '-s', join(dir, 'f2b.sock'), 'status', 'callprobe');
    expect(status).toMatch(new RegExp(`Banned IP list:\\s*${ATTACKER.replace(/\./g, '\\.')}`));
    console.log(`fail2ban: banned ${ATTACKER} after ${failsBeforeBan} auth failures; the next try: ${dropped} packets dropped by ${CHAIN}, 0 reached Kamailio`);
  });
});
