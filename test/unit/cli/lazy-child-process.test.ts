import * as childProcess from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { withLazyChildProcess } from '../../../src/cli/lazy-child-process.js';

const req = createRequire(import.meta.url);

describe('withLazyChildProcess', () => {
  it('hands out a stand-in while loading whose functions are the real ones', async () => {
    const real = req('node:child_process') as typeof childProcess;
    const seen = await withLazyChildProcess(async () => req('node:child_process') as typeof childProcess);
    expect(seen).not.toBe(real);
    expect(typeof seen.spawn).toBe('function');
    expect('spawnSync' in seen).toBe(true);
    const r = seen.spawnSync(process.execPath, ['-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ok');
  });

  it('defers nothing else and restores require afterwards, also when loading fails', async () => {
    const path = await withLazyChildProcess(async () => req('node:path') as unknown);
    expect(path).toBe(req('node:path'));
    await expect(withLazyChildProcess(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(req('node:child_process')).toBe(req('child_process'));
    expect((req('node:child_process') as typeof childProcess).spawn).toBe(childProcess.spawn);
  });
});
