/**
 * `npm run bench`: the performance budgets of docs/design (media engine and
 * CLI start-up), measured in one run on this machine so ratios are fair.
 * Writes bench/results/rtp-scale.json and bench/results/cli-startup.json.
 *
 *   npm run bench                    # everything (~2 minutes)
 *   npm run bench -- --only rtp      # or: --only startup
 *   npm run bench -- --window 5      # seconds per RTP run (default 20)
 *   npm run bench -- --streams 100,500
 *   npm run bench -- --no-sipp        # skip the SIPp reference runs
 *   npm run bench -- --only startup --startup-runs 50   # runs per command (default 30)
 *
 * Traffic stays on 127.0.0.1; the number of streams and the time are bounded.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawDgramCostUs, runScale, type ScaleRun } from './rtp-scale.js';
import { udpBackend } from '../src/rtp/udp.js';
import { runSippReference, type SippRun } from './sipp-reference.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    total_memory_mb: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] ?? 0) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
}

/** Wall time (ms) of one run of a command. */
function timeOnce(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return performance.now() - t0;
}

interface TimeStats {
  runs: number;
  median_ms: number;
  mean_ms: number;
  sd_ms: number;
  min_ms: number;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

function stats(values: number[]): TimeStats {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
  return { runs: values.length, median_ms: round1(median(values)), mean_ms: round1(mean), sd_ms: round1(sd), min_ms: round1(Math.min(...values)) };
}

/**
 * Wall times of several commands, run interleaved (a, b, c, a, b, c, …) after
 * 3 warm-up rounds, so that a load change on a shared machine hits all of them alike.
 */
function timeInterleaved(commands: Record<string, [string, string[]]>, runs: number): Record<string, TimeStats> {
  const times: Record<string, number[]> = {};
  for (let i = -3; i < runs; i++) {
    for (const [name, [cmd, args]] of Object.entries(commands)) {
      const ms = timeOnce(cmd, args);
      if (i >= 0) (times[name] ??= []).push(ms);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, stats(v)]));
}

/**
 * A SIP UAS on 127.0.0.1 that answers every request 200 OK, in its own process
 * (spawnSync blocks this one), so `probe options` can be timed one-shot.
 */
