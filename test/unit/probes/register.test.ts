import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { passwordFor, register as registerRegisterCommand } from '../../../src/cli/register.js';
import { createLogger } from '../../../src/log.js';
import { probeRegister } from '../../../src/probes/register.js';
import { startFakeRegistrar } from '../sip/fake-registrar.js';

const ctx = () => ({ logger: createLogger('silent'), signal: new AbortController().signal });
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function registrar() {
  const reg = await startFakeRegistrar({ '1001': 'pw1001' });
  cleanups.push(() => reg.close());
  return reg;
}

describe('probeRegister', () => {
  it('registers with digest and reports attempts, contact, expires and timings', async () => {
    const reg = await registrar();
    const r = await probeRegister(ctx(), { server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'pw1001', expires: 90, timeoutMs: 2000 });
    expect(r).toMatchObject({ probe: 'register', success: true, status: 200, attempts: 2, expires: 90, action: 'register', failures: [] });
    expect(String(r.contact)).toMatch(/^<sip:1001@127\.0\.0\.1:\d+;callprobe=[0-9a-f-]{36}>$/);
    expect(Object.keys(r.timings_ms as object)).toEqual(['dns', 'connect', 'request']);
  });

  it('wrong password: failure names user and realm, 2 REGISTERs', async () => {
    const reg = await registrar();
    const r = await probeRegister(ctx(), { server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'nope', timeoutMs: 2000 });
    expect(r.success).toBe(false);
    expect(r.failures).toEqual([{ check: 'credentials', phase: 'register', message: 'credentials for 1001@127.0.0.1 rejected twice (401)', expected: '2xx', actual: 401 }]);
    expect(reg.requests).toHaveLength(2);
  });

  it('no password configured: a clear failure after one REGISTER', async () => {
    const reg = await registrar();
    const r = await probeRegister(ctx(), { server: `sip:127.0.0.1:${reg.port}`, user: '1001', timeoutMs: 2000 });
    expect(r.failures[0]?.message).toContain('none are configured for 1001');
    expect(reg.requests).toHaveLength(1);
  });

  // unregister (own binding only) is tested in test/unit/sip/unregister.test.ts
  it('unregisterAll removes every binding with Contact: * and Expires: 0', async () => {
    const reg = await registrar();
    const r = await probeRegister(ctx(), { server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'pw1001', unregisterAll: true, timeoutMs: 2000 });
    expect(r).toMatchObject({ success: true, action: 'unregister-all', contact: '*' });
    const last = reg.requests.at(-1);
    expect(last?.headers.get('contact')).toBe('*');
    expect(last?.headers.get('expires')).toBe('0');
  });
});

describe('probe register CLI', () => {
  it('passwordFor: --password-env must exist; CALLPROBE_<EXT>_PASSWORD is the default', () => {
    expect(passwordFor('1001', undefined, { CALLPROBE_1001_PASSWORD: 'a' })).toBe('a');
    expect(passwordFor('alice.b', undefined, { CALLPROBE_ALICE_B_PASSWORD: 'b' })).toBe('b');
    expect(passwordFor('1001', undefined, {})).toBeUndefined();
    expect(passwordFor('1001', 'PW', { PW: 'c' })).toBe('c');
    expect(() => passwordFor('1001', 'PW', {})).toThrow(/PW is not set/);
  });

  it('runs end to end through commander with exit codes 0 and 1', async () => {
    const reg = await registrar();
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
    process.env.H2_TEST_PW = 'pw1001';
    const run = async (args: string[]) => {
      const p = new Command().exitOverride();
      registerRegisterCommand(p);
      await p.parseAsync(['node', 'probe', 'register', '1001', '--server', `sip:127.0.0.1:${reg.port}`, ...args]);
      const code = process.exitCode;
      process.exitCode = undefined;
      return code;
    };
    expect(await run(['--password-env', 'H2_TEST_PW', '--timeout', '2s'])).toBe(0);
    expect(out).toContain('REGISTER 1001 at');
    process.env.H2_TEST_PW = 'wrong';
    out = '';
    expect(await run(['--password-env', 'H2_TEST_PW', '--json'])).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ success: false, attempts: 2 });
    delete process.env.H2_TEST_PW;
  });
});
