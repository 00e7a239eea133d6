// Durable alert spool: one JSON file per alert in a directory of the state
// directory, named by a zero-padded sequence number so that name order is
// delivery order. An alert is written (file fsync'd, renamed into place,
// directory fsync'd) before anyone tries to send it, and leaves the disk only
// once delivered, dead-lettered or dropped by the size bound. Crash between
// write and rename leaves a dot-tmp file that the next open() deletes: never
// half an alert.
//
// A write that fails (ENOSPC, EROFS, EIO) does not lose the alert: it is kept
// in memory (still delivered, in order) and written later by flush(); until a
// write succeeds again the spool reports itself unwritable (`writeError`).
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

/** Writes a file so that after a crash it is either absent or complete; a failed write leaves nothing behind. */
export async function writeFileDurable(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  try {
    const fd = await open(tmp, 'w', 0o600);
    try {
      await fd.writeFile(data);
      await fd.sync();
    } finally {
      await fd.close();
    }
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // a half-written tmp file would hold the space we lack
    throw err;
  }
  await fsyncDir(dir);
}

export type WriteFile = (dir: string, name: string, data: string) => Promise<void>;

export interface SpoolOptions {
  /** At most this many alerts; beyond it the oldest info/warning alert goes first, then the oldest critical. */
  maxEntries: number;
  /** The durable write (tests inject disk faults here). */
  writeFile?: WriteFile;
}

export interface AppendResult {
  entry: SpoolEntry;
  /** Entries dropped to stay within the bound (only after the new one is held). */
  dropped: SpoolEntry[];
  /** False: the write failed; the entry is held in memory until flush() writes it. */
  written: boolean;
}

/** "ENOSPC" etc. from a Node fs error, else the message. */
export function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? e.code : err instanceof Error ? err.message : String(err);
}

export class Spool {
  private readonly entries: SpoolEntry[] = [];
  private nextSeq = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly protectedSeqs = new Set<number>();
  /** Held in memory only: their write failed. */
  private readonly unwritten = new Set<number>();
  /** Delivered entries whose file could not be unlinked (retried by flush()). */
  private readonly orphans = new Set<number>();
  private readonly writeFile: WriteFile;
  /** Alerts dropped by the size bound (counter). */
  dropped = 0;
  /** Unreadable files found at open (moved aside as `*.corrupt`). */
  corrupt = 0;
  /** Failed writes, renames or unlinks (counter). */
  writeFailures = 0;
  /** The error of the last failed disk operation, until one succeeds again; null while the spool is writable. */
  writeError: string | null = null;

