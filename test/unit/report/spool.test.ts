import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertEvent } from './fixtures.js';
import { Spool, spoolFileName, writeFileDurable, type WriteFile } from '../../../src/report/spool.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-spool-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ev = alertEvent;

describe('Spool', () => {
  it('writes one file per alert, named in sequence order, before resolving', async () => {
    const s = await Spool.open(dir, { maxEntries: 10 });
    const { entry } = await s.append('msg_1', ev(1));
    await s.append('msg_2', ev(2));
    expect(entry.seq).toBe(1);
    expect(readdirSync(dir)).toEqual([spoolFileName(1), spoolFileName(2)]);
    expect(spoolFileName(12)).toBe('0000000000000012.json');
    const onDisk = JSON.parse(readFileSync(join(dir, spoolFileName(1)), 'utf8'));
    expect(onDisk).toMatchObject({ v: 1, seq: 1, id: 'msg_1', event: { probe: 'p1' } });
  });

  it('keeps order when appends race', async () => {
    const s = await Spool.open(dir, { maxEntries: 100 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.append(`msg_${i}`, ev(i))));
    expect(s.list().map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, i) => `msg_${i}`));
  });

  it('replays in order after reopening, continues the sequence, removes delivered ones', async () => {
    const s = await Spool.open(dir, { maxEntries: 10 });
    for (let i = 1; i <= 3; i++) await s.append(`msg_${i}`, ev(i));
    const first = s.peek();
    if (!first) throw new Error('empty');
    await s.remove(first);
    await s.remove(first); // idempotent
    const again = await Spool.open(dir, { maxEntries: 10 });
    expect(again.list().map((e) => e.id)).toEqual(['msg_2', 'msg_3']);
    const { entry } = await again.append('msg_4', ev(4));
    expect(entry.seq).toBe(4);
  });

  it('deletes half-written tmp files and moves corrupt entries aside', async () => {
    writeFileSync(join(dir, `.${spoolFileName(1)}.tmp`), '{"v":1,');
    writeFileSync(join(dir, spoolFileName(2)), 'not json');
    writeFileSync(join(dir, 'README'), 'ignored');
    const s = await Spool.open(dir, { maxEntries: 10 });
    expect(s.depth).toBe(0);
    expect(s.corrupt).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['0000000000000002.json.corrupt', 'README']);
    expect((await s.append('m', ev(3))).entry.seq).toBe(3);
  });

  it('is bounded: drops the oldest info/warning first, then the oldest critical, never the protected one', async () => {
    const s = await Spool.open(dir, { maxEntries: 3 });
    await s.append('c1', ev(1, 'critical'));
    await s.append('w2', ev(2, 'warning'));
    await s.append('i3', ev(3, 'info'));
    let r = await s.append('c4', ev(4, 'critical'));
    expect(r.dropped.map((d) => d.id)).toEqual(['w2']);
    r = await s.append('c5', ev(5, 'critical'));
    expect(r.dropped.map((d) => d.id)).toEqual(['i3']);
    s.protect(s.peek()?.seq ?? null); // c1 is being sent
    r = await s.append('c6', ev(6, 'critical'));
    expect(r.dropped.map((d) => d.id)).toEqual(['c4']);
    expect(s.list().map((e) => e.id)).toEqual(['c1', 'c5', 'c6']);
    expect(s.dropped).toBe(3);
    expect(readdirSync(dir)).toHaveLength(3);
  });

  it('a failed write (ENOSPC) keeps the alert in memory, in order, and flush() writes it once the disk allows', async () => {
    const disk = faultyDisk();
    const s = await Spool.open(dir, { maxEntries: 10, writeFile: disk.write });
    await s.append('a', ev(1));
    disk.fail = 'ENOSPC';
    const r = await s.append('b', ev(2));
    expect(r.written).toBe(false);
    expect((await s.append('c', ev(3))).written).toBe(false);
    expect(s.list().map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect(s.degraded).toBe(true);
    expect(s.writeError).toBe('ENOSPC');
    expect(s.writeFailures).toBe(1); // c was not tried before b: files stay in order
    expect((await s.flush()).writable).toBe(false);
    expect(s.writeFailures).toBe(2);
    expect(readdirSync(dir)).toEqual([spoolFileName(1)]);
    disk.fail = null;
    expect((await s.flush()).writable).toBe(true);
    expect(s.degraded).toBe(false);
    expect(readdirSync(dir)).toEqual([spoolFileName(1), spoolFileName(2), spoolFileName(3)]);
    // delivering an entry that was held in memory removes its (now written) file
    const second = s.list()[1];
    if (!second) throw new Error('lost an entry');
    await s.remove(second);
    expect((await Spool.open(dir, { maxEntries: 10 })).list().map((e) => e.id)).toEqual(['a', 'c']);
  });

  it('a full spool writes the new alert before evicting, and a refused write evicts nothing', async () => {
    const disk = faultyDisk();
    const s = await Spool.open(dir, { maxEntries: 2, writeFile: disk.write });
    await s.append('w1', ev(1, 'warning'));
    await s.append('c2', ev(2, 'critical'));
    disk.fail = 'EIO';
    const r = await s.append('c3', ev(3, 'critical'));
    expect(r).toMatchObject({ written: false, dropped: [] });
    expect(readdirSync(dir)).toEqual([spoolFileName(1), spoolFileName(2)]); // nothing on disk was given up
    expect(s.list().map((e) => e.id)).toEqual(['w1', 'c2', 'c3']);
    disk.fail = null;
    const f = await s.flush();
    expect(f.writable).toBe(true);
    expect(f.dropped.map((d) => d.id)).toEqual(['w1']);
    expect(readdirSync(dir)).toEqual([spoolFileName(2), spoolFileName(3)]);
    // with a working disk the write comes first: order of operations is write, then unlink
    disk.ops.length = 0;
    const r2 = await s.append('c4', ev(4, 'critical'));
    expect(r2.dropped.map((d) => d.id)).toEqual(['c2']);
    expect(disk.ops[0]).toBe(`write ${spoolFileName(4)}`);
  });

  it('a half-written file does not survive a failed write', async () => {
    const s = await Spool.open(dir, { maxEntries: 10, writeFile: (d, n, data) => writeFileDurable(join(d, 'missing-subdir'), n, data) });
    expect((await s.append('a', ev(1))).written).toBe(false);
    expect(s.writeError).toBe('ENOENT');
    expect(readdirSync(dir)).toEqual([]);
  });
});

/** A durable write that fails with `fail` (an errno code) while it is set. */
function faultyDisk(): { write: WriteFile; fail: string | null; ops: string[] } {
  const disk = {
    fail: null as string | null,
    ops: [] as string[],
    write: (async (d, name, data) => {
      if (disk.fail !== null) throw Object.assign(new Error(`${disk.fail}: injected`), { code: disk.fail });
      disk.ops.push(`write ${name}`);
      await writeFileDurable(d, name, data);
    }) as WriteFile,
  };
  return disk;
}
