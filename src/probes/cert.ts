// Certificate expiry probe: reads certificates from TLS endpoints (sips:, https://,
// wss://, tls://), STIR/SHAKEN x5u URLs (a PEM chain over https) and local
// PEM/DER files or directories, and grades how soon the earliest one expires.
// It only *reads* certificates: self-signed chains are accepted on purpose
// (rejectUnauthorized false), trust is not what this probe measures.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as https from 'node:https';
import type { ProbeContext } from './context.js';
import type { Failure, Phase, ProbeResult } from './result.js';

export interface CertProbeSpec {
  /** Probe name (alert fingerprint, metric label). Default "cert". */
  name?: string;
  /** sips:host[:port], https://…, wss://…, tls://host:port, host:port, x5u:https://…, a file or a directory. */
  targets: string[];
  /** Fewer whole days left than this → warning (default 30). */
  warn_days?: number;
  /** Fewer whole days left than this → critical (default 7). Expired is always critical. */
  crit_days?: number;
  /** Per target: connect + handshake (or fetch) must finish within this (default 5000 ms). */
  timeout_ms?: number;
}

export type CertStatus = 'ok' | 'warning' | 'critical' | 'error';

/** One certificate as read, dates as ISO strings. */
export interface CertInfo {
  subject: string;
  sans: string[];
  issuer: string;
  not_before: string;
  not_after: string;
  days_left: number;
  fingerprint256: string;
}

/** The report for one target (a directory expands into one report per certificate file). */
export interface CertTargetReport {
  target: string;
  kind: 'tls' | 'x5u' | 'file';
  /** Leaf (first) certificate; null when the target could not be read. */
  subject: string | null;
  sans: string[];
  issuer: string | null;
  not_after: string | null;
  days_left: number | null;
  /** Graded on the earliest expiry in the chain: an expiring intermediate breaks the chain too. */
  status: CertStatus;
  chain_earliest_not_after: string | null;
  chain_earliest_days_left: number | null;
  /** Every certificate of the chain / file, leaf first. */
  certs: CertInfo[];
  error?: { phase: Phase; code: string; message: string };
}

export interface CertProbeResult extends ProbeResult {
  targets: CertTargetReport[];
  /** Earliest not-after over all targets, seconds since epoch (blackbox `probe_ssl_earliest_cert_expiry`). */
  earliest_not_after_s: number | null;
  /** Targets below warn_days but not critical: an alert at warning severity, not a probe failure. */
  warnings: Failure[];
}

export const CERT_DEFAULTS = { warn_days: 30, crit_days: 7, timeout_ms: 5000 } as const;

const DAY_MS = 86_400_000;

/** Whole days left, floored: 4.9 days left reads 4; already expired is negative. */
export function daysLeft(notAfterMs: number, nowMs: number): number {
  return Math.floor((notAfterMs - nowMs) / DAY_MS);
}

export function gradeDaysLeft(days: number, warnDays: number, critDays: number): Exclude<CertStatus, 'error'> {
  if (days < 0 || days < critDays) return 'critical';
  if (days < warnDays) return 'warning';
  return 'ok';
}

