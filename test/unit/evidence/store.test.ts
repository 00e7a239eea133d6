import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EvidenceStore, newRunId, probeDirName } from '../../../src/evidence/store.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'callprobe-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Bytes of every file under dir, as the disk sees them. */
function diskBytes(dir: string): number {
  let n = 0;
  for (const sub of readdirSync(dir)) for (const f of readdirSync(join(dir, sub))) n += statSync(join(dir, sub, f)).size;
  return n;
}

let clock = Date.parse('2026-12-03T10:00:00Z');
const nextRun = (): string => newRunId(new Date((clock += 1000)));

describe('EvidenceStore', () => {
  it('keeps the last `keep` runs per probe, deleting the oldest first', () => {
    const dir = tmp();
    const store = new EvidenceStore({ dir, keep: 3, maxBytes: 10_000_000 });
    const runs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const saved = store.save('call-1001', Buffer.alloc(100, i), nextRun());
      expect(saved?.path).toMatch(/^\/evidence\/call-1001\/\d{8}T\d{9}Z-[0-9a-f]{6}\.pcap$/);
      runs.push(saved?.run ?? '');
    }
    expect(store.runs('call-1001')).toEqual(runs.slice(2));
    expect(readdirSync(join(dir, 'call-1001')).sort()).toEqual(runs.slice(2).map((r) => `${r}.pcap`));
    expect(store.read('call-1001', runs[4] ?? '')?.[0]).toBe(4);
    expect(store.read('call-1001', runs[0] ?? '')).toBeUndefined();
  });

  it('stays under max_bytes on disk over 200 failing runs of 3 probes, and under keep per probe', () => {
    const dir = tmp();
    const maxBytes = 1_000_000;
    const store = new EvidenceStore({ dir, keep: 50, maxBytes });
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      const size = 15_000 + ((i * 7919) % 20_000);
      expect(store.save(`probe-${i % 3}`, Buffer.alloc(size, 1), nextRun())).toBeDefined();
      const bytes = diskBytes(dir);
      peak = Math.max(peak, bytes);
      expect(bytes).toBe(store.bytes);
      for (let p = 0; p < 3; p++) expect(store.runs(`probe-${p}`).length).toBeLessThanOrEqual(50);
    }
    expect(peak).toBeLessThanOrEqual(maxBytes);
    // the bound, not keep, limited it: the newest runs of every probe are there
    expect(store.runs('probe-2').length).toBeGreaterThan(5);
    // a restarted agent finds the same files and the same bound
    const again = new EvidenceStore({ dir, keep: 10, maxBytes });
    for (let p = 0; p < 3; p++) expect(again.runs(`probe-${p}`)).toEqual(store.runs(`probe-${p}`).slice(-10));
    expect(diskBytes(dir)).toBe(again.bytes);
  });

  it('refuses names that are not its own (no path traversal) and cleans probe names', () => {
    const dir = tmp();
    const store = new EvidenceStore({ dir, keep: 5, maxBytes: 10_000_000 });
    writeFileSync(join(dir, 'secret.txt'), 'x');
    expect(store.read('..', 'secret')).toBeUndefined();
    expect(store.read('call', '../../secret.txt')).toBeUndefined();
    expect(store.read('call', '20261203T100000000Z-000000')).toBeUndefined();
    expect(probeDirName('call 1001→1002/x')).toMatch(/^call_1001_1002_x-[0-9a-f]{8}$/);
    expect(probeDirName('..')).not.toBe('..');
    const saved = store.save('call 1001/x', Buffer.from('pcap'));
    expect(saved && store.read(saved.probe, saved.run)?.toString()).toBe('pcap');
  });

  it('creates nothing on disk before the first file', () => {
    const dir = join(tmp(), 'state', 'evidence');
    const store = new EvidenceStore({ dir, keep: 5, maxBytes: 10_000_000 });
    expect(existsSync(dir)).toBe(false);
    expect(store.save('p', Buffer.from('x'))).toBeDefined();
    expect(readdirSync(join(dir, 'p'))).toHaveLength(1);
  });

  it('a failed write (a file where the probe directory should be) gives no link and leaves nothing behind', () => {
    const dir = tmp();
    const store = new EvidenceStore({ dir, keep: 5, maxBytes: 10_000_000 });
    writeFileSync(join(dir, 'blocked'), 'not a directory');
    expect(store.save('blocked', Buffer.alloc(10))).toBeUndefined();
    expect(store.bytes).toBe(0);
    // a file larger than the whole bound is not kept either
    const small = new EvidenceStore({ dir: tmp(), keep: 5, maxBytes: 1_000_000 });
    expect(small.save('huge', Buffer.alloc(1_000_001))).toBeUndefined();
    expect(small.bytes).toBe(0);
  });
});
