// Durable alert spool: one JSON file per alert in a directory of the state
// directory, named by a zero-padded sequence number so that name order is
// delivery order. An alert is on disk (file fsync'd, renamed into place,
// directory fsync'd) before anyone tries to send it, and leaves the disk only
// once delivered (or dropped by the size bound). Crash between write and rename
// leaves a dot-tmp file that the next open() deletes: never half an alert.
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlertEvent, Severity } from './alerts.js';

export const SPOOL_FORMAT_VERSION = 1;

export interface SpoolEntry {
  seq: number;
  /** The Standard Webhooks `webhook-id`: fixed at spool time, same on every retry and after restarts. */
  id: string;
  created_at: string;
  severity: Severity;
  event: AlertEvent;
}

const NAME = /^(\d{16})\.json$/;

export function spoolFileName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.json`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** Writes a file so that after a crash it is either absent or complete. */
export async function writeFileDurable(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = await open(tmp, 'w', 0o600);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

export interface SpoolOptions {
  /** At most this many alerts on disk; beyond it the oldest info/warning alert goes first, then the oldest critical. */
  maxEntries: number;
}

export class Spool {
  private readonly entries: SpoolEntry[] = [];
  private nextSeq = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly protectedSeqs = new Set<number>();
  /** Alerts dropped by the size bound (counter). */
  dropped = 0;
  /** Unreadable files found at open (moved aside as `*.corrupt`). */
  corrupt = 0;

  private constructor(
    readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {}

  /** Opens (creating) a spool directory and loads what a previous run left, in sequence order. */
  static async open(dir: string, opts: SpoolOptions): Promise<Spool> {
    if (!(opts.maxEntries >= 1)) throw new RangeError('spool maxEntries must be >= 1');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const spool = new Spool(dir, opts);
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (name.startsWith('.') && name.endsWith('.tmp')) {
        await unlink(join(dir, name)).catch(() => undefined);
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      try {
        const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as Partial<SpoolEntry> & { v?: number };
        if (parsed.v !== SPOOL_FORMAT_VERSION || typeof parsed.id !== 'string' || !parsed.event) throw new Error('bad entry');
        spool.entries.push({ seq, id: parsed.id, created_at: String(parsed.created_at), severity: parsed.severity ?? parsed.event.severity, event: parsed.event });
      } catch {
        spool.corrupt += 1;
        await rename(join(dir, name), join(dir, `${name}.corrupt`)).catch(() => undefined);
      }
      spool.nextSeq = Math.max(spool.nextSeq, seq + 1);
    }
    return spool;
  }

  get depth(): number {
    return this.entries.length;
  }

  /** Oldest undelivered alert. */
  peek(): SpoolEntry | undefined {
    return this.entries[0];
  }

  list(): readonly SpoolEntry[] {
    return this.entries;
  }

  /** An entry being sent is not dropped by the size bound. */
  protect(seq: number | null): void {
    this.protectedSeqs.clear();
    if (seq !== null) this.protectedSeqs.add(seq);
  }

  /**
   * Appends durably; resolves once the file and its directory entry are on disk.
   * Appends are serialised so that sequence order is file order is delivery order.
   * Returns the entries dropped to stay within the bound.
   */
  append(id: string, event: AlertEvent, now: Date = new Date()): Promise<{ entry: SpoolEntry; dropped: SpoolEntry[] }> {
    const run = async (): Promise<{ entry: SpoolEntry; dropped: SpoolEntry[] }> => {
      const entry: SpoolEntry = { seq: this.nextSeq, id, created_at: now.toISOString(), severity: event.severity, event };
      this.nextSeq += 1;
      const dropped: SpoolEntry[] = [];
      while (this.entries.length >= this.opts.maxEntries) {
        const victim = this.pickVictim();
        if (!victim) break;
        await this.removeEntry(victim);
        dropped.push(victim);
        this.dropped += 1;
      }
      await writeFileDurable(this.dir, spoolFileName(entry.seq), JSON.stringify({ v: SPOOL_FORMAT_VERSION, ...entry }));
      this.entries.push(entry);
      return { entry, dropped };
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Oldest info/warning first, else the oldest critical; never the one in flight. */
  private pickVictim(): SpoolEntry | undefined {
    const free = this.entries.filter((e) => !this.protectedSeqs.has(e.seq));
    return free.find((e) => e.severity !== 'critical') ?? free[0];
  }

  /** Removes a delivered (or rejected) alert from disk. Idempotent. */
  async remove(entry: SpoolEntry): Promise<void> {
    const p = this.chain.then(() => this.removeEntry(entry));
    this.chain = p.catch(() => undefined);
    await p;
  }

  private async removeEntry(entry: SpoolEntry): Promise<void> {
    const i = this.entries.findIndex((e) => e.seq === entry.seq);
    if (i >= 0) this.entries.splice(i, 1);
    try {
      await unlink(join(this.dir, spoolFileName(entry.seq)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await fsyncDir(this.dir);
  }
}
