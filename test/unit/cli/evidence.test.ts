// `--trace` / `--pcap` through the shipped command (`probe options`), against a
// UDP responder on 127.0.0.1 that answers OPTIONS with 200.
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { programFor } from '../../../src/cli/program.js';

let server: dgram.Socket;
let port = 0;
const dir = mkdtempSync(join(tmpdir(), 'callprobe-evidence-'));

beforeAll(async () => {
  server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const text = msg.toString('latin1');
    const head = (name: string): string => new RegExp(`^${name}:.*$`, 'im').exec(text)?.[0] ?? '';
    const reply = `SIP/2.0 200 OK\r\n${head('Via')}\r\n${head('From')}\r\n${head('To')};tag=x\r\n${head('Call-ID')}\r\n${head('CSeq')}\r\nContent-Length: 0\r\n\r\n`;
    server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  port = server.address().port;
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => out.push(String(s)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => err.push(String(s)) > 0);
  const argv = ['node', 'probe', ...args];
  await (await programFor(argv)).parseAsync(argv);
  vi.restoreAllMocks();
  return { out: out.join(''), err: err.join(''), code: typeof process.exitCode === 'number' ? process.exitCode : undefined };
}

describe('--trace and --pcap (probe options)', () => {
  it('prints the ladder after the result, plain off a TTY, and writes a pcap of both messages', async () => {
    const pcap = join(dir, 'options.pcap');
    const r = await run('options', `sip:127.0.0.1:${port}`, '--timeout', '2s', '--pcap', pcap, '--trace');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/OPTIONS .*: OK[\s\S]*SIP trace \(2 messages/);
    expect(r.out).toMatch(/→ 127\.0\.0\.1:\d+\s+udp\s+OPTIONS\s+CSeq 1 OPTIONS/);
    expect(r.out).toMatch(/← 127\.0\.0\.1:\d+\s+udp\s+200 OK\s+CSeq 1 OPTIONS/);
    expect(r.out).not.toContain('\x1b[');
    const file = readFileSync(pcap);
    expect(file.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(file.toString('latin1')).toContain('SIP/2.0 200 OK');
  });

  it('--trace=full with --json: JSON alone on stdout, ladder and messages on stderr', async () => {
    const r = await run('options', `sip:127.0.0.1:${port}`, '--timeout', '2s', '--json', '--trace=full');
    expect(JSON.parse(r.out)).toMatchObject({ success: true, status: 200 });
    expect(r.err).toContain('SIP trace (2 messages');
    expect(r.err).toMatch(/^OPTIONS sip:127\.0\.0\.1:\d+ SIP\/2\.0$/m);
  });

  it('rejects a mode that is not one and a pcap path that cannot be written (exit 2) before sending anything', async () => {
    const bad = await run('options', `sip:127.0.0.1:${port}`, '--trace=bogus');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--trace: "bogus" is not a trace mode');
    const noDir = await run('options', `sip:127.0.0.1:${port}`, '--pcap', join(dir, 'missing', 'x.pcap'));
    expect(noDir.code).toBe(2);
    expect(noDir.err).toMatch(/--pcap: cannot write .*ENOENT/);
  });
});
