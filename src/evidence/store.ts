// The agent's evidence files: the last `keep` pcaps per probe under
// <state_dir>/evidence/<probe>/<run>.pcap, all of them together under
// `maxBytes` (oldest deleted first, across probes). Writes are synchronous:
// one file of a few hundred kB per failed run, from the run's report, before
// the alert that links it goes out. A write that fails (full disk) deletes
// its partial file and returns undefined: no link is better than a broken one.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';

export interface EvidenceStoreOptions {
  /** Directory that holds one subdirectory per probe (created). */
  dir: string;
  keep: number;
  maxBytes: number;
}

export interface StoredEvidence {
  probe: string;
  run: string;
  /** `/evidence/<probe>/<run>.pcap` (put a base URL in front). */
  path: string;
  bytes: number;
}

interface Entry {
  dir: string;
  run: string;
  bytes: number;
}

const SAFE = /^[A-Za-z0-9._-]{1,100}$/;
const RUN = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** A probe name as a directory / URL segment: kept when already safe, else cleaned + a hash suffix. */
export function probeDirName(probe: string): string {
  if (SAFE.test(probe) && probe !== '.' && probe !== '..') return probe;
  const clean = probe.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_').slice(0, 80);
  return `${clean}-${createHash('sha256').update(probe).digest('hex').slice(0, 8)}`;
}

/** Sortable run id: UTC time to the millisecond + random, e.g. 20261203T171503123Z-a1b2c3. */
export function newRunId(now = new Date()): string {
  const iso = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${iso.slice(0, 15)}${iso.slice(15, 18)}Z-${randomBytes(3).toString('hex')}`;
}

export class EvidenceStore {
  /** Per probe directory: runs oldest first. */
  private readonly index = new Map<string, Entry[]>();
  private total = 0;

  constructor(private readonly opts: EvidenceStoreOptions) {
    // Nothing is created before the first file: an agent whose probes never fail leaves no trace.
    let dirs: string[];
    try {
      dirs = readdirSync(opts.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const dir of dirs) {
      if (!SAFE.test(dir)) continue;
      let files: string[];
      try {
        files = readdirSync(join(opts.dir, dir));
      } catch {
        continue;
      }
      const entries: Entry[] = [];
      for (const f of files.sort()) {
        const run = f.endsWith('.pcap') ? f.slice(0, -5) : '';
        if (!RUN.test(run)) continue;
        const bytes = statSync(join(opts.dir, dir, f)).size;
        entries.push({ dir, run, bytes });
        this.total += bytes;
      }
      if (entries.length > 0) this.index.set(dir, entries);
    }
    this.prune();
  }

  /** Bytes of all evidence files now. */
  get bytes(): number {
    return this.total;
  }

  /** Runs kept for a probe, oldest first. */
  runs(probe: string): string[] {
    return (this.index.get(probeDirName(probe)) ?? []).map((e) => e.run);
  }

  /** Writes one run's pcap and prunes; undefined when it could not be written. */
  save(probe: string, data: Buffer, run = newRunId()): StoredEvidence | undefined {
    const dir = probeDirName(probe);
    const file = join(this.opts.dir, dir, `${run}.pcap`);
    try {
      mkdirSync(join(this.opts.dir, dir), { recursive: true });
      writeFileSync(file, data);
    } catch {
      try {
        rmSync(file, { force: true });
      } catch {
        // nothing was written there
      }
      return undefined;
    }
    const list = this.index.get(dir) ?? [];
    list.push({ dir, run, bytes: data.length });
    this.index.set(dir, list);
    this.total += data.length;
    this.prune();
    if (!this.runs(probe).includes(run)) return undefined; // larger than the whole bound
    return { probe: dir, run, path: `/evidence/${dir}/${run}.pcap`, bytes: data.length };
  }

  /** The bytes of a stored run, or undefined (unknown names never touch the file system). */
  read(probeDir: string, run: string): Buffer | undefined {
    if (!SAFE.test(probeDir) || !RUN.test(run)) return undefined;
    if (!this.index.get(probeDir)?.some((e) => e.run === run)) return undefined;
    try {
      return readFileSync(join(this.opts.dir, probeDir, `${run}.pcap`));
    } catch {
      return undefined;
    }
  }

  /** Oldest first: beyond `keep` per probe, then beyond `maxBytes` overall. */
  private prune(): void {
    for (const list of this.index.values()) {
      while (list.length > this.opts.keep) this.remove(list);
    }
    while (this.total > this.opts.maxBytes) {
      let oldest: Entry[] | undefined;
      for (const list of this.index.values()) {
        const head = list[0];
        if (head && (!oldest || head.run < (oldest[0] as Entry).run)) oldest = list;
      }
      if (!oldest) break;
      this.remove(oldest);
    }
  }

  private remove(list: Entry[]): void {
    const e = list.shift();
    if (!e) return;
    this.total -= e.bytes;
    try {
      unlinkSync(join(this.opts.dir, e.dir, `${e.run}.pcap`));
    } catch {
      // already gone: the index was the only holder
    }
    if (list.length === 0) this.index.delete(e.dir);
  }
}
