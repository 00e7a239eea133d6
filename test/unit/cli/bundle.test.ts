// The shipped binary is the esbuild bundle that `npm run build` (and so `npm ci`)
// writes (scripts/bundle.mjs, issue 19): the bin dist/cli/probe.cjs, which runs
// `probe options` from the one file dist/cli/options-cmd.cjs, `probe call|demo`
// from dist/cli/call-cmd.cjs and every other command from dist/cli/main.js +
// dist/cli/chunk-*.js.
// The rest of the suite runs src/ under tsx, so this file runs the bundle itself
// through the bin: a one-shot `probe options` against a UDP responder of the test,
// and `probe demo` (both call ends in the one process, with the udpio addon found
// from the chunks).
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const DIST = path.join(ROOT, 'dist', 'cli');
const MAIN = path.join(DIST, 'main.js');
const BIN = path.join(DIST, 'probe.cjs');
const ONE_FILES = ['options-cmd.cjs', 'call-cmd.cjs'].map((f) => path.join(DIST, f));
const ADDON = path.join(ROOT, 'native/udpio/build/Release/udpio.node');
const built = fs.existsSync(MAIN) || process.env.CI === 'true';

async function probe(args: string[], bin = BIN): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [bin, ...args], { cwd: ROOT, timeout: 40_000 });
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

  it('options-cmd.cjs and call-cmd.cjs are ASCII CommonJS that need only node builtins and pino (no chunk, no main.js)', () => {
    for (const file of ONE_FILES) {
      const name = path.basename(file);
      const text = fs.readFileSync(file, 'utf8');
      expect(text, name).not.toMatch(/(?:^|\n)\s*(?:import|export)\b/);
      for (const m of text.matchAll(/\bimport\(\s*["']([^"']*)["']/g)) expect(m[1], `${name} imports`).toMatch(/^node:/);
      expect(text, name).not.toMatch(/[^\p{ASCII}]/u);
      const required = new Set([...text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]));
      expect(required.size).toBeGreaterThan(0);
      for (const spec of required) expect(isBuiltin(spec ?? '') || spec === 'pino', `${name} requires ${spec}`).toBe(true);
    }
  });

  it('runs a one-shot `probe options` against a local responder (exit 0, 200 OK, one OPTIONS sent), through the bin and through main.js alike', async () => {
    for (const bin of [BIN, MAIN]) {
      const before = seen.length;
      const r = await probe(['options', `sip:127.0.0.1:${port}`, '--json', '--timeout', '10s'], bin);
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { success: boolean; sip: { final_status: number } };
      expect(result.success).toBe(true);
      expect(result.sip.final_status).toBe(200);
      expect(seen.slice(before)).toEqual([`OPTIONS sip:127.0.0.1:${port} SIP/2.0`]);
    }
  });

  it('`probe options`, `demo` and `call` through the bin need only probe.cjs and their one file (main.js and the chunks removed), and say the same as main.js', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-bin-'));
    try {
      fs.mkdirSync(path.join(dir, 'dist', 'cli'), { recursive: true });
      for (const f of [BIN, ...ONE_FILES]) fs.copyFileSync(f, path.join(dir, 'dist', 'cli', path.basename(f)));
      fs.symlinkSync(path.join(ROOT, 'native'), path.join(dir, 'native'));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      const alone = path.join(dir, 'dist', 'cli', 'probe.cjs');
      const before = seen.length;
      const ok = await probe(['options', `sip:127.0.0.1:${port}`, '--timeout', '10s'], alone);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(new RegExp(`^OPTIONS sip:127.0.0.1:${port} over udp: OK \\(200 OK\\)\n`));
      expect(seen.length - before).toBe(1);
      if (fs.existsSync(ADDON)) expect(fs.existsSync(path.join(dir, 'native/udpio/build/Release/udpio.node'))).toBe(true);
      const demo = await probe(['demo', '--duration', '1s', '--json'], alone);
      expect(demo.code, demo.stderr).toBe(0);
      expect(demo.stdout).toMatch(/"packets_received": [1-9]\d*/);
      // help, usage errors and bad flag values: the same words and exit codes as the full program
      for (const args of [
        ['options', '--help'],
        ['options'],
        ['options', 'sip:127.0.0.1:5060', '--transport', 'sctp'],
        ['options', 'sip:127.0.0.1:5060', '--bogus'],
        ['demo', '--help'],
        ['call', '--help'],
        ['call'],
        ['demo', '--duration', 'nope'],
      ]) {
        const [a, b] = [await probe(args, alone), await probe(args, MAIN)];
        expect({ args, code: a.code, stdout: a.stdout, stderr: a.stderr }).toEqual({ args, code: b.code, stdout: b.stdout, stderr: b.stderr });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

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

  it('answers `probe --help` and a usage error with exit 2 (through the bin, which imports main.js)', async () => {
    const help = await probe(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/probe demo/);
    const bad = await probe(['options']);
    expect(bad.code).toBe(2);
  });
});
