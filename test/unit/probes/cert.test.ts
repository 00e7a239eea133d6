import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certProbe,
  daysLeft,
  gradeDaysLeft,
  inspectTarget,
  parseCertificates,
  parseSans,
  parseTlsTarget,
} from '../../../src/probes/cert.js';
import { certExitCode, certJson, renderCertTable } from '../../../src/cli/cert.js';
import { createLogger } from '../../../src/log.js';

const DAY = 86_400_000;
let dir: string;

/** A self-signed cert valid for `days` from now, made with openssl. */
function makeCert(name: string, days: number, cn = `${name}.test`): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`, '-days', String(days)],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** A self-signed cert that expired on 2025-02-01 (`openssl req` cannot back-date; `openssl ca` can). */
function makeExpiredCert(): string {
  const ca = join(dir, 'ca');
  mkdirSync(ca, { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '01\n');
  writeFileSync(
    join(ca, 'ca.cnf'),
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${ca}/index.txt\nnew_certs_dir = ${ca}\nserial = ${ca}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  const key = join(ca, 'e.key');
  const csr = join(ca, 'e.csr');
  const out = join(ca, 'expired.pem');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=expired.test'], { stdio: 'ignore' });
  execFileSync('openssl', ['ca', '-batch', '-config', join(ca, 'ca.cnf'), '-selfsign', '-keyfile', key, '-in', csr, '-out', out, '-startdate', '20250101000000Z', '-enddate', '20250201000000Z', '-notext'], { stdio: 'ignore' });
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-cert-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx = () => ({ logger: createLogger('silent'), signal: new AbortController().signal });

describe('grading', () => {
  it('floors whole days and is negative once expired', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(daysLeft(now + 4.9 * DAY, now)).toBe(4);
    expect(daysLeft(now + 5 * DAY, now)).toBe(5);
    expect(daysLeft(now - 1, now)).toBe(-1);
  });
  it('grades against warn / crit days', () => {
    expect(gradeDaysLeft(40, 30, 7)).toBe('ok');
    expect(gradeDaysLeft(30, 30, 7)).toBe('ok');
    expect(gradeDaysLeft(29, 30, 7)).toBe('warning');
    expect(gradeDaysLeft(7, 30, 7)).toBe('warning');
    expect(gradeDaysLeft(6, 30, 7)).toBe('critical');
    expect(gradeDaysLeft(-3, 30, 0)).toBe('critical');
  });
});

describe('parseTlsTarget', () => {
  it('reads sips URIs with user, params and default 5061', () => {
    expect(parseTlsTarget('sips:127.0.0.1:5062')).toEqual({ host: '127.0.0.1', port: 5062 });
    expect(parseTlsTarget('sips:1001@pbx.example.com;transport=tls')).toEqual({ host: 'pbx.example.com', port: 5061, servername: 'pbx.example.com' });
    expect(parseTlsTarget('sips:[::1]:5063')).toEqual({ host: '::1', port: 5063 });
  });
  it('reads https/wss/tls URLs', () => {
    expect(parseTlsTarget('https://example.com/path?q')).toEqual({ host: 'example.com', port: 443, servername: 'example.com' });
    expect(parseTlsTarget('wss://ws.example.com:8443/ws')).toEqual({ host: 'ws.example.com', port: 8443, servername: 'ws.example.com' });
    expect(parseTlsTarget('tls://10.0.0.1:5061')).toEqual({ host: '10.0.0.1', port: 5061 });
  });
  it('rejects what it cannot read', () => {
    expect(parseTlsTarget('http://example.com')).toBeNull();
    expect(parseTlsTarget('sips:host:99999')).toBeNull();
    expect(parseTlsTarget('sips:')).toBeNull();
  });
});

describe('files', () => {
  it('parses SANs', () => {
    expect(parseSans('DNS:a.test, IP Address:127.0.0.1')).toEqual(['DNS:a.test', 'IP:127.0.0.1']);
    expect(parseSans(undefined)).toEqual([]);
  });
  it('reads every certificate of a PEM bundle and grades the earliest', async () => {
    const long = makeCert('long', 400);
    const short = makeCert('short', 20);
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, readFileSync(long.cert, 'utf8') + readFileSync(short.cert, 'utf8'));
    expect(parseCertificates(readFileSync(bundle))).toHaveLength(2);
    const [r] = await inspectTarget(bundle, { warnDays: 30, critDays: 7, timeoutMs: 1000 });
    expect(r?.subject).toBe('CN=long.test');
    expect(r?.days_left).toBeGreaterThanOrEqual(398);
    expect(r?.chain_earliest_days_left).toBe(19);
    expect(r?.status).toBe('warning');
    expect(r?.certs).toHaveLength(2);
    expect(r?.sans).toEqual(['DNS:long.test', 'IP:127.0.0.1']);
  });
  it('reads a directory file by file and skips keys', async () => {
    const sub = join(dir, 'tlsdir');
    mkdirSync(sub);
    const a = makeCert('dir-a', 100);
    writeFileSync(join(sub, 'server.pem'), readFileSync(a.cert));
    writeFileSync(join(sub, 'server.key'), readFileSync(a.key));
    writeFileSync(join(sub, 'key.pem'), readFileSync(a.key)); // a key in a .pem: skipped
    const der = execFileSync('openssl', ['x509', '-in', a.cert, '-outform', 'DER']);
    writeFileSync(join(sub, 'ca.der'), der);
    const reports = await inspectTarget(sub, { warnDays: 30, critDays: 7, timeoutMs: 1000 });
    expect(reports.map((r) => r.target).sort()).toEqual([join(sub, 'ca.der'), join(sub, 'server.pem')]);
    expect(reports.every((r) => r.status === 'ok')).toBe(true);
  });
  it('grades with an injected clock: expired is critical', async () => {
    const c = makeCert('clock', 10);
    const now = () => Date.now() + 11 * DAY;
    const [r] = await inspectTarget(c.cert, { warnDays: 30, critDays: 7, timeoutMs: 1000, now });
    expect(r?.days_left).toBeLessThan(0);
    expect(r?.status).toBe('critical');
  });
  it('grades a really expired certificate critical with negative days', async () => {
    const [r] = await inspectTarget(makeExpiredCert(), { warnDays: 30, critDays: 7, timeoutMs: 1000 });
    expect(r?.not_after).toBe('2025-02-01T00:00:00.000Z');
    expect(r?.days_left).toBe(Math.floor((Date.parse('2025-02-01T00:00:00Z') - Date.now()) / DAY));
    expect(r?.status).toBe('critical');
  });
  it('reports an unreadable file as an error, not a throw', async () => {
    const [r] = await inspectTarget(join(dir, 'missing.pem'), { warnDays: 30, critDays: 7, timeoutMs: 1000 });
    expect(r?.status).toBe('error');
    expect(r?.error?.code).toBe('ENOENT');
  });
});

describe('TLS endpoints', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterAll(() => {
    sockets.forEach((s) => s.destroy());
    servers.forEach((s) => s.close());
  });
  const listen = (srv: Server): Promise<number> =>
    new Promise((resolve) => {
      servers.push(srv);
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port));
    });

  it('reads a self-signed chain over a TLS handshake (sips:)', async () => {
    const c = makeCert('tls5', 5, 'expiring.lab');
    const port = await listen(createTlsServer({ key: readFileSync(c.key), cert: readFileSync(c.cert) }, (s) => s.end()));
    const result = await certProbe(ctx(), { name: 'tls', targets: [`sips:127.0.0.1:${port}`] });
    const t = result.targets[0];
    expect(t?.subject).toBe('CN=expiring.lab');
    expect(t?.days_left).toBeLessThanOrEqual(5);
    expect(t?.status).toBe('critical');
    expect(result.success).toBe(false);
    expect(result.failures[0]).toMatchObject({ check: 'cert_days_left', phase: 'cert', expected: 7 });
    expect(certExitCode(result)).toBe(1);
    expect(result.earliest_not_after_s).toBe(Date.parse(t?.not_after ?? '') / 1000);
  });

  it('times out on a port that never answers the handshake, phase tls', async () => {
    const port = await listen(createServer((s) => sockets.push(s)));
    const t0 = Date.now();
    const result = await certProbe(ctx(), { targets: [`sips:127.0.0.1:${port}`], timeout_ms: 300 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(result.targets[0]?.status).toBe('error');
    expect(result.targets[0]?.error).toMatchObject({ phase: 'tls', code: 'ETIMEDOUT' });
    expect(result.targets[0]?.error?.message).toMatch(/TLS handshake did not complete within 300 ms/);
    expect(result.failures[0]).toMatchObject({ check: 'cert_reachable', phase: 'tls' });
  });

  it('fails with phase tls on a port that speaks something else', async () => {
    const port = await listen(createServer((s) => s.end('SIP/2.0 400 Bad Request\r\n\r\n')));
    const [r] = await inspectTarget(`tls://127.0.0.1:${port}`, { warnDays: 30, critDays: 7, timeoutMs: 2000 });
    expect(r?.error?.phase).toBe('tls');
  });

  it('reads a bare host:port as a TLS endpoint', async () => {
    const c = makeCert('bare', 100);
    const port = await listen(createTlsServer({ key: readFileSync(c.key), cert: readFileSync(c.cert) }, (s) => s.end()));
    const [r] = await inspectTarget(`127.0.0.1:${port}`, { warnDays: 30, critDays: 7, timeoutMs: 2000 });
    expect(r).toMatchObject({ kind: 'tls', subject: 'CN=bare.test', status: 'ok' });
  });

  it('fails with phase connect on a closed port', async () => {
    const port = await listen(createServer());
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    const [r] = await inspectTarget(`https://127.0.0.1:${port}`, { warnDays: 30, critDays: 7, timeoutMs: 2000 });
    expect(r?.error).toMatchObject({ phase: 'connect', code: 'ECONNREFUSED' });
  });

  it('fetches an x5u PEM chain over https', async () => {
    const site = makeCert('site', 300);
    const shaken = makeCert('shaken', 20, 'sp.shaken.test');
    const { createServer: createHttps } = await import('node:https');
    const pem = readFileSync(shaken.cert);
    const srv = createHttps({ key: readFileSync(site.key), cert: readFileSync(site.cert) }, (req, res) => {
      if (req.url === '/sp.pem') res.end(pem);
      else res.writeHead(404).end();
    });
    const port = await listen(srv as unknown as Server);
    const ok = await inspectTarget(`x5u:https://127.0.0.1:${port}/sp.pem`, { warnDays: 30, critDays: 7, timeoutMs: 2000 });
    expect(ok[0]).toMatchObject({ kind: 'x5u', subject: 'CN=sp.shaken.test', status: 'warning', days_left: 19 });
    const missing = await inspectTarget(`x5u:https://127.0.0.1:${port}/nope.pem`, { warnDays: 30, critDays: 7, timeoutMs: 2000 });
    expect(missing[0]?.error?.code).toBe('HTTP_404');
  });
});

describe('CLI rendering', () => {
  it('keeps the JSON contract keys and the table columns', async () => {
    const c = makeCert('render', 20);
    const result = await certProbe(ctx(), { targets: [c.cert] });
    const json = certJson(result);
    expect(Object.keys(json.targets[0] ?? {}).slice(0, 8)).toEqual([
      'target', 'subject', 'sans', 'issuer', 'not_after', 'days_left', 'status', 'chain_earliest_not_after',
    ]);
    expect(certExitCode(result)).toBe(0); // warning is not a failure
    expect(result.warnings[0]).toMatchObject({ check: 'cert_days_left', expected: 30, actual: 19 });
    const table = renderCertTable(result.targets);
    expect(table.split('\n')[0]).toMatch(/^STATUS\s+DAYS\s+NOT AFTER\s+SUBJECT\s+TARGET$/);
    expect(table).toContain('WARNING');
  });
});
