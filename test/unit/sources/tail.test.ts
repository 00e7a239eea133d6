import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileTailer } from '../../../src/sources/tail.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-tail-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function collect(opts: Partial<ConstructorParameters<typeof FileTailer>[0]> = {}) {
  const lines: string[] = [];
  const t = new FileTailer({ path: join(dir, 'log'), stateFile: join(dir, 'pos.json'), onLines: (l) => lines.push(...l), ...opts });
  return { t, lines };
}

describe('FileTailer', () => {
  it('delivers complete lines only, and the rest once the newline arrives', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, 'a\nb\r\npart');
    const { t, lines } = collect();
    await t.poll();
    expect(lines).toEqual(['a', 'b']);
    appendFileSync(p, 'ial\n');
    await t.poll();
    expect(lines).toEqual(['a', 'b', 'partial']);
    await t.close();
  });

  it('waits for a missing file', async () => {
    const { t, lines } = collect();
    await t.poll();
    writeFileSync(join(dir, 'log'), 'x\n');
    await t.poll();
    expect(lines).toEqual(['x']);
    await t.close();
  });

  it('rotation by rename: finishes the old file (even its unterminated last line), then reads the new one', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, '1\n2\n');
    const { t, lines } = collect();
    await t.poll();
    appendFileSync(p, '3\n4');
    renameSync(p, `${p}.1`);
    writeFileSync(p, '5\n');
    await t.poll();
    expect(lines).toEqual(['1', '2', '3', '4', '5']);
    expect(t.stats.rotations).toBe(1);
    await t.close();
  });

  it('truncation restarts from 0', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, 'aaaa\nbbbb\n');
    const { t, lines } = collect();
    await t.poll();
    truncateSync(p, 0);
    appendFileSync(p, 'c\n');
    await t.poll();
    expect(lines).toEqual(['aaaa', 'bbbb', 'c']);
    expect(t.stats.truncations).toBe(1);
    await t.close();
  });

  it('persists the position atomically and resumes after a restart, also across a rotation while down', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, 'r1\nr2\n');
    const first = collect();
    await first.t.poll();
    await first.t.close();
    const state = JSON.parse(readFileSync(join(dir, 'pos.json'), 'utf8')) as { offset: number };
    expect(state.offset).toBe(6);
    appendFileSync(p, 'r3\n');
    const second = collect();
    await second.t.poll();
    expect(second.lines).toEqual(['r3']);
    await second.t.close();
    // down: r4 appended, then rotated, then r5 in the new file
    appendFileSync(p, 'r4\n');
    renameSync(p, `${p}.1`);
    writeFileSync(p, 'r5\n');
    const third = collect();
    await third.t.poll();
    expect(third.lines).toEqual(['r4', 'r5']);
    await third.t.close();
  });

  it('skips over-long lines and survives a throwing consumer', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, `${'x'.repeat(5000)}\nok\n${'y'.repeat(3000)}`);
    const errors: unknown[] = [];
    const lines: string[] = [];
    const t = new FileTailer({
      path: p,
      maxLineBytes: 1000,
      onLines: (l) => {
        lines.push(...l);
        throw new Error('consumer bug');
      },
      onError: (e) => errors.push(e),
    });
    await t.poll();
    appendFileSync(p, '\nafter\n');
    await t.poll();
    expect(lines).toEqual(['ok', 'after']);
    expect(t.stats.skippedLines).toBe(2);
    expect(errors.length).toBe(2);
    await t.close();
    await t.close();
  });

  it('start() polls by itself and close() stops it', async () => {
    const p = join(dir, 'log');
    writeFileSync(p, 'a\n');
    const { t, lines } = collect({ pollMs: 20 });
    await t.start();
    appendFileSync(p, 'b\n');
    await new Promise((r) => setTimeout(r, 150));
    expect(lines).toEqual(['a', 'b']);
    await t.close();
    appendFileSync(p, 'c\n');
    await new Promise((r) => setTimeout(r, 60));
    expect(lines).toEqual(['a', 'b']);
  });
});
