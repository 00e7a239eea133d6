// Follows a growing text file the way `tail -F` does, but exactly once:
//  - rotation (the path now names another inode): the old file is read to its
//    end first, then the new one from offset 0;
//  - truncation (same inode, size below our offset): restart from 0;
//  - the position (inode + byte offset of the last complete line) is persisted
//    atomically (write temp + rename) so a restart resumes where it stopped; if
//    the file was rotated while we were down, the old inode is looked up in the
//    same directory and finished first.
// Polling drives it; fs.watch on the directory is only a hint to poll sooner.
// Known limit: a copytruncate that refills past our offset between two polls
// looks like growth (no tool can tell from size + inode alone).
import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, rename, stat, writeFile, readFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface TailPosition {
  ino: string;
  offset: number;
}

export interface FileTailerOptions {
  path: string;
  /** JSON file holding the position; no persistence when absent. */
  stateFile?: string;
  pollMs?: number;
  /** Lines longer than this are skipped (counted in stats.skippedLines). */
  maxLineBytes?: number;
  /** Bytes read per poll per file, so one huge backlog cannot block the event loop. */
  maxReadBytes?: number;
  /** Where to begin when there is no saved position: the start (default) or the current end. */
  startAt?: 'start' | 'end';
  /** Receives complete lines (without the newline). Exceptions are caught and reported. */
  onLines: (lines: string[], info: { ino: string }) => void;
  onError?: (err: unknown) => void;
}

export interface TailStats {
  lines: number;
  skippedLines: number;
  rotations: number;
  truncations: number;
}

interface OpenFile {
  fh: FileHandle;
  ino: string;
  offset: number;
  /** Inside an over-long line: discard up to the next newline. */
  skipping: boolean;
}

const NL = 0x0a;

export class FileTailer {
  readonly stats: TailStats = { lines: 0, skippedLines: 0, rotations: 0, truncations: 0 };
  readonly #opts: Required<Omit<FileTailerOptions, 'stateFile' | 'onError'>> & Pick<FileTailerOptions, 'stateFile' | 'onError'>;
  #cur: OpenFile | null = null;
  #timer: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  #polling: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #savedState = '';
  #restored = false;

  constructor(opts: FileTailerOptions) {
    this.#opts = { pollMs: 1000, maxLineBytes: 64 * 1024, maxReadBytes: 4 * 1024 * 1024, startAt: 'start', ...opts };
  }

  /** Current position (what would be persisted). */
  position(): TailPosition | null {
    return this.#cur ? { ino: this.#cur.ino, offset: this.#cur.offset } : null;
  }

