// Shared by test/integration/impairment-*.test.ts: run `probe` and GStreamer
// inside the namespaces of test/lab/netns.ts, bounded in time, and stop
// everything started (by PID) before the namespaces are deleted.
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { spawnTracked, type TrackedProcess } from '../../lab/lab.js';
import { createTopology, deleteStaleTopologies, deleteTopology, inNs, type Topology } from '../../lab/netns.js';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

/** `probe <args>` as run from the repo root (main.ts; `answer` through its scratch entry until main.ts wires it). */
export function probeCommand(args: readonly string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args]];
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every process a test file started in its namespaces; `stopAll()` in afterAll / finally. */
export class NsProcesses {
  private readonly procs = new Set<TrackedProcess>();

  start(ns: string, cmd: string, args: readonly string[]): TrackedProcess {
    const [c, a] = inNs(ns, cmd, args);
    const p = spawnTracked(c, a, { cwd: ROOT });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  startProbe(ns: string, args: readonly string[]): TrackedProcess {
    const [c, a] = probeCommand(args);
    return this.start(ns, c, a);
  }

  /** Waits for the process to exit; after `timeoutMs` it is stopped and the test fails with its output. */
  async finish(p: TrackedProcess, what: string, timeoutMs: number): Promise<Finished> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([p.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      await p.stop(2000);
      throw new Error(`${what} did not finish within ${timeoutMs} ms\nstdout: ${p.stdout().slice(-2000)}\nstderr: ${p.stderr().slice(-2000)}`);
    }
    return { ...r, stdout: p.stdout(), stderr: p.stderr() };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(2000)));
    this.procs.clear();
  }
}

/**
 * Registers the file's beforeAll (stale namespaces of crashed runs deleted, then
 * A --- R --- B created) and afterAll (`procs` stopped, by PID, before the
 * namespaces go) and returns the topology. It exists only between those hooks:
 * read it inside tests and hooks; a read outside throws instead of giving undefined.
 */
export function useTopology(procs?: NsProcesses): Topology {
  let current: Topology | undefined;
  beforeAll(async () => {
    await deleteStaleTopologies();
    current = await createTopology();
  });
  afterAll(async () => {
    await procs?.stopAll();
    if (current) await deleteTopology(current);
    current = undefined;
  });
  const live = (key: PropertyKey): Topology => {
    if (!current) throw new Error(`useTopology(): topology.${String(key)} read outside beforeAll..afterAll`);
    return current;
  };
  return new Proxy({} as Topology, {
    get: (_t, key) => live(key)[key as keyof Topology],
    has: (_t, key) => key in live(key),
    ownKeys: () => Reflect.ownKeys(live('keys')),
    getOwnPropertyDescriptor: (_t, key) => {
      const t = live(key);
      return key in t ? { value: t[key as keyof Topology], enumerable: true, configurable: true, writable: false } : undefined;
    },
  });
}

export function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what} printed no JSON:\n${text.slice(0, 2000)}`);
  }
}

export interface GstSenderOptions {
  host: string;
  port: number;
  bindAddress: string;
  bindPort: number;
  packets: number;
  ssrc?: number;
  /** first RTP sequence number (default 0, so the test knows which ones were sent) */
  seqnumOffset?: number;
  /** GStreamer netsim uniform delay [min, max] ms on every packet (lab-facts §4) */
  delayMs?: [number, number];
}

/**
 * gst-launch-1.0 arguments: a live 8 kHz tone, 160 samples (20 ms) per buffer,
 * A-law, one RTP packet per buffer. `udpsink sync=false`: the live source paces
 * the stream, and with netsim a syncing sink would re-time the delayed packets
 * (lab-facts §4: the spread shrank to ~11 ms with sync=true).
 */
export function gstSenderArgs(o: GstSenderOptions): string[] {
  return [
    '-q',
    'audiotestsrc',
    'is-live=true',
    `num-buffers=${o.packets}`,
    'samplesperbuffer=160',
    'wave=sine',
    '!',
    'audio/x-raw,format=S16LE,rate=8000,channels=1',
    '!',
    'alawenc',
    '!',
    'rtppcmapay',
    `ssrc=${o.ssrc ?? 0x4c414231}`,
    `seqnum-offset=${o.seqnumOffset ?? 0}`,
    'min-ptime=20000000',
    'max-ptime=20000000',
    '!',
    ...(o.delayMs
      ? ['netsim', 'delay-probability=1.0', `min-delay=${o.delayMs[0]}`, `max-delay=${o.delayMs[1]}`, 'delay-distribution=uniform', '!']
      : []),
    'udpsink',
    `host=${o.host}`,
    `port=${o.port}`,
    `bind-address=${o.bindAddress}`,
    `bind-port=${o.bindPort}`,
    'sync=false',
  ];
}

/** RTP sequence numbers in capture order (tshark fields), for the stream to `port`. */
export async function rtpSeqs(pcap: string, port: number): Promise<number[]> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { stdout } = await promisify(execFile)(
    'tshark',
    ['-r', pcap, '-n', '-d', `udp.port==${port},rtp`, '-Y', `rtp && udp.dstport==${port}`, '-T', 'fields', '-e', 'rtp.seq'],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}
