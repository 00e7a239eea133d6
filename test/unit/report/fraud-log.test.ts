import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FraudEvent } from '../../../src/analytics/fraud/types.js';
import { FraudLogWriter } from '../../../src/report/fraud-log.js';

const ev = (ip: string): FraudEvent => ({
  rule: 'brute_force',
  severity: 'critical',
  at: Date.parse('2026-12-03T17:00:00Z'),
  evidence: { ip, count: 10, window_s: 60 },
  message: '',
});
const srcs = (p: string) => [...readFileSync(p, 'utf8').matchAll(/ src=(\S+)/g)].map((m) => m[1]);

describe('FraudLogWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callprobe-fraudlog-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates missing parent directories and appends to an existing file', async () => {
    const p = join(dir, 'sub', 'fraud.log');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(p, 'older line\n');
    const w = new FraudLogWriter({ path: p, pid: 1 });
    w.write(ev('192.0.2.1'));
    await w.close();
    expect(readFileSync(p, 'utf8')).toMatch(/^older line\n2026-12-03T17:00:00.000Z callprobe\[1\]: FRAUD rule=brute_force src=192.0.2.1 /);
    const q = join(dir, 'a', 'b', 'fraud.log');
    const w2 = new FraudLogWriter({ path: q });
    w2.write(ev('192.0.2.2'));
    await w2.close();
    expect(srcs(q)).toEqual(['192.0.2.2']);
  });

  it('follows a logrotate rename: the next line goes to a new file at the path', async () => {
    const p = join(dir, 'fraud.log');
    const w = new FraudLogWriter({ path: p });
    w.write(ev('192.0.2.1'));
    await w.flush();
    renameSync(p, `${p}.1`);
    w.write(ev('192.0.2.2'));
    await w.flush();
    // logrotate `create`: an empty file already waits at the path
    renameSync(p, `${p}.2`);
    writeFileSync(p, '');
    w.write(ev('192.0.2.3'));
    await w.close();
    expect(srcs(`${p}.1`)).toEqual(['192.0.2.1']);
    expect(srcs(`${p}.2`)).toEqual(['192.0.2.2']);
    expect(srcs(p)).toEqual(['192.0.2.3']);
  });

  it('recreates a deleted file, and reopen() (SIGHUP) closes the old one at once', async () => {
    const p = join(dir, 'fraud.log');
    const w = new FraudLogWriter({ path: p });
    w.write(ev('192.0.2.1'));
    await w.flush();
    unlinkSync(p);
    w.write(ev('192.0.2.2'));
    await w.flush();
    expect(srcs(p)).toEqual(['192.0.2.2']);
    renameSync(p, `${p}.1`);
    await w.reopen();
    expect(existsSync(p)).toBe(false);
    w.write(ev('192.0.2.3'));
    await w.close();
    expect(srcs(`${p}.1`)).toEqual(['192.0.2.2']);
    expect(srcs(p)).toEqual(['192.0.2.3']);
  });

  it('reports an unwritable path without throwing, and writes again once it is writable', async () => {
    const p = join(dir, 'ro', 'fraud.log');
    mkdirSync(join(dir, 'ro'));
    // a directory where the file should be: EISDIR for root too
    mkdirSync(p);
    const errors: unknown[] = [];
    const w = new FraudLogWriter({ path: p, onError: (e) => errors.push(e) });
    w.write(ev('192.0.2.1'));
    w.write(ev('192.0.2.2'));
    await w.flush();
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['EISDIR', 'EISDIR']);
    rmSync(p, { recursive: true });
    chmodSync(join(dir, 'ro'), 0o755);
    w.write(ev('192.0.2.3'));
    await w.close();
    expect(srcs(p)).toEqual(['192.0.2.3']);
  });
});
