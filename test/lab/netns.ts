/**
 * A three-namespace topology for impairment tests (lab-facts §4):
 *
 *   A 198.18.0.1 --veth-- 198.18.0.2 R 198.18.0.5 --veth-- 198.18.0.6 B
 *
 * R forwards between A and B. Loss is an iptables `statistic` DROP rule in R's
 * FORWARD chain (this kernel has no netem; a rule in A's OUTPUT chain would
 * make the sender's sendto() fail with EPERM instead of losing the packet on
 * the wire). The rule's packet counter is the exact number of packets lost.
 *
 * Namespaces are named cpA-<tag>, cpR-<tag>, cpB-<tag> (tag: the test process
 * pid by default), only 198.18.0.0/15 addresses are used and nothing is routed
 * out of the three namespaces. `deleteTopology()` removes them (the veths go
 * with them); stop every process started inside first, or the namespace lives
 * on until those processes exit.
 *
 * Needs root, iproute2 and iptables (nf_tables backend).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { spawnTracked, type TrackedProcess } from './lab.js';

const execFileP = promisify(execFile);

export const NETNS_ADDR = {
  a: '198.18.0.1',
  rA: '198.18.0.2',
  rB: '198.18.0.5',
  b: '198.18.0.6',
} as const;

export interface Topology {
  /** namespace names */
  a: string;
  r: string;
  b: string;
  /** interface names inside the namespaces: A's and B's veth ends */
  ifA: string;
  ifB: string;
  addr: typeof NETNS_ADDR;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileP(cmd, [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return { stdout, stderr };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`netns: ${cmd} ${args.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** `ip netns exec <ns> <cmd> <args>` as [command, args] for spawn/execFile (ip execs the command: same pid). */
export function inNs(ns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

/** Runs a short command inside a namespace and returns its output (throws with stderr on failure). */
export function nsExec(ns: string, cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<ExecResult> {
  const [c, a] = inNs(ns, cmd, args);
  return run(c, a, timeoutMs);
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

function pidAlive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

/**
 * Deletes cpA/cpR/cpB-<pid> namespaces left by an earlier run whose process is
 * gone (a crashed test). Only this module's naming pattern is touched.
 */
export async function deleteStaleTopologies(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((n) => {
    const m = /^cp[ARB]-(\d+)$/.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  for (const n of stale) await run('ip', ['netns', 'del', n]).catch(() => undefined);
  return stale;
}

/** Creates A, R, B with addresses, routes and forwarding in R. On failure, deletes what it created. */
export async function createTopology(tag: string = String(process.pid)): Promise<Topology> {
  const t: Topology = { a: `cpA-${tag}`, r: `cpR-${tag}`, b: `cpB-${tag}`, ifA: 'vA', ifB: 'vB', addr: NETNS_ADDR };
  try {
    for (const ns of [t.a, t.r, t.b]) await run('ip', ['netns', 'add', ns]);
    // veth pairs created directly inside the namespaces: no name can clash in the root namespace
    await run('ip', ['link', 'add', t.ifA, 'netns', t.a, 'type', 'veth', 'peer', 'name', 'vRA', 'netns', t.r]);
    await run('ip', ['link', 'add', t.ifB, 'netns', t.b, 'type', 'veth', 'peer', 'name', 'vRB', 'netns', t.r]);
    const ip = (ns: string, ...args: string[]): Promise<ExecResult> => nsExec(ns, 'ip', args);
    await ip(t.a, 'addr', 'add', `${t.addr.a}/30`, 'dev', t.ifA);
    await ip(t.r, 'addr', 'add', `${t.addr.rA}/30`, 'dev', 'vRA');
    await ip(t.r, 'addr', 'add', `${t.addr.rB}/30`, 'dev', 'vRB');
    await ip(t.b, 'addr', 'add', `${t.addr.b}/30`, 'dev', t.ifB);
    for (const [ns, dev] of [
      [t.a, t.ifA],
      [t.r, 'vRA'],
      [t.r, 'vRB'],
      [t.b, t.ifB],
      [t.a, 'lo'],
      [t.r, 'lo'],
      [t.b, 'lo'],
    ] as const) {
      await ip(ns, 'link', 'set', dev, 'up');
    }
    // only the other side's /30 is routed: nothing else is reachable from A or B
    await ip(t.a, 'route', 'add', '198.18.0.4/30', 'via', t.addr.rA);
    await ip(t.b, 'route', 'add', '198.18.0.0/30', 'via', t.addr.rB);
    await nsExec(t.r, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    return t;
  } catch (err) {
    await deleteTopology(t);
    throw err;
  }
}

/** Deletes the three namespaces (idempotent; missing ones are ignored). */
export async function deleteTopology(t: Pick<Topology, 'a' | 'r' | 'b'>): Promise<void> {
  const existing = new Set(await listNamespaces());
  for (const ns of [t.a, t.r, t.b]) {
    if (existing.has(ns)) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

export interface DropMatch {
  src?: string;
  dst?: string;
  /** UDP source port range [min, max] */
  sport?: [number, number];
  /** UDP destination port, or the first of a range */
  dportMin: number;
  dportMax?: number;
  /** match only even destination ports (RTP; the odd RTCP port of each pair is not dropped) */
  evenPortsOnly?: boolean;
}

export interface IptablesRule {
  /** the namespace; undefined = the root namespace */
  ns: string | undefined;
  chain: 'FORWARD' | 'OUTPUT';
  comment: string;
  /** the iptables arguments after `-A <chain>` / `-D <chain>` */
  spec: string[];
}

function iptables(ns: string | undefined, args: string[]): Promise<ExecResult> {
  return ns === undefined ? run('iptables', ['-w', ...args]) : nsExec(ns, 'iptables', ['-w', ...args]);
}

let ruleSerial = 0;

function matchSpec(match: DropMatch): string[] {
  const ports = match.dportMax !== undefined ? `${match.dportMin}:${match.dportMax}` : String(match.dportMin);
  return [
    ...(match.src ? ['-s', match.src] : []),
    ...(match.dst ? ['-d', match.dst] : []),
    '-p',
    'udp',
    ...(match.sport ? ['--sport', `${match.sport[0]}:${match.sport[1]}`] : []),
    '--dport',
    ports,
    // u32: the 32-bit word at the start of the UDP header is sport<<16 | dport; low bit 0 = even dport
    ...(match.evenPortsOnly ? ['-m', 'u32', '--u32', '0>>22&0x3C@0&0x1=0'] : []),
  ];
}

/** Appends `<matches> -m comment --comment <unique> [<target>]` to a chain (R's FORWARD by default). */
async function appendRule(at: Pick<IptablesRule, 'ns' | 'chain'>, matches: string[], target: string[]): Promise<IptablesRule> {
  const comment = `callprobe-${process.pid}-${++ruleSerial}`;
  const spec = [...matches, '-m', 'comment', '--comment', comment, ...target];
  await iptables(at.ns, ['-A', at.chain, ...spec]);
  return { ...at, comment, spec };
}

function randomDrop(match: DropMatch, probability: number): string[] {
  if (!(probability > 0 && probability < 1)) throw new Error(`netns: drop probability ${probability} is not in (0, 1)`);
  return [...matchSpec(match), '-m', 'statistic', '--mode', 'random', '--probability', String(probability)];
}

/** Adds `-m statistic --mode random --probability p -j DROP` for matching UDP to R's FORWARD chain. */
export function addDropRule(t: Topology, match: DropMatch, probability: number): Promise<IptablesRule> {
  return appendRule({ ns: t.r, chain: 'FORWARD' }, randomDrop(match, probability), ['-j', 'DROP']);
}

/**
 * The same random DROP for loopback UDP in the ROOT namespace's OUTPUT chain
 * (`-o lo`): the packet is gone before dumpcap on lo could see it, so a capture
 * on lo and the receiver agree; the sender's sendto() fails with EPERM. Match
 * narrowly (ports of one test) and remove it in a finally/afterAll.
 */
export function addLoopbackDropRule(match: DropMatch, probability: number): Promise<IptablesRule> {
  return appendRule({ ns: undefined, chain: 'OUTPUT' }, ['-o', 'lo', ...randomDrop(match, probability)], ['-j', 'DROP']);
}

/**
 * Adds a rule without a target: it only counts matching packets, which then go
 * on to the next rule. Added BEFORE the drop rule, its counter is every packet
 * that reached R, i.e. what was sent on the wire.
 */
export function addCountRule(t: Topology, match: DropMatch): Promise<IptablesRule> {
  return appendRule({ ns: t.r, chain: 'FORWARD' }, matchSpec(match), []);
}

/** Packets the rule matched so far (its iptables packet counter, exact). */
export async function rulePackets(rule: IptablesRule): Promise<number> {
  const { stdout } = await iptables(rule.ns, ['-L', rule.chain, '-v', '-x', '-n']);
  const line = stdout.split('\n').find((l) => l.includes(`/* ${rule.comment} */`));
  if (!line) throw new Error(`netns: rule ${rule.comment} not found in ${rule.ns ?? 'the root namespace'} ${rule.chain}:\n${stdout}`);
  const pkts = Number(line.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pkts)) throw new Error(`netns: cannot read the packet counter from "${line}"`);
  return pkts;
}

export async function removeRule(rule: IptablesRule): Promise<void> {
  await iptables(rule.ns, ['-D', rule.chain, ...rule.spec]);
}

/** True once something in the namespace has bound this UDP port (reads the namespace's /proc/net/udp). */
export async function udpPortBound(ns: string, port: number): Promise<boolean> {
  const { stdout } = await nsExec(ns, 'cat', ['/proc/net/udp']);
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return stdout.split('\n').slice(1).some((l) => (l.trim().split(/\s+/)[1] ?? '').endsWith(hex));
}

export async function waitUdpBound(ns: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await udpPortBound(ns, port))) {
    if (Date.now() > deadline) throw new Error(`netns: nothing bound udp ${port} in ${ns} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface NsCapture {
  file: string;
  proc: TrackedProcess;
  /** waits a moment for the last packets, stops tshark (SIGINT flushes the file), resolves with the pcap path */
  stop(): Promise<string>;
}

/** tshark on `iface` inside `ns`, writing `file`; resolves once tshark is capturing. */
export async function nsCapture(ns: string, iface: string, file: string, filter?: string): Promise<NsCapture> {
  const [cmd, args] = inNs(ns, 'tshark', ['-i', iface, '-n', '-q', '-w', file, ...(filter ? ['-f', filter] : [])]);
  const proc = spawnTracked(cmd, args, { name: `tshark-${ns}-${Date.now()}` });
  const deadline = Date.now() + 15_000;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  while (!/Capturing on/.test(proc.stderr())) {
    if (exited || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`netns: tshark in ${ns} did not start capturing: ${proc.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<string> | undefined;
  return {
    file,
    proc,
    stop() {
      stopped ??= (async () => {
        await new Promise((r) => setTimeout(r, 300));
        await proc.stop(5000);
        return file;
      })();
      return stopped;
    },
  };
}
