import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertEvent } from './fixtures.js';
import { Spool, spoolFileName } from '../../../src/report/spool.js';

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
});
