// Appends fail2ban-format lines (analytics/fraud/fail2ban.ts) for detections to
// a log file. Writes are serialised and errors reported, never thrown: a full
// disk must not stop the detectors.
import { appendFile } from 'node:fs/promises';
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

  constructor(private readonly opts: FraudLogWriterOptions) {}

  /** A listener for FraudEngine.onFraud(). */
  readonly write = (ev: FraudEvent): void => {
    if (this.#closed) return;
    const line = formatFail2banLine(ev, this.opts.pid ?? process.pid) + '\n';
    this.#chain = this.#chain.then(() =>
      appendFile(this.opts.path, line, { mode: 0o640 }).catch((err: unknown) => this.opts.onError?.(err)),
    );
  };

  /** Resolves when every queued line is on disk. */
  flush(): Promise<void> {
    return this.#chain;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
  }
}
