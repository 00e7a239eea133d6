// `probe agent` as a process: a broken config exits 2 with every error and
// never listens; SIGTERM on a running agent exits 0.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeTcpPort } from '../../lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../../..');

function startAgent(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

describe('probe agent (process)', () => {
  it('exits 2 before listening when the config is invalid, listing every error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-agent-cli-'));
    const port = await freeTcpPort();
    writeFileSync(join(dir, 'callprobe.yaml'), `pbx: { uri: "sip:x", trasport: udp }\nlisten: { metrics: "127.0.0.1:${port}" }\nprobes_dir: nowhere\n`);
    const a = startAgent(['--config', join(dir, 'callprobe.yaml')]);
    expect(await a.exited).toBe(2);
    expect(a.stderr()).toMatch(/invalid configuration/);
    expect(a.stderr()).toMatch(/pbx\.trasport: unknown key \(line 1\)/);
    expect(a.stderr()).not.toMatch(/listening/);
  });

  it('runs, then exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-agent-cli-'));
    const port = await freeTcpPort();
    mkdirSync(join(dir, 'probes'));
    writeFileSync(join(dir, 'probes', 'p.yaml'), 'probes:\n  - { name: c, kind: cert, targets: ["/nonexistent/cert.pem"], interval: 1h }\n');
    writeFileSync(join(dir, 'callprobe.yaml'), `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "127.0.0.1:${port}" }\nprobes_dir: probes\nstate_dir: ${JSON.stringify(dir)}\n`);
    const a = startAgent(['--config', join(dir, 'callprobe.yaml'), '--log-level', 'warn']);
    for (let i = 0; i < 200 && !a.stderr().includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`http://127.0.0.1:${port}/-/ready`)).status).toBe(200);
    const t0 = Date.now();
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('keeps log lines the same length run after run: 3 probes at 1 s (issue 21.3)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-agent-cli-'));
    const port = await freeTcpPort();
    mkdirSync(join(dir, 'probes'));
    const probes = ['a', 'b', 'c'].map((n) => `  - { name: ${n}, kind: cert, targets: ["/nonexistent/${n}.pem"], interval: 1s }`);
    writeFileSync(join(dir, 'probes', 'p.yaml'), `probes:\n${probes.join('\n')}\n`);
    writeFileSync(join(dir, 'callprobe.yaml'), `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "127.0.0.1:${port}" }\nprobes_dir: probes\nstate_dir: ${JSON.stringify(dir)}\n`);
    const a = startAgent(['--config', join(dir, 'callprobe.yaml'), '--log-level', 'debug']);
    const finished = () => a.stderr().split('\n').filter((l) => l.includes('"msg":"probe finished"'));
    for (let i = 0; i < 200 && finished().length < 9; i++) await new Promise((r) => setTimeout(r, 50));
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const lines = a.stderr().split('\n').filter((l) => l.startsWith('{'));
    const runs = finished();
    expect(runs.length).toBeGreaterThanOrEqual(9);
    // Every run's lines of one probe are as long as its first run's; no line carries two probes' fields.
    for (const name of ['a', 'b', 'c']) {
      const own = lines.filter((l) => l.includes(`"probe":"${name}"`) && l.includes('"msg":"cert target unreadable"'));
      expect(own.length).toBeGreaterThanOrEqual(3);
      expect(new Set(own.map((l) => l.length)).size).toBe(1);
    }
    for (const line of lines) expect(line.match(/"probe":/g)?.length ?? 0).toBeLessThanOrEqual(1);
    const stopped = lines.find((l) => l.includes('"msg":"agent stopped"'));
    expect(stopped).toBeDefined();
    expect(stopped).not.toContain('"probe"');
    const longest = (ls: string[]) => Math.max(...ls.map((l) => l.length));
    expect(longest(lines.slice(-6))).toBeLessThanOrEqual(longest(lines.slice(0, 8)));
  });

  it('refuses a listener beyond loopback without authentication, and unusable TLS files: exit 2 from the agent and config check (issue 21.9)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-agent-cli-'));
    const probes = join(dir, 'probes.yaml');
    writeFileSync(probes, 'probes:\n  - { name: o, kind: options, interval: 1h }\n');
    const open = join(dir, 'open.yaml');
    writeFileSync(open, `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "0.0.0.0:${await freeTcpPort()}" }\nstate_dir: ${JSON.stringify(dir)}\n`);
    const refused = /listen\.metrics: 0\.0\.0\.0:\d+ is reachable beyond loopback but the HTTP listener has no authentication/;
    const loopback = join(dir, 'loopback.yaml');
    writeFileSync(
      loopback,
      `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "127.0.0.1:${await freeTcpPort()}" }\nstate_dir: ${JSON.stringify(dir)}\n` +
        `http: { tls_server_config: { cert_file: probes.yaml, key_file: missing.key } }\n`,
    );
    const agentOpen = startAgent(['--config', open, '--probes', probes]);
    const agentOverride = startAgent(['--config', loopback, '--probes', probes, '--listen', '0.0.0.0:0']);
    const check = (file: string) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'check', file, '--probes', probes], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => done({ code, stderr }));
      });
    const [checkOpen, checkTls] = await Promise.all([check(open), check(loopback)]);
    expect(await agentOpen.exited).toBe(2);
    expect(agentOpen.stderr()).toMatch(refused);
    expect(agentOpen.stderr()).not.toMatch(/listening on/);
    expect(await agentOverride.exited).toBe(2);
    expect(agentOverride.stderr()).toMatch(/--listen: 0\.0\.0\.0:0 is reachable beyond loopback/);
    expect(checkOpen.code).toBe(2);
    expect(checkOpen.stderr).toMatch(refused);
    expect(checkTls.code).toBe(2);
    expect(checkTls.stderr).toMatch(/http\.tls_server_config\.key_file: \S+missing\.key /);
  }, 60_000); // four CLI processes started under tsx at once: ~4 s idle, up to ~17 s measured at load 10
});
