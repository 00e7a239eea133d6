// What every file-backed source shares: a FileTailer (./tail.ts) that feeds
// complete lines to the subclass's parser, start/poll/close delegated to it,
// and sink calls guarded so a throwing consumer cannot stop the tailer.
import { FileTailer, type FileTailerOptions } from './tail.js';

export type TailedSourceOptions = Omit<FileTailerOptions, 'onLines'>;

/** A source that tails one file; subclasses only parse lines (`onLines`). `close()` is idempotent. */
export abstract class TailedSource {
  readonly tailer: FileTailer;
  readonly #onError: ((err: unknown) => void) | undefined;

  protected constructor(opts: TailedSourceOptions) {
    this.#onError = opts.onError;
    this.tailer = new FileTailer({ ...opts, onLines: (lines) => this.onLines(lines) });
  }

  /** First poll, then polling (and a directory watch as a hint). */
  start(): Promise<void> {
    return this.tailer.start();
  }

  /** One poll (tests step with it); never rejects. */
  poll(): Promise<void> {
    return this.tailer.poll();
  }

  close(): Promise<void> {
    return this.tailer.close();
  }

  /** Complete lines read since the last call, without their newline. */
  protected abstract onLines(lines: string[]): void;

  /** Runs a consumer callback; what it throws goes to onError instead of the tailer. */
  protected deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#onError?.(err);
    }
  }
}
