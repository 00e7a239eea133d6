// The agent's HTTP face: /metrics, blackbox-style /probe?target=<name>,
// /healthz (alive, and able to keep alerts: 503 when degraded), /-/ready (config loaded, probes scheduled). node:http
// only; nothing here knows how probes work.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Runs one configured probe now; undefined when no probe has that name. */
  probe(name: string, format: 'prometheus' | 'json'): Promise<{ contentType: string; body: string } | undefined>;
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

async function handle(h: HttpHandlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
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
      if (out === undefined) return send(res, 404, `unknown probe "${target}"; configured: ${h.probeNames().join(', ')}\n`);
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

export function startHttpServer(listen: string, h: HttpHandlers, onError: (err: unknown) => void): Promise<HttpServer> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    handle(h, req, res).catch((err: unknown) => {
      onError(err);
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000; // longer than Prometheus' idle keep-alive, fewer reconnects
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', onError);
      let closed: Promise<void> | undefined;
      resolve({
        server,
        address() {
          const a = server.address() as AddressInfo;
          return { host: a.address, port: a.port };
        },
        close() {
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
