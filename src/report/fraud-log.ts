// Appends fail2ban-format lines (analytics/fraud/fail2ban.ts) for detections to
// a log file. Writes are serialised and errors reported, never thrown: a full
// disk must not stop the detectors.
//
// Rotation: logrotate renames (or deletes) the file. Before each line the
// writer compares the open file's inode with the one at the path and reopens
// on a difference, so no signal is needed; reopen() (the agent's SIGHUP) does
// the same at once. A copytruncate rotation needs nothing: the file is opened
// with O_APPEND.
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatFail2banLine } from '../analytics/fraud/fail2ban.js';
import type { FraudEvent } from '../analytics/fraud/types.js';

export interface FraudLogWriterOptions {
  path: string;
  pid?: number;
  onError?: (err: unknown) => void;
}

export class FraudLogWriter {
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #file: { handle: FileHandle; dev: number; ino: number } | undefined;

  constructor(private readonly opts: FraudLogWriterOptions) {}

  get path(): string {
    return this.opts.path;
  }

  /** A listener for FraudEngine.onFraud(). */
  readonly write = (ev: FraudEvent): void => {
    if (this.#closed) return;
    const line = formatFail2banLine(ev, this.opts.pid ?? process.pid) + '\n';
    this.#enqueue(async () => {
      const handle = await this.#current();
      await handle.appendFile(line);
    });
  };

  /** Closes the file; the next line opens the path afresh (SIGHUP after rotation). */
  reopen(): Promise<void> {
    this.#enqueue(() => this.#drop());
    return this.#chain;
  }

  /** Resolves when every queued line is on disk. */
  flush(): Promise<void> {
    return this.#chain;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#enqueue(() => this.#drop());
    await this.#chain;
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch(async (err: unknown) => {
      // A failed write may come from a stale handle (file system gone, full): start afresh next time.
      await this.#drop();
      this.opts.onError?.(err);
    });
  }

  /** The open handle, reopened when the path now names another file (rotated or deleted). */
  async #current(): Promise<FileHandle> {
    const cur = this.#file;
    if (cur !== undefined) {
      const now = await stat(this.opts.path).catch(() => undefined);
      if (now !== undefined && now.ino === cur.ino && now.dev === cur.dev) return cur.handle;
      await this.#drop();
    }
    await mkdir(dirname(this.opts.path), { recursive: true, mode: 0o750 });
    const handle = await open(this.opts.path, 'a', 0o640);
    try {
      const st = await handle.stat();
      this.#file = { handle, dev: st.dev, ino: st.ino };
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  async #drop(): Promise<void> {
    const f = this.#file;
    this.#file = undefined;
    await f?.handle.close().catch(() => undefined);
  }
}
