// Runs the shipped CLI (src/cli/main.ts) as a process and measures what the
// hostile-input tests bound: wall time and the process's peak RSS (VmHWM,
// written by a preload at exit, so no external `time` tool is needed).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');
const PEAK_RSS_PRELOAD = resolve(import.meta.dirname, 'peak-rss.mjs');

export interface CliRun {
  /** Exit code; null when the run was killed at timeoutMs. */
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set of the CLI process in MiB (NaN when it was killed). */
  peakRssMb: number;
  /** CPU time (user + system) the CLI process used, ms (NaN when it was killed). */
  cpuMs: number;
}

export function runCli(args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', PEAK_RSS_PRELOAD, 'src/cli/main.ts', ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
  return new Promise((done) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /\npeak-rss-kb (\d+) cpu-ms (\d+)\n/.exec(stderr);
      const rest = stderr.replace(/\npeak-rss-kb \d+ cpu-ms \d+\n/, '');
      done({ code, stdout, stderr: rest, ms: performance.now() - t0, peakRssMb: m ? Number(m[1]) / 1024 : NaN, cpuMs: m ? Number(m[2]) : NaN });
    });
  });
}