  /** Starts polling (and watching). Call poll() directly instead for step-by-step tests. */
  async start(): Promise<void> {
    await this.poll();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.poll(), this.#opts.pollMs);
    this.#timer.unref?.();
    try {
      const name = basename(this.#opts.path);
      this.#watcher = watch(dirname(this.#opts.path), { persistent: false }, (_ev, f) => {
        if (f === null || f === name) void this.poll();
      });
      this.#watcher.on('error', () => undefined);
    } catch {
      // No watch support (or dir missing): polling alone is correct, just slower.
    }
  }

  /** One poll; concurrent calls coalesce. Never rejects. */
  poll(): Promise<void> {
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      do {
        this.#again = false;
        try {
          await this.#pollOnce();
        } catch (err) {
          this.#opts.onError?.(err);
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#polling = null;
    });
    return this.#polling;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#watcher?.close();
    this.#watcher = null;
    await this.#polling?.catch(() => undefined);
    const cur = this.#cur;
    this.#cur = null;
    await cur?.fh.close().catch(() => undefined);
  }

  async #pollOnce(): Promise<void> {
    if (this.#closed) return;
    if (!this.#restored) {
      this.#restored = true;
      await this.#restore();
    }
    const pathIno = await inodeOf(this.#opts.path);
    if (!this.#cur) {
      if (pathIno === null) return;
      await this.#openPath(0);
      if (!this.#cur) return;
    }
    const cur: OpenFile = this.#cur;
    const atEnd = await this.#drain(cur, this.#opts.maxReadBytes);
    if (pathIno !== null && pathIno !== cur.ino) {
      if (!atEnd) {
        // Rotated, but a backlog is left in the old file: finish it over the next polls.
        this.#again = true;
        await this.#persist();
        return;
      }
      // Rotated: the old file is complete; a last line without a newline is still a line.
      await this.#drain(cur, this.#opts.maxReadBytes, true);
      await cur.fh.close().catch(() => undefined);
      this.#cur = null;
      this.stats.rotations++;
      await this.#openPath(0);
      if (this.#cur) await this.#drain(this.#cur, this.#opts.maxReadBytes);
    }
    await this.#persist();
  }

  async #openPath(offset: number): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.#opts.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const st = await fh.stat({ bigint: true });
    this.#cur = { fh, ino: st.ino.toString(), offset: Math.min(offset, Number(st.size)), skipping: false };
  }

  /**
   * Reads complete lines from the open file up to its current end, at most
   * `budget` bytes. Returns true when nothing but (at most) a partial last line
   * is left. `final`: the file will not grow any more, so a last line without
   * a newline is delivered too.
   */
  async #drain(f: OpenFile, budget: number, final = false): Promise<boolean> {
    const size = Number((await f.fh.stat({ bigint: true })).size);
    if (size < f.offset) {
      f.offset = 0;
      f.skipping = false;
      this.stats.truncations++;
    }
    while (f.offset < size && budget > 0 && !this.#closed) {
      const want = Math.min(size - f.offset, budget, 1024 * 1024);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await f.fh.read(buf, 0, want, f.offset);
      if (bytesRead === 0) break;
      budget -= bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      const lastNl = chunk.lastIndexOf(NL);
      if (lastNl < 0) {
        // No newline in what we could read: wait for more, unless the line is already too long.
        if (bytesRead >= this.#opts.maxLineBytes) {
          if (!f.skipping) this.stats.skippedLines++;
          f.skipping = true;
          f.offset += bytesRead;
          continue;
        }
        if (final && f.offset + bytesRead >= size) {
          if (!f.skipping) this.#deliver([chunk.toString('utf8')], f.ino);
          this.stats.lines += f.skipping ? 0 : 1;
          f.offset += bytesRead;
        }
        break;
      }
      const lines: string[] = [];
      let start = 0;
      while (start <= lastNl) {
        const nl = chunk.indexOf(NL, start);
        let line = chunk.subarray(start, nl);
        start = nl + 1;
        if (f.skipping) {
          f.skipping = false;
          continue;
        }
        if (line.length > this.#opts.maxLineBytes) {
          this.stats.skippedLines++;
          continue;
        }
        if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
        lines.push(line.toString('utf8'));
      }
      f.offset += lastNl + 1;
      this.stats.lines += lines.length;
      if (lines.length > 0) this.#deliver(lines, f.ino);
    }
    return size - f.offset < this.#opts.maxLineBytes;
  }

  #deliver(lines: string[], ino: string): void {
    try {
      this.#opts.onLines(lines, { ino });
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  async #persist(): Promise<void> {
    const file = this.#opts.stateFile;
    if (!file || !this.#cur) return;
    const text = JSON.stringify({ path: this.#opts.path, ino: this.#cur.ino, offset: this.#cur.offset });
    if (text === this.#savedState) return;
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, text + '\n', { mode: 0o600 });
    await rename(tmp, file);
    this.#savedState = text;
  }

  /** Resumes from the saved position: same inode → seek; rotated while down → finish the old file first. */
  async #restore(): Promise<void> {
    const saved = await readState(this.#opts.stateFile);
    const pathIno = await inodeOf(this.#opts.path);
    if (!saved) {
      if (pathIno !== null && this.#opts.startAt === 'end') {
        await this.#openPath(Number.MAX_SAFE_INTEGER);
      }
      return;
    }
    if (saved.ino === pathIno) {
      await this.#openPath(saved.offset);
      // A smaller file than our offset means it was truncated while we were down.
      if (this.#cur && this.#cur.offset < saved.offset) {
        this.#cur.offset = 0;
        this.stats.truncations++;
      }
      return;
    }
    const old = await findByInode(dirname(this.#opts.path), saved.ino);
    if (old) {
      const fh = await open(old, 'r');
      const f: OpenFile = { fh, ino: saved.ino, offset: saved.offset, skipping: false };
      try {
        while (!(await this.#drain(f, this.#opts.maxReadBytes)) && !this.#closed);
        await this.#drain(f, this.#opts.maxReadBytes, true);
      } finally {
        await fh.close().catch(() => undefined);
      }
      this.stats.rotations++;
    }
  }
}

async function inodeOf(path: string): Promise<string | null> {
  try {
    return (await stat(path, { bigint: true })).ino.toString();
  } catch {
    return null;
  }
}

async function readState(file: string | undefined): Promise<TailPosition | null> {
  if (!file) return null;
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<TailPosition>;
    if (typeof v.ino === 'string' && typeof v.offset === 'number' && v.offset >= 0) return { ino: v.ino, offset: v.offset };
  } catch {
    // Missing or corrupt state: start fresh rather than refuse to run.
  }
  return null;
}

async function findByInode(dir: string, ino: string): Promise<string | null> {
  try {
    for (const name of (await readdir(dir)).slice(0, 10_000)) {
      const p = join(dir, name);
      if ((await inodeOf(p)) === ino) return p;
    }
  } catch {
    // unreadable directory: nothing to finish
  }
  return null;
}