  private constructor(
    readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {
    this.writeFile = opts.writeFile ?? writeFileDurable;
  }

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

  /** Entries held only in memory (their write failed and flush() has not written them yet). */
  get unwrittenCount(): number {
    return this.unwritten.size;
  }

  /** True while something is owed to the disk: an unwritten entry, an orphan file, or an unconfirmed recovery. */
  get degraded(): boolean {
    return this.writeError !== null || this.unwritten.size > 0 || this.orphans.size > 0;
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

  /** True when this entry's file is on disk. */
  isWritten(entry: SpoolEntry): boolean {
    return !this.unwritten.has(entry.seq) && this.entries.some((e) => e.seq === entry.seq);
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private failed(err: unknown): void {
    this.writeFailures += 1;
    this.writeError = errorCode(err);
  }

  private async write(entry: SpoolEntry): Promise<void> {
    await this.writeFile(this.dir, spoolFileName(entry.seq), JSON.stringify({ v: SPOOL_FORMAT_VERSION, ...entry }));
  }

  /**
   * Appends; resolves once the file and its directory entry are on disk, or, when
   * the write fails, once the entry is held in memory (`written: false`).
   * Appends are serialised so that sequence order is file order is delivery order.
   * The new alert is held before any old one is evicted by the bound, and one
   * the disk refused evicts nothing (up to twice the bound in all).
   */
  append(id: string, event: AlertEvent, now: Date = new Date()): Promise<AppendResult> {
    return this.serial(async () => {
      const entry: SpoolEntry = { seq: this.nextSeq, id, created_at: now.toISOString(), severity: event.severity, event };
      this.nextSeq += 1;
      let written = true;
      try {
        // an older unwritten entry goes first, so files stay in delivery order on disk
        if (this.unwritten.size > 0) throw Object.assign(new Error('older alerts not yet written'), { code: this.writeError ?? 'EIO' });
        await this.write(entry);
        this.writeError = null;
      } catch (err) {
        if (this.unwritten.size === 0) this.failed(err);
        this.unwritten.add(entry.seq);
        written = false;
      }
      this.entries.push(entry);
      // an alert that is not on disk evicts none that is: memory may hold up to the bound again
      const dropped = await this.enforceBound(written ? this.opts.maxEntries : 2 * this.opts.maxEntries, entry.seq);
      return { entry, dropped, written };
    });
  }

  private async enforceBound(limit: number, keepSeq: number | null): Promise<SpoolEntry[]> {
    const dropped: SpoolEntry[] = [];
    while (this.entries.length > limit) {
      const victim = this.pickVictim(keepSeq);
      if (!victim) break;
      await this.removeEntry(victim);
      dropped.push(victim);
      this.dropped += 1;
    }
    return dropped;
  }

  /**
   * Writes what a failed write left in memory, oldest first, and retries the
   * unlink of delivered files; with nothing owed, a small test write confirms the
   * disk is writable again; then the bound applies again. `writable` false: still failing.
   */
  flush(): Promise<{ writable: boolean; dropped: SpoolEntry[] }> {
    return this.serial(async () => {
      try {
        for (const seq of [...this.orphans]) {
          await unlink(join(this.dir, spoolFileName(seq))).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          });
          this.orphans.delete(seq);
        }
        for (const e of this.entries) {
          if (!this.unwritten.has(e.seq)) continue;
          await this.write(e);
          this.unwritten.delete(e.seq);
        }
        if (this.writeError !== null) {
          await this.writeFile(this.dir, '.writable', '');
          await unlink(join(this.dir, '.writable'));
        }
        this.writeError = null;
        return { writable: true, dropped: await this.enforceBound(this.opts.maxEntries, null) };
      } catch (err) {
        this.failed(err);
        return { writable: false, dropped: [] };
      }
    });
  }

  /**
   * Moves an entry out of the spool into `destDir` as `destName` (the dead-letter
   * folder): a rename when its file is on disk (needs no free space), else a
   * fresh durable write. Throws when neither works; the entry then stays.
   */
  moveOut(entry: SpoolEntry, destDir: string, destName: string): Promise<void> {
    return this.serial(async () => {
      await mkdir(destDir, { recursive: true, mode: 0o700 });
      if (this.unwritten.has(entry.seq)) {
        await this.writeFile(destDir, destName, JSON.stringify({ v: SPOOL_FORMAT_VERSION, ...entry }));
      } else {
        await rename(join(this.dir, spoolFileName(entry.seq)), join(destDir, destName));
        await fsyncDir(destDir);
      }
      await this.removeEntry(entry);
    });
  }

  /** Oldest info/warning first, else the oldest critical; never the one in flight nor the one just added. */
  private pickVictim(keepSeq: number | null): SpoolEntry | undefined {
    const free = this.entries.filter((e) => !this.protectedSeqs.has(e.seq) && e.seq !== keepSeq);
    return free.find((e) => e.severity !== 'critical') ?? free[0];
  }

  /** Removes a delivered (or dead-lettered) alert. Idempotent; a failed unlink is retried by flush(). */
  remove(entry: SpoolEntry): Promise<void> {
    return this.serial(() => this.removeEntry(entry));
  }

  private async removeEntry(entry: SpoolEntry): Promise<void> {
    const i = this.entries.findIndex((e) => e.seq === entry.seq);
    if (i >= 0) this.entries.splice(i, 1);
    if (this.unwritten.delete(entry.seq)) return;
    try {
      await unlink(join(this.dir, spoolFileName(entry.seq)));
      await fsyncDir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // the alert is handled; a file left behind would be sent again after a restart
      this.orphans.add(entry.seq);
      this.failed(err);
    }
  }
}
