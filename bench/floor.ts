/**
 * The C floor (bench/floor/floor.c): built here with the system compiler and
 * run in the same bench run as callprobe and SIPp, so callprobe ÷ floor is a
 * ratio of two figures taken minutes apart on the same machine under the same
 * load. 127.0.0.1 only; the program stops by itself after its window.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'floor', 'floor.c');

export type FloorMode = 'per-socket' | 'shared';

export interface FloorRun {
  mode: FloorMode;
  streams: number;
  window_s: number;
  cpu_s: number;
  cpu_ms_per_stream_second: number;
  packets_sent: number;
  packets_received: number;
  lost: number;
  skipped_ticks: number;
  /** Ticks sent more than one period late (caught up within 60 ms, as callprobe's pacer does). */
  caught_up_ticks: number;
  send_errors: number;
  self_inflicted_loss: number;
  send_lateness_abs_ms: { p50: number; p99: number; max: number; count: number };
  tick_ms: number;
}

let built: { path: string } | { skipped: string } | undefined;

/** Compiles floor.c once per bench run (cc -O2); `skipped` says why not. */
export function buildFloor(): { path: string } | { skipped: string } {
  if (built) return built;
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'callprobe-floor-')), 'floor');
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', out, SOURCE], { encoding: 'utf8' });
  built = r.status === 0 ? { path: out } : { skipped: `${cc} failed: ${(r.error?.message ?? r.stderr).trim().slice(0, 300)}` };
  return built;
}

export async function runFloor(mode: FloorMode, streams: number, windowMs: number, warmupMs = 2000): Promise<FloorRun | { skipped: string }> {
  const bin = buildFloor();
  if ('skipped' in bin) return bin;
  const child = spawn(bin.path, [mode, String(streams), String(windowMs), String(warmupMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-300)));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) return { skipped: `floor exited ${String(code)}: ${err.trim()}` };
  return JSON.parse(out) as FloorRun;
}