async function startSipResponder(): Promise<{ port: number; stop: () => void }> {
  const code = `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (msg, r) => {
      const keep = msg.toString('latin1').split('\\r\\n').filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq):/i.test(l));
      s.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\\r\\n'), r.port, r.address);
    });
    s.bind(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (c) => reject(new Error(`SIP responder exited ${c}`)));
  });
  return { port, stop: () => child.kill() };
}

async function benchStartup(): Promise<Record<string, unknown>> {
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  const node = process.execPath;
  const runs = Number(arg('startup-runs') ?? 30);
  const result: Record<string, unknown> = {
    machine: machine(),
    budget: '`probe --help` and one-shot commands ≤ `node -e 0` + 60 ms',
    method: `dist/ (npm run build) run by plain node; ${runs} interleaved runs after 3 warm-up rounds; *_ms fields are medians, stats has mean ± sd`,
  };
  if (!existsSync(main)) {
    result.node_e_0_ms = timeInterleaved({ base: [node, ['-e', '0']] }, runs).base?.median_ms;
    result.note = 'dist/cli/main.js missing: run `npm run build` first';
    return result;
  }
  const sip = await startSipResponder();
  let t: Record<string, TimeStats>;
  try {
    t = timeInterleaved(
      {
        base: [node, ['-e', '0']],
        help: [node, [main, '--help']],
        mos: [node, [main, 'mos', '--codec', 'PCMU', '--loss', '1', '--json']],
        options: [node, [main, 'options', `sip:127.0.0.1:${sip.port}`, '--json']],
      },
      runs,
    );
  } finally {
    sip.stop();
  }
  const med = (k: string): number => t[k]?.median_ms ?? 0;
  const over = (k: string): number => round1(med(k) - med('base'));
  const overMean = (k: string): number => round1((t[k]?.mean_ms ?? 0) - (t.base?.mean_ms ?? 0));
  result.node_e_0_ms = med('base');
  result.probe_help_ms = med('help');
  result.probe_mos_ms = med('mos');
  result.probe_options_ms = med('options');
  result.over_baseline_ms = { help: over('help'), mos: over('mos'), options: over('options') };
  result.over_baseline_mean_ms = { help: overMean('help'), mos: overMean('mos'), options: overMean('options') };
  result.stats = t;
  result.within_budget = over('help') <= 60 && over('mos') <= 60;
  result.options_within_budget = over('options') <= 60;
  result.loadavg_at_end = os.loadavg().map((x) => Math.round(x * 100) / 100);
  return result;
}

async function benchRtp(): Promise<Record<string, unknown>> {
  const windowMs = Number(arg('window') ?? 20) * 1000;
  const counts = (arg('streams') ?? '100,500,1000').split(',').map(Number).filter((n) => n >= 2 && n <= 1000);
  const out: Record<string, unknown> = {
    machine: machine(),
    udp_backend: udpBackend(),
    method:
      'N RtpSessions in one process as N/2 loopback pairs (each session sends one 20 ms PCMU stream and receives one, ' +
      'with RFC 3550 stats), shared pacer, 2 s warm-up then a measured window; CPU from process.cpuUsage. ' +
      'raw_dgram_us_per_packet: CPU of Node dgram alone for one send + its receive, same run (machine baseline).',
    budget: {
      cpu_ms_per_stream_second: 0.32,
      send_lateness_p99_ms_at_1000: 1,
      self_inflicted_loss: 0,
    },
  };
  out.raw_dgram_us_per_packet = Math.round((await rawDgramCostUs()) * 100) / 100;
  // One idle call (2 sessions): the pacer's precise mode.
  const idle = await runScale(2, Math.min(windowMs, 10_000));
  const runs: (ScaleRun & { sipp?: SippRun | { skipped: string }; ratio_to_sipp?: number })[] = [];
  for (const n of counts) {
    process.stderr.write(`bench: ${n} streams for ${windowMs / 1000} s…\n`);
    const run: (typeof runs)[number] = await runScale(n, windowMs);
    if (!process.argv.includes('--no-sipp')) {
      process.stderr.write(`bench: SIPp reference, ${n} calls for ${windowMs / 1000} s…\n`);
      run.sipp = await runSippReference(n, windowMs);
      if ('skipped' in run.sipp && run.sipp.skipped.startsWith('sipp exited early')) {
        process.stderr.write(`bench: ${run.sipp.skipped}; retrying once\n`);
        run.sipp = await runSippReference(n, windowMs);
      }
      if ('total_cpu_ms_per_stream_second' in run.sipp && run.sipp.total_cpu_ms_per_stream_second > 0) {
        run.ratio_to_sipp = Math.round((run.cpu_ms_per_stream_second / run.sipp.total_cpu_ms_per_stream_second) * 100) / 100;
      }
    }
    runs.push(run);
  }
  out.idle_call = idle;
  out.runs = runs;
  const at1000 = runs.find((r) => r.streams === 1000);
  if (at1000) {
    out.within_budget = {
      cpu: at1000.cpu_ms_per_stream_second <= 0.32,
      lateness_p99: at1000.send_lateness_ms.p99 < 1,
      loss: at1000.self_inflicted_loss === 0,
    };
  }
  out.sipp_reference =
    'runs[].sipp: N SIPp calls, UAC rtp_stream → UAS -rtp_echo on 127.0.0.1, CPU of both processes from /proc over the same ' +
    'window length (one SIPp call = one send by the UAC + read and resend by the echo; one callprobe stream = one send + one ' +
    'read with RFC 3550 stats). ratio_to_sipp = callprobe / SIPp CPU per stream-second, measured minutes apart in one run. ' +
    'Quiet-machine figures (lab-facts): SIPp send 0.17-0.19 + echo 0.13-0.15 ms.';
  out.loadavg_at_end = os.loadavg().map((x) => Math.round(x * 100) / 100);
  return out;
}

const only = arg('only');
mkdirSync(RESULTS, { recursive: true });
if (only === undefined || only === 'startup') {
  const r = await benchStartup();
  writeFileSync(path.join(RESULTS, 'cli-startup.json'), `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(`cli-startup: ${JSON.stringify(r)}\n`);
}
if (only === undefined || only === 'rtp') {
  const r = await benchRtp();
  writeFileSync(path.join(RESULTS, 'rtp-scale.json'), `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(`rtp-scale: written to bench/results/rtp-scale.json\n`);
}
