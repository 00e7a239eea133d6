import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TailedSource, type TailedSourceOptions } from '../../../src/sources/tailed-source.js';

/** The smallest source: hands each line to `sink`, guarded by deliver(). */
class LineSource extends TailedSource {
  constructor(
    opts: TailedSourceOptions,
    private readonly sink: (line: string) => void,
  ) {
    super(opts);
  }

  protected onLines(lines: string[]): void {
    for (const line of lines) this.deliver(() => this.sink(line));
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tailed-source-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('TailedSource', () => {
  it('poll() feeds complete lines to onLines; a throwing consumer reaches onError and the next lines still arrive', async () => {
    const path = join(dir, 'x.log');
    writeFileSync(path, 'a\nboom\nb\npartial');
    const seen: string[] = [];
    const errors: unknown[] = [];
    const src = new LineSource({ path, onError: (e) => errors.push(e) }, (line) => {
      if (line === 'boom') throw new Error('consumer failed');
      seen.push(line);
    });
    await src.poll();
    expect(seen).toEqual(['a', 'b']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['consumer failed']);
    appendFileSync(path, '-done\nc\n');
    await src.poll();
    expect(seen).toEqual(['a', 'b', 'partial-done', 'c']);
    expect(src.tailer.stats.lines).toBe(5);
    await src.close();
    await src.close(); // idempotent
  });

  it('passes the tailer options through (startAt: end skips what is already there)', async () => {
    const path = join(dir, 'y.log');
    writeFileSync(path, 'old\n');
    const seen: string[] = [];
    const src = new LineSource({ path, startAt: 'end' }, (line) => seen.push(line));
    await src.poll();
    appendFileSync(path, 'new\n');
    await src.poll();
    expect(seen).toEqual(['new']);
    await src.close();
  });
});
