// Shared by the alert integration tests: the agent started as a user starts it
// (config file + `src/cli/main.ts agent`), a webhook receiver on 127.0.0.1 whose
// answer the test switches, and a bounded poll.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freeTcpPort, spawnTracked, type TrackedProcess } from '../../lab/lab.js';

export const ROOT = resolve(import.meta.dirname, '../../..');

/** Polls fn until it returns a value other than undefined; throws after timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export interface CliAgent {
  proc: TrackedProcess;
  port: number;
  get(path: string): Promise<{ status: number; body: string }>;
}

/** Writes callprobe.yaml + probes.yaml into dir and starts `probe agent`; resolves once /-/ready answers. */
export async function startCliAgent(dir: string, config: Record<string, unknown>, probes: Record<string, unknown>[]): Promise<CliAgent> {
  const port = await freeTcpPort();
  writeFileSync(join(dir, 'callprobe.yaml'), stringify({ pbx: { uri: 'sip:127.0.0.1:5060', transport: 'udp' }, listen: { metrics: `127.0.0.1:${port}` }, ...config }));
  writeFileSync(join(dir, 'probes.yaml'), stringify({ probes }));
  const proc = spawnTracked(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', join(dir, 'callprobe.yaml'), '--probes', join(dir, 'probes.yaml'), '--log-level', 'info'],
    { cwd: ROOT, name: 'callprobe-agent' },
  );
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  await until('the agent to be ready', async () => {
    if (proc.stderr().length > 0 && /Error|error:/.test(proc.stderr())) throw new Error(proc.stderr());
    return (await get('/-/ready')).status === 200 ? true : undefined;
  }, 20_000);
  return { proc, port, get };
}

export interface Received {
  at: number;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The status this request was answered with. */
  answered: number;
}

/** An HTTP receiver on 127.0.0.1:<ephemeral>: records every request, answers `status`. */
export class HookReceiver {
  readonly received: Received[] = [];
  status = 204;
  /** Per request path, overrides `status`. */
  byPath: Record<string, number> = {};
  headers: Record<string, string> = {};
  private server: Server | undefined;

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const status = this.byPath[req.url ?? ''] ?? this.status;
        this.received.push({ at: Date.now(), path: req.url ?? '', headers, body: Buffer.concat(chunks).toString(), answered: status });
        res.writeHead(status, this.headers).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
