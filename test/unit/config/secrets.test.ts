import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSecret } from '../../../src/config/secrets.js';

describe('resolveSecret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-sec-'));
  writeFileSync(join(dir, 'pw'), 'abc\n');
  writeFileSync(join(dir, 'empty'), '');

  it('reads env: references', () => {
    expect(resolveSecret('env:X', { env: { X: 'v' }, baseDir: '/' })).toEqual({ ok: true, value: 'v' });
    expect(resolveSecret('env:X', { env: {}, baseDir: '/' })).toEqual({ ok: false, message: 'environment variable X is not set' });
    expect(resolveSecret('env:1X', { env: {}, baseDir: '/' }).ok).toBe(false);
  });

  it('reads file: references, stripping one trailing newline', () => {
    expect(resolveSecret(`file:${join(dir, 'pw')}`, { env: {}, baseDir: '/' })).toEqual({ ok: true, value: 'abc' });
    expect(resolveSecret('file:pw', { env: {}, baseDir: dir })).toEqual({ ok: true, value: 'abc' });
    expect(resolveSecret('file:pw', { env: { CREDENTIALS_DIRECTORY: dir }, baseDir: '/nonexistent' })).toEqual({ ok: true, value: 'abc' });
    expect(resolveSecret(`file:${join(dir, 'empty')}`, { env: {}, baseDir: '/' }).ok).toBe(false);
    expect(resolveSecret('file:/nonexistent/x', { env: {}, baseDir: '/' })).toEqual({ ok: false, message: 'file /nonexistent/x not readable (ENOENT)' });
  });

  it('reports permission errors by code', () => {
    if (process.getuid?.() === 0) return; // root reads anything
    const p = join(dir, 'locked');
    writeFileSync(p, 'x');
    chmodSync(p, 0);
    expect(resolveSecret(`file:${p}`, { env: {}, baseDir: '/' })).toEqual({ ok: false, message: `file ${p} not readable (EACCES)` });
  });

  it('passes literals through', () => {
    expect(resolveSecret('lab1001pw', { env: {}, baseDir: '/' })).toEqual({ ok: true, value: 'lab1001pw' });
  });
});
