// Preload for run-cli.ts: at exit, the process's peak RSS (VmHWM) on stderr.
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (m) writeSync(2, `\npeak-rss-kb ${m[1]}\n`);
});