/** A target error with the phase it broke in (connect / tls / dns / cert). */
export class CertTargetError extends Error {
  constructor(
    readonly phase: Phase,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function describeCert(cert: X509Certificate, nowMs: number): CertInfo {
  const notAfter = new Date(cert.validTo);
  return {
    subject: oneLineDn(cert.subject),
    sans: parseSans(cert.subjectAltName),
    issuer: oneLineDn(cert.issuer),
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: notAfter.toISOString(),
    days_left: daysLeft(notAfter.getTime(), nowMs),
    fingerprint256: cert.fingerprint256,
  };
}

function oneLineDn(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

/** "DNS:a, IP Address:127.0.0.1" → ["DNS:a", "IP:127.0.0.1"]. */
export function parseSans(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/,\s*/)
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .filter(Boolean);
}

/** Every certificate in a PEM text (any number of blocks); a DER buffer holds one. */
export function parseCertificates(data: Buffer): X509Certificate[] {
  const text = data.toString('latin1');
  const blocks = text.match(/-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]+?-----END (?:TRUSTED )?CERTIFICATE-----/g);
  if (blocks) return blocks.map((b) => new X509Certificate(b.replace(/(BEGIN|END) TRUSTED /g, '$1 ')));
  if (text.includes('-----BEGIN')) return []; // a key or CSR: nothing to grade
  try {
    return [new X509Certificate(data)];
  } catch {
    return [];
  }
}

export interface TlsEndpoint {
  host: string;
  port: number;
  /** SNI name; absent for IP literals (RFC 6066 3: no IP addresses in SNI). */
  servername?: string;
}

/** sips:[user@]host[:port][;params], https://host[:port]/…, wss://…, tls://host:port. */
export function parseTlsTarget(target: string): TlsEndpoint | null {
  let hostport: string;
  let defaultPort: number;
  if (/^sips:/i.test(target)) {
    hostport = target.slice(5).replace(/^[^@]*@/, '').split(/[;?]/)[0] ?? '';
    defaultPort = 5061; // RFC 3261 19.1.2
  } else {
    const m = /^(https|wss|tls):\/\/([^/?#]+)/i.exec(target);
    if (!m) return null;
    hostport = (m[2] ?? '').replace(/^[^@]*@/, '');
    defaultPort = m[1]?.toLowerCase() === 'tls' ? 5061 : 443;
  }
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostport);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else {
    const parts = hostport.split(':');
    if (parts.length > 2) return null;
    host = parts[0] ?? '';
    portText = parts[1];
  }
  if (!host) return null;
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return isIP(host) ? { host, port } : { host, port, servername: host };
}

function connectError(err: NodeJS.ErrnoException, where: string, handshakeStarted: boolean): CertTargetError {
  const code = err.code ?? 'ERR_TLS';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new CertTargetError('dns', code, `${where}: cannot resolve host (${code})`);
  if (!handshakeStarted || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return new CertTargetError('connect', code, `${where}: TCP connect failed: ${err.message}`);
  return new CertTargetError('tls', code, `${where}: TLS handshake failed: ${err.message}`);
}

/**
 * The settle function of a certificate fetch: the first call runs `cleanup`
 * (timer, abort listener, socket) and settles the promise; later calls do nothing.
 */
function settleOnce(
  resolve: (chain: X509Certificate[]) => void,
  reject: (err: CertTargetError) => void,
  cleanup: () => void,
): (err: CertTargetError | null, chain?: X509Certificate[]) => void {
  let settled = false;
  return (err, chain) => {
    if (settled) return;
    settled = true;
    cleanup();
    if (err) reject(err);
    else resolve(chain ?? []);
  };
}

/** Connects, completes a TLS handshake and returns the peer chain, leaf first. */
export function fetchPeerChain(ep: TlsEndpoint, timeoutMs: number, signal?: AbortSignal): Promise<X509Certificate[]> {
  const where = `${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
  return new Promise((resolve, reject) => {
    let connected = false;
    const socket = tls.connect({
      host: ep.host,
      port: ep.port,
      servername: ep.servername,
      rejectUnauthorized: false, // we read expiry, we do not judge trust (lab certs are self-signed)
      ALPNProtocols: undefined,
    });
    const finish = settleOnce(resolve, reject, () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
    });
    const onTimeout = (): void =>
      finish(
        connected
          ? new CertTargetError('tls', 'ETIMEDOUT', `${where}: TLS handshake did not complete within ${timeoutMs} ms (is this a TLS port?)`)
          : new CertTargetError('connect', 'ETIMEDOUT', `${where}: TCP connect did not complete within ${timeoutMs} ms`),
      );
    const onAbort = (): void => finish(new CertTargetError(connected ? 'tls' : 'connect', 'ABORTED', `${where}: aborted`));
    const timer = setTimeout(onTimeout, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    socket.once('connect', () => {
      connected = true;
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      if (!peer || !peer.raw) {
        finish(new CertTargetError('tls', 'ENOCERT', `${where}: the server sent no certificate`));
        return;
      }
      finish(null, walkChain(peer));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(connectError(err, where, connected)));
    socket.once('close', () => finish(new CertTargetError(connected ? 'tls' : 'connect', 'ECONNRESET', `${where}: connection closed before the TLS handshake completed`)));
  });
}

function walkChain(leaf: tls.DetailedPeerCertificate): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let cur: tls.DetailedPeerCertificate | undefined = leaf;
  // issuerCertificate points to itself at a self-signed root: stop on a repeat.
  while (cur?.raw && !seen.has(cur.fingerprint256)) {
    seen.add(cur.fingerprint256);
    chain.push(new X509Certificate(cur.raw));
    cur = cur.issuerCertificate;
  }
  return chain;
}

/** STIR/SHAKEN: the x5u URL of a PASSporT names a PEM chain served over https (RFC 8225 / ATIS-1000074). */
export function fetchX5u(url: string, timeoutMs: number, signal?: AbortSignal): Promise<X509Certificate[]> {
  const ep = parseTlsTarget(url);
  if (!ep || !/^https:/i.test(url)) return Promise.reject(new CertTargetError('config', 'EBADTARGET', `${url}: x5u must be an https:// URL`));
  return new Promise((resolve, reject) => {
    const finish = settleOnce(resolve, reject, () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
    });
    let connected = false;
    const req = https.get(url, { rejectUnauthorized: false, headers: { accept: 'application/pem-certificate-chain, */*' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        finish(new CertTargetError('cert', `HTTP_${status}`, `${url}: x5u fetch answered HTTP ${status}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1_000_000) finish(new CertTargetError('cert', 'ETOOBIG', `${url}: x5u body larger than 1 MB`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const certs = parseCertificates(Buffer.concat(chunks));
        if (certs.length === 0) finish(new CertTargetError('cert', 'ENOCERT', `${url}: no certificate in the x5u body`));
        else finish(null, certs);
      });
      res.on('error', (err: NodeJS.ErrnoException) => finish(connectError(err, url, true)));
    });
    req.on('socket', (s) => s.once('connect', () => (connected = true)));
    req.on('error', (err: NodeJS.ErrnoException) => finish(connectError(err, url, connected)));
    const timer = setTimeout(
      () => finish(new CertTargetError(connected ? 'tls' : 'connect', 'ETIMEDOUT', `${url}: x5u fetch did not complete within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => finish(new CertTargetError('connect', 'ABORTED', `${url}: aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
  });
}

/** A bare `host:port` (or `[v6]:port`) is a TLS endpoint, not a file name. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

const CERT_FILE = /\.(pem|crt|cer|der|cert)$/i;

/** A file, or every certificate file directly inside a directory (keys and other files skipped). */
export async function readCertFiles(path: string): Promise<{ path: string; certs: X509Certificate[] }[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CertTargetError('cert', e.code ?? 'ENOENT', `${path}: cannot read (${e.code ?? e.message})`);
  }
  if (st.isDirectory()) {
    const names = (await readdir(path)).filter((n) => CERT_FILE.test(n)).sort();
    const out: { path: string; certs: X509Certificate[] }[] = [];
    for (const name of names) {
      const file = join(path, name);
      const certs = parseCertificates(await readFile(file).catch(() => Buffer.alloc(0)));
      if (certs.length > 0) out.push({ path: file, certs });
    }
    if (out.length === 0) throw new CertTargetError('cert', 'ENOCERT', `${path}: no certificate files (*.pem, *.crt, *.cer, *.der) in this directory`);
    return out;
  }
  const certs = parseCertificates(await readFile(path));
  if (certs.length === 0) throw new CertTargetError('cert', 'ENOCERT', `${path}: no certificate in this file`);
  return [{ path, certs }];
}

interface Grading {
  warnDays: number;
  critDays: number;
  nowMs: number;
}

export function reportFromChain(target: string, kind: CertTargetReport['kind'], chain: X509Certificate[], g: Grading): CertTargetReport {
  const certs = chain.map((c) => describeCert(c, g.nowMs));
  const leaf = certs[0];
  if (!leaf) return errorReport(target, kind, new CertTargetError('cert', 'ENOCERT', `${target}: no certificate`));
  const earliest = certs.reduce((a, b) => (Date.parse(b.not_after) < Date.parse(a.not_after) ? b : a));
  return {
    target,
    kind,
    subject: leaf.subject,
    sans: leaf.sans,
    issuer: leaf.issuer,
    not_after: leaf.not_after,
    days_left: leaf.days_left,
    status: gradeDaysLeft(earliest.days_left, g.warnDays, g.critDays),
    chain_earliest_not_after: earliest.not_after,
    chain_earliest_days_left: earliest.days_left,
    certs,
  };
}

export function errorReport(target: string, kind: CertTargetReport['kind'], err: unknown): CertTargetReport {
  const e =
    err instanceof CertTargetError
      ? err
      : new CertTargetError('internal', (err as { code?: string }).code ?? 'ERR', err instanceof Error ? err.message : String(err));
  return {
    target,
    kind,
    subject: null,
    sans: [],
    issuer: null,
    not_after: null,
    days_left: null,
    status: 'error',
    chain_earliest_not_after: null,
    chain_earliest_days_left: null,
    certs: [],
    error: { phase: e.phase, code: e.code, message: e.message },
  };
}

/** Reads one target; a directory yields several reports. Never throws: errors become reports. */
export async function inspectTarget(
  target: string,
  opts: { warnDays: number; critDays: number; timeoutMs: number; now?: () => number; signal?: AbortSignal },
): Promise<CertTargetReport[]> {
  const now = opts.now ?? Date.now;
  const grading = (): Grading => ({ warnDays: opts.warnDays, critDays: opts.critDays, nowMs: now() });
  if (/^x5u:/i.test(target)) {
    const url = target.slice(4);
    try {
      return [reportFromChain(target, 'x5u', await fetchX5u(url, opts.timeoutMs, opts.signal), grading())];
    } catch (err) {
      return [errorReport(target, 'x5u', err)];
    }
  }
  if (/^(sips:|https:\/\/|wss:\/\/|tls:\/\/)/i.test(target) || HOST_PORT.test(target)) {
    const ep = parseTlsTarget(HOST_PORT.test(target) ? `tls://${target}` : target);
    if (!ep) return [errorReport(target, 'tls', new CertTargetError('config', 'EBADTARGET', `${target}: cannot read host and port`))];
    try {
      return [reportFromChain(target, 'tls', await fetchPeerChain(ep, opts.timeoutMs, opts.signal), grading())];
    } catch (err) {
      return [errorReport(target, 'tls', err)];
    }
  }
  try {
    const files = await readCertFiles(target);
    return files.map((f) => reportFromChain(f.path, 'file', f.certs, grading()));
  } catch (err) {
    return [errorReport(target, 'file', err)];
  }
}

/** Turns target reports into the probe's failures (critical / unreadable) and warnings. */
export function summarize(name: string, reports: CertTargetReport[], critDays: number, warnDays: number): CertProbeResult {
  const failures: Failure[] = [];
  const warnings: Failure[] = [];
  for (const r of reports) {
    if (r.error) {
      failures.push({ check: 'cert_reachable', expected: true, actual: false, phase: r.error.phase, message: r.error.message });
      continue;
    }
    const days = r.chain_earliest_days_left ?? 0;
    const what = `${r.target}: ${r.subject ?? '?'} ${days < 0 ? `expired ${-days} day(s) ago` : `expires in ${days} day(s)`} (not after ${r.chain_earliest_not_after ?? '?'})`;
    if (r.status === 'critical') failures.push({ check: 'cert_days_left', expected: critDays, actual: days, phase: 'cert', message: what });
    else if (r.status === 'warning') warnings.push({ check: 'cert_days_left', expected: warnDays, actual: days, phase: 'cert', message: what });
  }
  const afters = reports.map((r) => r.chain_earliest_not_after).filter((s): s is string => s !== null).map((s) => Date.parse(s) / 1000);
  const earliest = afters.length > 0 ? Math.min(...afters) : null;
  return {
    probe: name,
    success: failures.length === 0,
    failures,
    warnings,
    targets: reports,
    earliest_not_after_s: earliest,
    cert: { earliest_not_after_s: earliest, targets: reports.map((r) => ({ target: r.target, chain_earliest_not_after: r.chain_earliest_not_after })) },
  };
}

/** The probe function (ProbeFn<CertProbeSpec>). */
export async function certProbe(ctx: ProbeContext, spec: CertProbeSpec, now: () => number = Date.now): Promise<CertProbeResult> {
  const warnDays = spec.warn_days ?? CERT_DEFAULTS.warn_days;
  const critDays = spec.crit_days ?? CERT_DEFAULTS.crit_days;
  const timeoutMs = spec.timeout_ms ?? CERT_DEFAULTS.timeout_ms;
  const perTarget = await Promise.all(
    spec.targets.map((t) => inspectTarget(t, { warnDays, critDays, timeoutMs, now, signal: ctx.signal })),
  );
  const reports = perTarget.flat();
  for (const r of reports) {
    if (r.error) ctx.logger.debug({ target: r.target, phase: r.error.phase, code: r.error.code }, 'cert target unreadable');
  }
  return summarize(spec.name ?? 'cert', reports, critDays, warnDays);
}
