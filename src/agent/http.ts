// The agent's HTTP face: /metrics, blackbox-style /probe?target=<name>,
// /healthz (alive, and able to keep alerts: 503 when degraded), /-/ready (config loaded, probes scheduled). node:http
// (node:https with http.tls_server_config); nothing here knows how probes work. With authentication on, every
// path but /healthz and /-/ready needs credentials (docs/operations.md "Securing the endpoints").
import { statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpAuthenticator } from './http-auth.js';

/** What /probe answers: the run's result, no such probe, or "too soon" (429 with Retry-After). */
export type ProbeAnswer = { status: 'ran'; contentType: string; body: string } | { status: 'unknown' } | { status: 'limited'; retryAfterS: number };

export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Runs one configured probe now (or joins its run in progress), unless it ran on demand too recently. */
  probe(name: string, format: 'prometheus' | 'json'): Promise<ProbeAnswer>;
  healthy(): boolean;
  /** Why the agent cannot do its whole job (e.g. the alert spool cannot be written); /healthz then answers 503. */
  degraded?(): string | undefined;
  ready(): boolean;
  probeNames(): string[];
  /** A stored evidence pcap (docs/evidence.md), by its URL segments. */
  evidence?(probe: string, run: string): Buffer | undefined;
}

export interface HttpServer {
  readonly server: Server;
  address(): { host: string; port: number };
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/** Liveness and readiness stay open: a load balancer or systemd health check carries no credentials, and they tell nothing. */
const OPEN_PATHS = new Set(['/healthz', '/-/ready']);

async function handle(h: HttpHandlers, auth: HttpAuthenticator | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  if (auth?.enabled === true && !OPEN_PATHS.has(url.pathname) && !(await auth.check(req.headers.authorization))) {
    res.setHeader('www-authenticate', auth.challenges());
    return send(res, 401, 'unauthorized\n');
  }
  switch (url.pathname) {
    case '/metrics': {
      const m = await h.metrics();
      return send(res, 200, m.body, m.contentType);
    }
    case '/probe': {
      const target = url.searchParams.get('target');
      if (target === null || target === '') return send(res, 400, 'target parameter is missing (the name of a configured probe)\n');
      const format = url.searchParams.get('format') === 'json' || url.searchParams.get('debug') === 'true' ? 'json' : 'prometheus';
      const out = await h.probe(target, format);
      if (out.status === 'unknown') return send(res, 404, `unknown probe "${target}"; configured: ${h.probeNames().join(', ')}\n`);
      if (out.status === 'limited') {
        res.setHeader('retry-after', String(out.retryAfterS));
        return send(res, 429, `probe "${target}" ran on demand less than http.probe_min_interval ago; retry in ${out.retryAfterS} s\n`);
      }
      return send(res, 200, out.body, out.contentType);
    }
    case '/healthz': {
      if (!h.healthy()) return send(res, 503, 'stopping\n');
      const degraded = h.degraded?.();
      return degraded === undefined ? send(res, 200, 'ok\n') : send(res, 503, `degraded: ${degraded}\n`);
    }
    case '/-/ready':
      return h.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n');
    case '/':
      return send(
        res,
        200,
        `callprobe agent\n\n/metrics\n/probe?target=<name>[&format=json]\n/healthz\n/-/ready\n/evidence/<probe>/<run>.pcap\n\nprobes:\n${h
          .probeNames()
          .map((n) => `  ${n}\n`)
          .join('')}`,
      );
    default: {
      const ev = /^\/evidence\/([^/]+)\/([^/]+)\.pcap$/.exec(url.pathname);
      const pcap = ev && h.evidence?.(ev[1] ?? '', ev[2] ?? '');
      if (!pcap) return send(res, 404, 'not found\n');
      res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', 'content-length': pcap.length, 'cache-control': 'no-store' });
      return void res.end(req.method === 'HEAD' ? undefined : pcap);
    }
  }
}

/** "127.0.0.1:9464" / "[::1]:9464" → host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!m) throw new Error(`bad listen address "${text}"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) };
}

export interface HttpServerOptions {
  /** Credentials every path but /healthz and /-/ready needs. */
  auth?: HttpAuthenticator;
  /** HTTPS: the files, their content read at start, and how to re-read them (null: unusable now, keep the old). */
  tls?: {
    files: { cert_file: string; key_file: string };
    material: { cert: string; key: string };
    reread: () => { cert: string; key: string } | null;
    /** How often the files' stat is compared (default 2 s). */
    pollMs?: number;
  };
  /** A certificate change was loaded (true) or refused (false). */
  onTlsReload?: (loaded: boolean) => void;
}

/** Re-reads the cert and key when either file changes (renewal by certbot and the like); a bad pair keeps the old one. */
function watchTls(server: Server, tls: NonNullable<HttpServerOptions['tls']>, onReload: HttpServerOptions['onTlsReload']): NodeJS.Timeout {
  const signature = () =>
    [tls.files.cert_file, tls.files.key_file]
      .map((f) => {
        try {
          const st = statSync(f);
          return `${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  let last = signature();
  const timer = setInterval(() => {
    const now = signature();
    if (now === last) return;
    last = now;
    const material = tls.reread();
    if (material !== null) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(material);
    onReload?.(material !== null);
  }, tls.pollMs ?? 2000);
  timer.unref();
  return timer;
}

export async function startHttpServer(listen: string, h: HttpHandlers, onError: (err: unknown) => void, opts: HttpServerOptions = {}): Promise<HttpServer> {
  const { host, port } = parseListen(listen);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(h, opts.auth, req, res).catch((err: unknown) => {
      onError(err);
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  };
  // node:https only when asked for: it loads node:tls.
  const server: Server = opts.tls === undefined ? createServer(onRequest) : (await import('node:https')).createServer(opts.tls.material, onRequest);
  server.keepAliveTimeout = 65_000; // longer than Prometheus' idle keep-alive, fewer reconnects
  const watcher = opts.tls === undefined ? undefined : watchTls(server, opts.tls, opts.onTlsReload);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      clearInterval(watcher);
      reject(err);
    });
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      server.on('error', onError);
      let closed: Promise<void> | undefined;
      resolve({
        server,
        address() {
          const a = server.address() as AddressInfo;
          return { host: a.address, port: a.port };
        },
        close() {
          clearInterval(watcher);
          closed ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closed;
        },
      });
    });
  });
}
