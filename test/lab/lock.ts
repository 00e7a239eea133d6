// The machine-wide lab lock (/tmp/callprobe-lab.lock): the lab uses fixed ports,
// so only one lab may run at a time. `flock(1)` is the documented way to hold it
// (`flock /tmp/callprobe-lab.lock npx vitest run --project integration ...`);
// when no ancestor holds it, global-setup takes it through a `flock` child that
// keeps it until teardown (or until this process dies: the child's stdin closes).
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export interface LabLock {
  /** true when an ancestor process (flock ... npx vitest) already holds the lock */
  inherited: boolean;
  release(): Promise<void>;
}

function parentPid(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
  } catch {
    return null;
  }
}

function ancestors(): Set<number> {
  const out = new Set<number>();
  let p: number | null = process.pid;
  while (p !== null && p > 1 && !out.has(p)) {
    out.add(p);
    p = parentPid(p);
  }
  return out;
}

/** PIDs holding a flock(2) lock on the file (from /proc/locks, matched by inode). */
export function flockHolders(file: string): number[] {
  let ino: number;
  try {
    ino = fs.statSync(file).ino;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[2] === '->') continue;
    const dev = f[5]?.split(':');
    if (dev && Number(dev[2]) === ino) out.push(Number(f[4]));
  }
  return out;
}

export async function acquireLabLock(file: string, timeoutS: number, log: (s: string) => void): Promise<LabLock> {
  const mine = ancestors();
  if (flockHolders(file).some((p) => mine.has(p))) {
    return { inherited: true, release: async () => undefined };
  }
  try {
    return await holdFileLock(file, timeoutS, () => log(`lab: waiting for ${file} (another lab run holds it)...`));
  } catch {
    throw new Error(`lab: could not take ${file} within ${timeoutS} s (another lab run holds it)`);
  }
}

/**
 * Takes `file` through a `flock` child that keeps it until release() (or until this
 * process dies: the child's stdin closes). `onWaiting` is called once when the lock
 * is not free within a second. Also the run's file locks (exclusive.ts), some shared.
 */
export async function holdFileLock(
  file: string,
  timeoutS: number,
  onWaiting?: () => void,
  mode: 'exclusive' | 'shared' = 'exclusive',
): Promise<LabLock> {
  const child = spawn('flock', [mode === 'shared' ? '-s' : '-x', '-w', String(timeoutS), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitingNote = onWaiting ? setTimeout(onWaiting, 1000) : undefined;
  const got = await new Promise<boolean>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('locked')) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  clearTimeout(waitingNote);
  if (!got) throw new Error(`could not take ${file} within ${timeoutS} s`);
  return {
    inherited: false,
    async release(): Promise<void> {
      child.stdin.end();
      await exited;
    },
  };
}
