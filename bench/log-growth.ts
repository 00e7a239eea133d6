/**
 * `npm run check:logs`: issue 21.3's acceptance run. An agent with 3 probes
 * every second logs at debug for --minutes (default 10); the longest log line
 * of the last minute must stay within 10 % of the first minute's. Exit 0 when
 * it holds, 1 when not. No lab needed: the probes are cert probes of missing
 * files, which log one debug line and one warning per run (the lines that grew
 * by ~36 bytes per run before the fix in src/log.ts).
 *
 *   node --import tsx bench/log-growth.ts [--minutes 10]
 *
 * Writes bench/results/log-growth.json. Stops the agent it started by PID.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort } from '../test/lab/lab.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const minutesArg = process.argv.indexOf('--minutes');
const MINUTES = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 10;
const LIMIT_PERCENT = 10;

const dir = mkdtempSync(path.join(tmpdir(), 'cp-log-growth-'));
mkdirSync(path.join(dir, 'probes'));
const probes = ['a', 'b', 'c'].map((n) => `  - { name: ${n}, kind: cert, targets: ["/nonexistent/${n}.pem"], interval: 1s }`);
writeFileSync(path.join(dir, 'probes', 'p.yaml'), `probes:\n${probes.join('\n')}\n`);
const port = await freeTcpPort();
writeFileSync(
  path.join(dir, 'callprobe.yaml'),
  `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "127.0.0.1:${port}" }\nprobes_dir: probes\nstate_dir: ${JSON.stringify(dir)}\n`,
);

const t0 = Date.now();
const longestByMinute: number[] = [];
let lines = 0;
let pending = '';
const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', path.join(dir, 'callprobe.yaml'), '--log-level', 'debug'], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'pipe'],
});
child.stderr.on('data', (chunk: Buffer) => {
  pending += chunk.toString();
  const parts = pending.split('\n');
  pending = parts.pop() ?? '';
  const minute = Math.floor((Date.now() - t0) / 60_000);
  for (const line of parts) {
    if (!line.startsWith('{')) continue;
    lines++;
    longestByMinute[minute] = Math.max(longestByMinute[minute] ?? 0, line.length);
  }
});
const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
await new Promise((r) => setTimeout(r, MINUTES * 60_000));
if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
const code = await exited;
rmSync(dir, { recursive: true, force: true });

const first = longestByMinute[0] ?? 0;
const last = longestByMinute[MINUTES - 1] ?? 0;
const growthPercent = first === 0 ? Infinity : ((last - first) / first) * 100;
const ok = first > 0 && last > 0 && growthPercent <= LIMIT_PERCENT && code === 0;
const result = {
  date: new Date().toISOString(),
  minutes: MINUTES,
  probes: 3,
  interval_s: 1,
  log_lines: lines,
  longest_line_first_minute: first,
  longest_line_last_minute: last,
  longest_line_by_minute: longestByMinute,
  growth_percent: Number(growthPercent.toFixed(2)),
  limit_percent: LIMIT_PERCENT,
  agent_exit_code: code,
  ok,
};
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(ROOT, 'bench', 'results', 'log-growth.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exitCode = ok ? 0 : 1;
