/**
 * SIPp 3.6.1 as the RTP load reference (/work/shared/lab-facts.md): N calls
 * from a SIPp UAC streaming PCMA with rtp_stream to a SIPp UAS that echoes
 * with -rtp_echo, straight on 127.0.0.1 (no PBX). CPU is utime + stime of
 * both processes from /proc/PID/stat over a window with every call up.
 * Both processes are stopped by PID afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { speechLikeSignal } from '../src/rtp/audio.js';
import { encodeG711 } from '../src/rtp/g711.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UAS_SIP = 5190;
const UAC_SIP = 5191;
const UAS_MEDIA = 18800;
const UAC_MEDIA = 18900;
const CALL_RATE = 200; // calls per second while ramping up

export interface SippRun {
  calls: number;
  window_s: number;
  /** Sender (rtp_stream) and echo (-rtp_echo) CPU per stream-second, ms. */
  uac_cpu_ms_per_stream_second: number;
  uas_echo_cpu_ms_per_stream_second: number;
  total_cpu_ms_per_stream_second: number;
  rss_mb: { uac: number; uas: number };
  /**
   * What SIPp did NOT do, from the kernel's per-socket drop counters
   * (/proc/net/udp, the sockets of each SIPp process) over the window: the
   * echo side's drops are packets it never read (so never echoed); the UAC's
   * are the echoes it never reads at all (its rtp_stream does not receive).
   */
  kernel_drops: { uas_echo: number; uac: number };
  /** calls × 50 × window: the packets the UAC should have sent in the window. */
  expected_packets_per_direction: number;
  /** 1 − uas_echo drops ÷ expected: the share of its input the echo side read and resent. */
  echo_read_fraction: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function haveSipp(): boolean {
  return spawnSync('sipp', ['-v'], { stdio: 'ignore' }).error === undefined;
}

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout.trim()) || 100;
}

/** utime + stime in seconds. */
function cpuSeconds(pid: number, ticks: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // after "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) → index 11, 12 here
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
}

/** Summed kernel drop counters of the UDP sockets `pid` holds (/proc/net/udp and udp6). */
export function udpSocketDrops(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  let drops = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      if (f.length >= 13 && inodes.has(f[9] ?? '')) drops += Number(f[12]) || 0;
    }
  }
  return drops;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

export async function runSippReference(calls: number, windowMs: number, warmupMs = 2000): Promise<SippRun | { skipped: string }> {
  if (!haveSipp()) return { skipped: 'sipp not installed (apt-get install sip-tester)' };
  const dir = mkdtempSync(path.join(tmpdir(), 'callprobe-bench-sipp-'));
  writeFileSync(path.join(dir, 'bench_audio.alaw'), encodeG711('PCMA', speechLikeSignal(4).samples));
  const rampMs = (calls / CALL_RATE) * 1000;
  const callMs = rampMs + warmupMs + windowMs + 2000;
  const common = ['-i', '127.0.0.1', '-mi', '127.0.0.1', '-nostdin', '-max_socket', '4096'];
  const uas = spawn('sipp', ['-sf', path.join(HERE, 'sipp', 'uas_echo.xml'), '-p', String(UAS_SIP), '-mp', String(UAS_MEDIA), '-rtp_echo', '-cp', '8950', ...common], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  uas.stderr?.setEncoding('utf8').on('data', (d: string) => (errors = (errors + d).slice(-300)));
  await sleep(500);
  const uac = spawn(
    'sipp',
    [
      `127.0.0.1:${UAS_SIP}`, '-sf', path.join(HERE, 'sipp', 'uac_rtp.xml'), '-p', String(UAC_SIP), '-mp', String(UAC_MEDIA),
      '-m', String(calls), '-l', String(calls), '-r', String(CALL_RATE), '-d', String(Math.round(callMs)), '-cp', '8951', ...common,
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  uac.stderr?.setEncoding('utf8').on('data', (d: string) => (errors = (errors + d).slice(-300)));
  try {
    await sleep(rampMs + warmupMs);
    if (uac.pid === undefined || uas.pid === undefined || uac.exitCode !== null || uas.exitCode !== null) {
      return { skipped: `sipp exited early (uac ${String(uac.exitCode)}, uas ${String(uas.exitCode)}): ${errors.trim()}` };
    }
    const ticks = clockTicks();
    const d0 = { uac: udpSocketDrops(uac.pid), uas: udpSocketDrops(uas.pid) };
    const c0 = { uac: cpuSeconds(uac.pid, ticks), uas: cpuSeconds(uas.pid, ticks) };
    const t0 = performance.now();
    await sleep(windowMs);
    const c1 = { uac: cpuSeconds(uac.pid, ticks), uas: cpuSeconds(uas.pid, ticks) };
    const d1 = { uac: udpSocketDrops(uac.pid), uas: udpSocketDrops(uas.pid) };
    const windowS = (performance.now() - t0) / 1000;
    const expected = Math.round(calls * 50 * windowS);
    const per = (s: number): number => Math.round(((s * 1000) / (calls * windowS)) * 10000) / 10000;
    return {
      calls,
      window_s: Math.round(windowS * 1000) / 1000,
      uac_cpu_ms_per_stream_second: per(c1.uac - c0.uac),
      uas_echo_cpu_ms_per_stream_second: per(c1.uas - c0.uas),
      total_cpu_ms_per_stream_second: per(c1.uac - c0.uac + c1.uas - c0.uas),
      rss_mb: { uac: rssMb(uac.pid), uas: rssMb(uas.pid) },
      kernel_drops: { uas_echo: d1.uas - d0.uas, uac: d1.uac - d0.uac },
      expected_packets_per_direction: expected,
      echo_read_fraction: Math.round((1 - (d1.uas - d0.uas) / Math.max(1, expected)) * 1000) / 1000,
    };
  } finally {
    await stop(uac);
    await stop(uas);
    rmSync(dir, { recursive: true, force: true });
  }
}
