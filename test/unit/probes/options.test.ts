import dgram from 'node:dgram';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseTransport, register as registerOptionsCommand, renderSipResult } from '../../../src/cli/options.js';
import { createLogger } from '../../../src/log.js';
import { probeOptions, toFailure } from '../../../src/probes/options.js';
import { UserAgent } from '../../../src/sip/ua.js';

const ctx = (signal = new AbortController().signal) => ({ logger: createLogger('silent'), signal });
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function answeringUa(): Promise<UserAgent> {
  const ua = await UserAgent.create({ server: 'sip:127.0.0.1:9', localAddress: '127.0.0.1' });
  cleanups.push(() => ua.close());
  return ua;
}

async function silentPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanups.push(() => s.close());
  return s.address().port;
}

describe('probeOptions', () => {
  it('succeeds on 200 with dns/connect/request timings', async () => {
    const peer = await answeringUa();
    const r = await probeOptions(ctx(), { target: `sip:127.0.0.1:${peer.localPort}`, timeoutMs: 2000 });
    expect(r).toMatchObject({ probe: 'options', success: true, status: 200, transport: 'udp', failures: [] });
    expect(Object.keys(r.timings_ms as object)).toEqual(['dns', 'connect', 'request']);
  });

  it('a silent server fails in the options phase with Timer F', async () => {
    const port = await silentPort();
    const r = await probeOptions(ctx(), { target: `127.0.0.1:${port}`, timeoutMs: 600 });
    expect(r.success).toBe(false);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ check: 'options_response', phase: 'options' });
    expect(r.failures[0]?.message).toMatch(/^no response \(Timer F\)/);
  });

  it('an unresolvable host fails in the dns phase; an abort ends the wait early', async () => {
    const r = await probeOptions(ctx(), { target: 'sip:nonexistent.invalid', timeoutMs: 500 });
    expect(r.failures[0]).toMatchObject({ phase: 'dns' });
    const port = await silentPort();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = performance.now();
    const aborted = await probeOptions(ctx(ac.signal), { target: `sip:127.0.0.1:${port}`, timeoutMs: 10_000 });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(aborted.success).toBe(false);
    expect(aborted.failures[0]?.message).toMatch(/^aborted/);
  });

  it('maps transport failures to their own phase and check', () => {
    expect(toFailure({ phase: 'tls', code: 'ETLS', message: 'x' }, 'options', 'options_response')).toEqual({ check: 'tls', phase: 'tls', message: 'x' });
    expect(toFailure({ phase: 'request', code: 'ETIMEOUT', message: 'y' }, 'register', 'register_response')).toEqual({ check: 'register_response', phase: 'register', message: 'y' });
  });
});

describe('probe options CLI', () => {
  async function run(args: string[]): Promise<{ code: unknown; out: string }> {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
    const p = new Command().exitOverride();
    registerOptionsCommand(p);
    await p.parseAsync(['node', 'probe', ...args]);
    vi.restoreAllMocks();
    return { code: process.exitCode, out };
  }

  it('exit 0 and phase lines on success, exit 1 on failure, exit 2 on a bad flag', async () => {
    const peer = await answeringUa();
    const ok = await run(['options', `sip:127.0.0.1:${peer.localPort}`, '--timeout', '2s']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/OK \(200 OK\)/);
    expect(ok.out).toMatch(/request\s+\d+\.\d ms/);
    const port = await silentPort();
    const bad = await run(['options', `sip:127.0.0.1:${port}`, '--timeout', '500ms', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out)).toMatchObject({ success: false, failures: [{ phase: 'options' }] });
    const usage = await run(['options', 'sip:127.0.0.1', '--transport', 'sctp']);
    expect(usage.code).toBe(2);
    expect(usage.out).toContain('--transport');
    const missingCa = await run(['options', 'sips:127.0.0.1', '--ca', '/nonexistent/ca.pem']);
    expect(missingCa.code).toBe(2);
  });

  it('parseTransport and renderSipResult', () => {
    expect(parseTransport('TLS')).toBe('tls');
    expect(parseTransport(undefined)).toBeUndefined();
    expect(() => parseTransport('ws')).toThrow(/udp, tcp, tls/);
    const text = renderSipResult(
      { probe: 'register', success: false, transport: 'udp', status: 401, reason: 'Unauthorized', attempts: 2, timings_ms: { dns: 0, connect: 0, request: 3.25 }, sip: { final_status: 401, reason: 'Unauthorized', timings_ms: { dns: 0, connect: 0, request: 3.25 } }, failures: [{ check: 'credentials', phase: 'register', message: 'credentials for 1001@r rejected twice (401)' }] },
      'REGISTER 1001',
    );
    expect(text.split('\n')[0]).toBe('REGISTER 1001 over udp: FAILED (401 Unauthorized)');
    expect(text).toMatch(/\n {2}request +3\.[23] ms\n/);
    expect(text).toContain('requests sent: 2');
    expect(text).toContain('failure [register] credentials: credentials for 1001@r rejected twice (401)');
  });
});
