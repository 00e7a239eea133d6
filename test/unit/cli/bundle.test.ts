// The shipped binary is the esbuild bundle that `npm run build` (and so `npm ci`)
// writes: dist/cli/main.js + dist/cli/chunk-*.js (scripts/bundle.mjs, issue 19).
// The rest of the suite runs src/ under tsx, so this file runs the bundle itself:
// a one-shot `probe options` against a UDP responder of the test, and `probe demo`
// (both call ends in the one process, with the udpio addon found from the chunks).
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const DIST = path.join(ROOT, 'dist', 'cli');
const MAIN = path.join(DIST, 'main.js');
const ADDON = path.join(ROOT, 'native/udpio/build/Release/udpio.node');
const built = fs.existsSync(MAIN) || process.env.CI === 'true';

async function probe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: 40_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe.runIf(built)('the bundled CLI (dist/cli)', () => {
  let responder: dgram.Socket;
  let port = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    responder = dgram.createSocket('udp4');
    responder.on('message', (msg, r) => {
      const text = msg.toString('latin1');
      seen.push(text.split('\r\n')[0] ?? '');
      const keep = text.split('\r\n').filter((l) => /^(via|from|to|call-id|cseq):/i.test(l));
      responder.send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'), r.port, r.address);
    });
    await new Promise<void>((resolve) => responder.bind(0, '127.0.0.1', resolve));
    port = responder.address().port;
  });
  afterAll(() => responder.close());

  it('is a bundle: main.js and its chunks import nothing but each other and node builtins (pino is required at run time by log.ts)', () => {
    const files = fs.readdirSync(DIST).filter((f) => f === 'main.js' || (f.startsWith('chunk-') && f.endsWith('.js')));
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) {
      const text = fs.readFileSync(path.join(DIST, f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*["']([^"']+)["']|(?:^|\n)import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? '';
        expect(/^node:|^\.\/chunk-[\w-]+\.js$/.test(spec), `${f} imports ${spec}`).toBe(true);
      }
    }
  });

  it('runs a one-shot `probe options` against a local responder (exit 0, 200 OK, one OPTIONS sent)', async () => {
    const before = seen.length;
    const r = await probe(['options', `sip:127.0.0.1:${port}`, '--json', '--timeout', '10s']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { success: boolean; sip: { final_status: number } };
    expect(result.success).toBe(true);
    expect(result.sip.final_status).toBe(200);
    expect(seen.slice(before)).toEqual([`OPTIONS sip:127.0.0.1:${port} SIP/2.0`]);
  });

  it('runs `probe demo`: a call with RTP both ways, kernel timestamps when the addon is built', async () => {
    const r = await probe(['demo', '--duration', '1s', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { success: boolean; media?: { arrival_timestamps?: string; streams?: Array<{ packets_received: number }> } };
    expect(out.success).toBe(true);
    expect(r.stdout).toMatch(/"packets_received": [1-9]\d*/);
    if (fs.existsSync(ADDON)) expect(r.stdout).toContain('"arrival_timestamps": "kernel"');
  });

  it('validates a config with zod\'s English messages (zod is tree-shaken in the bundle, its locale kept)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-bundle-'));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'pbx: { uri: 5, trasport: udp }\n');
    const r = await probe(['config', 'check', file]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('pbx.uri: Invalid input: expected string, received number (line 1)');
    expect(r.stderr + r.stdout).toContain('pbx.trasport: unknown key (line 1)');
  });

  it('answers `probe --help` and a usage error with exit 2', async () => {
    const help = await probe(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/probe demo/);
    const bad = await probe(['options']);
    expect(bad.code).toBe(2);
  });
});
