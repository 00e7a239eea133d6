// Preload for run-cli.ts: at exit, the process's peak RSS (VmHWM) and the CPU time it used
// (user + system, all threads) on stderr. CPU time, unlike wall time, does not grow with the
// load other processes put on the machine, so it can bound "refused quickly" under load.
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  const cpu = process.cpuUsage();
  if (m) writeSync(2, `\npeak-rss-kb ${m[1]} cpu-ms ${Math.round((cpu.user + cpu.system) / 1000)}\n`);
});
