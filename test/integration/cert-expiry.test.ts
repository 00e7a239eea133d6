// `probe cert` against the lab's Kamailio TLS listeners (5061: valid 1 year,
// 5062: expires in 5 days), certificates made here with openssl, and ports
// that do not speak TLS. Runs the real command in a child process for exit codes.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB } from '../lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../..');
const RUN = `import { Command } from 'commander';
import { register } from './src/cli/cert.ts';
const p = new Command();
p.exitOverride();
register(p);
await p.parseAsync(['node', 'probe', ...process.argv.slice(1)]);`;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function probeCert(args: string[]): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', RUN, 'cert', ...args],
      { cwd: ROOT, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr, ms: Date.now() - t0 });
      },
    );
  });
}

interface TargetJson {
  target: string;
  subject: string | null;
  sans: string[];
  issuer: string | null;
  not_after: string | null;
  days_left: number | null;
  status: string;
  chain_earliest_not_after: string | null;
  error?: { phase: string; code: string; message: string };
}

const targetsOf = (r: CliRun): TargetJson[] => (JSON.parse(r.stdout) as { targets: TargetJson[] }).targets;

let dir: string;
const servers: Server[] = [];
const sockets: Socket[] = [];
let silentPort = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-certit-'));
  const silent = createServer((s) => sockets.push(s)); // accepts, never answers
  servers.push(silent);
  await new Promise<void>((r) => silent.listen(0, LAB.host, r));
  silentPort = (silent.address() as { port: number }).port;
});
afterAll(() => {
  sockets.forEach((s) => s.destroy());
  servers.forEach((s) => s.close());
  rmSync(dir, { recursive: true, force: true });
});

function selfSigned(name: string, days: number): string {
  const out = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out, '-subj', `/CN=${name}.test`, '-days', String(days)], { stdio: 'ignore' });
  return out;
}

/** `openssl req` cannot back-date; `openssl ca -selfsign` can. */
function expired(): string {
  const ca = join(dir, 'ca');
  mkdirSync(ca, { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  writeFileSync(join(ca, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${ca}/index.txt\nnew_certs_dir = ${ca}\nserial = ${ca}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(ca, 'e.key'), '-out', join(ca, 'e.csr'), '-subj', '/CN=expired.test'], { stdio: 'ignore' });
  const out = join(dir, 'expired.pem');
  execFileSync('openssl', ['ca', '-batch', '-config', join(ca, 'ca.cnf'), '-selfsign', '-keyfile', join(ca, 'e.key'), '-in', join(ca, 'e.csr'), '-out', out, '-startdate', '20250101000000Z', '-enddate', '20250201000000Z', '-notext'], { stdio: 'ignore' });
  return out;
}

describe('probe cert against the lab', () => {
  it('sips:127.0.0.1:5062 (5-day cert) is critical and exits 1', async () => {
    const r = await probeCert([`sips:${LAB.host}:${LAB.ports.tlsExpiring}`, '--json']);
    expect(r.code).toBe(1);
    const [t] = targetsOf(r);
    expect(t?.subject).toContain('expiring.pbx.lab');
    expect(t?.days_left).toBeLessThanOrEqual(5);
    expect(t?.days_left).toBeGreaterThanOrEqual(0);
    expect(t?.status).toBe('critical');
    expect(t?.chain_earliest_not_after).toBe(t?.not_after);
  });

  it('sips:127.0.0.1:5061 (1-year cert) is ok and exits 0, with SANs', async () => {
    const r = await probeCert([`sips:${LAB.host}:${LAB.ports.tls}`, '--json']);
    expect(r.code).toBe(0);
    const [t] = targetsOf(r);
    expect(t?.subject).toContain('pbx.lab');
    expect(t?.sans).toContain('IP:127.0.0.1');
    expect(t?.days_left).toBeGreaterThan(300);
    expect(t?.status).toBe('ok');
    expect(Date.parse(t?.not_after ?? '')).toBeGreaterThan(Date.now());
  });

  it('human output is a table; --warn-days 400 turns the 1-year cert into a warning', async () => {
    const r = await probeCert([`sips:${LAB.host}:${LAB.ports.tls}`, '--warn-days', '400']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^STATUS\s+DAYS\s+NOT AFTER\s+SUBJECT\s+TARGET/);
    expect(r.stdout).toMatch(/WARNING\s+3\d\d\s/);
  });

  it('an expired PEM is critical, a 20-day PEM a warning', async () => {
    const exp = expired();
    const twenty = selfSigned('twenty', 20);
    const r = await probeCert([exp, twenty, '--json']);
    expect(r.code).toBe(1);
    const [e, w] = targetsOf(r);
    expect(e).toMatchObject({ target: exp, status: 'critical', not_after: '2025-02-01T00:00:00.000Z' });
    expect(e?.days_left).toBeLessThan(0);
    expect(w).toMatchObject({ target: twenty, status: 'warning', days_left: 19 });
    const onlyWarning = await probeCert([twenty]);
    expect(onlyWarning.code).toBe(0);
  });

  it('a TCP port that never answers fails within the timeout with a handshake error', async () => {
    const r = await probeCert([`sips:${LAB.host}:${silentPort}`, '--timeout', '1s', '--json']);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8000);
    const [t] = targetsOf(r);
    expect(t?.status).toBe('error');
    expect(t?.error).toMatchObject({ phase: 'tls', code: 'ETIMEDOUT' });
    expect(t?.error?.message).toMatch(/TLS handshake did not complete within 1000 ms/);
  });

  it("Kamailio's plain SIP TCP port 5060 is not TLS: exit 1, phase tls, within the timeout", async () => {
    const r = await probeCert([`tls://${LAB.host}:${LAB.ports.tcp}`, '--timeout', '2s']);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stdout).toMatch(/ERROR/);
    expect(r.stdout).toMatch(/TLS handshake (failed|did not complete)|closed before the TLS handshake/);
    expect(r.stdout).toMatch(/\[phase tls\]/);
  });
});
