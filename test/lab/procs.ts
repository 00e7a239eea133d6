// Process bookkeeping for the lab: every process the harness or a test starts is
// recorded as <workdir>/procs/<name>.json (pid + kernel start time), so the global
// teardown, which runs in another process than the test workers, can find, stop
// and assert on each of them by PID. The start time guards against PID reuse:
// we never signal a PID whose /proc start time differs from the one recorded.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ProcRecord {
  name: string;
  pid: number;
  /** field 22 of /proc/PID/stat (clock ticks since boot) */
  startTime: string;
  cmd: string;
  log?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrackedProcess {
  pid: number;
  exited: Promise<ExitInfo>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000); resolves when it is gone. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

export interface SpawnTrackedOptions {
  /** working directory (default: the lab workdir) */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** record name (default `<basename(cmd)>-<pid>`) */
  name?: string;
  /** lab workdir to record the process in (default: labWorkdir()) */
  workdir?: string;
  /** keep at most this many bytes of stdout/stderr each (default 4 MiB) */
  maxBuffer?: number;
}

const procsDir = (workdir: string): string => path.join(workdir, 'procs');

/** Kernel start time of a PID, or null when no such process exists (zombies count as gone). */
export function procStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return null;
  return rest[19] ?? null; // field 22 overall
}

export function isSameProcessAlive(rec: Pick<ProcRecord, 'pid' | 'startTime'>): boolean {
  return procStartTime(rec.pid) === rec.startTime;
}

export function recordProcess(workdir: string, rec: Omit<ProcRecord, 'startTime'>): ProcRecord {
  const startTime = procStartTime(rec.pid);
  if (startTime === null) throw new Error(`${rec.name} (pid ${rec.pid}) exited right after start`);
  const full: ProcRecord = { ...rec, startTime };
  fs.mkdirSync(procsDir(workdir), { recursive: true });
  fs.writeFileSync(path.join(procsDir(workdir), `${rec.name}.json`), JSON.stringify(full));
  return full;
}

export function forgetProcess(workdir: string, name: string): void {
  fs.rmSync(path.join(procsDir(workdir), `${name}.json`), { force: true });
}

export function listProcesses(workdir: string): ProcRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(procsDir(workdir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ProcRecord[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(procsDir(workdir), n), 'utf8')) as ProcRecord);
    } catch {
      // a record being written right now; the next listing sees it
    }
  }
  return out;
}

export function getProcess(workdir: string, name: string): ProcRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(procsDir(workdir), `${name}.json`), 'utf8')) as ProcRecord;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stop a recorded process by PID: SIGTERM, wait up to graceMs, then SIGKILL.
 * Works for processes that are not our children (started by another vitest
 * process) by polling /proc. Returns true when it had to SIGKILL.
 */
export async function stopRecorded(rec: ProcRecord, graceMs = 3000): Promise<boolean> {
  if (!isSameProcessAlive(rec)) return false;
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSameProcessAlive(rec)) return false;
    await sleep(25);
  }
  if (isSameProcessAlive(rec)) {
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      // gone in between
    }
  }
  const killDeadline = Date.now() + 2000;
  while (isSameProcessAlive(rec) && Date.now() < killDeadline) await sleep(25);
  return true;
}

/**
 * Spawn a process, buffer its output, and record it in the lab workdir so the
 * global teardown can assert that nothing outlives the run.
 */
export function spawnTrackedIn(
  workdir: string,
  cmd: string,
  args: readonly string[],
  opts: SpawnTrackedOptions = {},
): TrackedProcess {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? workdir,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    throw new Error(`cannot spawn ${cmd}: not found or not executable`);
  }
  const pid = child.pid;
  const name = opts.name ?? `${path.basename(cmd)}-${pid}`;
  const max = opts.maxBuffer ?? 4 * 1024 * 1024;
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    if (out.length < max) out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < max) err += d;
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on('close', (code, signal) => {
      forgetProcess(workdir, name);
      resolve({ code, signal });
    });
  });
  let rec: ProcRecord | undefined;
  try {
    rec = recordProcess(workdir, { name, pid, cmd: [cmd, ...args].join(' ') });
  } catch {
    // exited immediately; `exited` reports how
  }
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    pid,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop(graceMs = 3000): Promise<ExitInfo> {
      if (!done && rec) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (!done) child.kill('SIGKILL');
        }, graceMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
}
