// Scripted SIP far ends for the hostile-peer tests: a UDP or TCP peer on an
// ephemeral 127.0.0.1 port whose behaviour is a function of each request, a
// minimal RTP endpoint (20 ms PCMU frames, counts what arrives), and the CLI as
// shipped run in a child process with its exit code, output and wall time.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { SipStreamFramer } from '../../../src/sip/framer.js';
import {
  createRequest,
  createResponse,
  parseMessage,
  serializeMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../../src/sip/message.js';
import { parseNameAddr } from '../../../src/sip/uri.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const HOST = '127.0.0.1';

export interface Received {
  at: number;
  message: SipMessage;
}

export interface FarEnd {
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** Every message received, in order, with its arrival time (performance.now()). */
  readonly received: Received[];
  /** `sip:<user>@127.0.0.1:<port>` (with `;transport=tcp` / `;transport=tls` over TCP / TLS). */
  uri(user?: string): string;
  /** Answers `req` (To-tag `tag` on non-100 responses). */
  reply(req: SipRequest, status: number, init?: { headers?: Array<[string, string]>; body?: string; reason?: string }): SipResponse;
  /** Sends a response again (retransmission). */
  resend(res: SipResponse): void;
  /** Sends an in-dialog request to the caller (BYE, re-INVITE) of the dialog `invite` created. */
  request(invite: SipRequest, method: string, init?: { body?: string; cseq?: number }): SipRequest;
  /** TCP/TLS connections the caller opened so far. */
  readonly accepted: number;
  /** Drops the TCP/TLS connection(s) to the caller (not UDP). */
  dropConnections(): void;
  requests(method: string): SipRequest[];
  responses(status?: number): SipResponse[];
  close(): void;
  readonly tag: string;
}

export type Script = (req: SipRequest, fe: FarEnd) => void;

/** A far end on an ephemeral port; `script` decides what each request gets (ACKs are recorded too). */
export async function startFarEnd(
  script: Script,
  opts: { transport?: 'udp' | 'tcp' | 'tls'; tls?: { cert: string; key: string }; onResponse?: (res: SipResponse, fe: FarEnd) => void } = {},
): Promise<FarEnd> {
  const transport = opts.transport ?? 'udp';
  const received: Received[] = [];
  const tag = `fe${Math.random().toString(16).slice(2, 10)}`;
  let lastSource: { address: string; port: number } | undefined;
  const conns = new Set<net.Socket>();
  let accepted = 0;
  let cseq = 100;
  let send: (data: Buffer) => void = () => undefined;

  const onMessage = (data: Buffer): void => {
    const parsed = parseMessage(data);
    if (!parsed.ok) return;
    received.push({ at: performance.now(), message: parsed.message });
    if (parsed.message.kind === 'request') script(parsed.message, fe);
    else opts.onResponse?.(parsed.message, fe);
  };

  let udp: dgram.Socket | undefined;
  let server: net.Server | undefined;
  let port: number;
  if (transport === 'udp') {
    const s = dgram.createSocket('udp4');
    udp = s;
    s.on('message', (data, rinfo) => {
      lastSource = { address: rinfo.address, port: rinfo.port };
      onMessage(data);
    });
    await new Promise<void>((r) => s.bind(0, HOST, r));
    port = s.address().port;
    send = (data) => {
      if (lastSource) s.send(data, lastSource.port, lastSource.address);
    };
  } else {
    const onConnection = (sock: net.Socket): void => {
      accepted++;
      conns.add(sock);
      const framer = new SipStreamFramer();
      sock.on('data', (chunk: Buffer) => {
        for (const ev of framer.push(chunk)) if (ev.type === 'message') onMessage(ev.data);
      });
      sock.on('error', () => undefined);
      sock.on('close', () => conns.delete(sock));
    };
    if (transport === 'tls' && !opts.tls) throw new Error('a TLS far end needs opts.tls (cert and key)');
    // TLS: 'secureConnection' hands over the decrypted socket, like net's 'connection'.
    const srv = transport === 'tls' && opts.tls ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onConnection) : net.createServer(onConnection);
    server = srv;
    await new Promise<void>((r) => srv.listen(0, HOST, r));
    port = (srv.address() as net.AddressInfo).port;
    send = (data) => {
      const sock = [...conns].at(-1);
      sock?.write(data);
    };
  }
  const tp = transport === 'udp' ? '' : `;transport=${transport}`;

  const fe: FarEnd = {
    port,
    transport,
    received,
    tag,
    uri: (user = 'far') => `sip:${user}@${HOST}:${port}${tp}`,
    reply(req, status, init = {}) {
      const headers: Array<[string, string]> = [...(init.headers ?? [])];
      if (req.method === 'INVITE' && status > 100 && status < 300) headers.push(['Contact', `<${fe.uri()}>`]);
      if (init.body !== undefined) headers.push(['Content-Type', 'application/sdp']);
      const res = createResponse(req, status, init.reason, {
        toTag: tag,
        headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
      send(serializeMessage(res));
      return res;
    },
    resend(res) {
      send(serializeMessage(res));
    },
    request(invite, method, init = {}) {
      const contact = parseNameAddr(invite.headers.get('contact') ?? '');
      const target = contact ? (/<([^>]*)>/.exec(invite.headers.get('contact') ?? '')?.[1] ?? invite.uri) : invite.uri;
      const from = `${invite.headers.get('to') ?? ''};tag=${tag}`;
      const seq = init.cseq ?? ++cseq;
      const headers: Array<[string, string]> = [
        ['Via', `SIP/2.0/${transport.toUpperCase()} ${HOST}:${port};branch=z9hG4bK${Math.random().toString(16).slice(2)}`],
        ['Max-Forwards', '70'],
        ['From', from],
        ['To', invite.headers.get('from') ?? ''],
        ['Call-ID', invite.callId],
        ['CSeq', `${seq} ${method}`],
        ['Contact', `<${fe.uri()}>`],
      ];
      if (init.body !== undefined) headers.push(['Content-Type', 'application/sdp']);
      const req = createRequest({ method, uri: target, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
      send(serializeMessage(req));
      return req;
    },
    get accepted() {
      return accepted;
    },
    dropConnections() {
      for (const c of conns) c.destroy();
    },
    requests: (method) => received.flatMap((r) => (r.message.kind === 'request' && r.message.method === method ? [r.message] : [])),
    responses: (status) =>
      received.flatMap((r) => (r.message.kind === 'response' && (status === undefined || r.message.status === status) ? [r.message] : [])),
    close() {
      udp?.close();
      for (const c of conns) c.destroy();
      server?.close();
    },
  };
  return fe;
}

/** A PCMU answer SDP for an RTP endpoint on `port` (payload types as given). */
export function answerSdp(port: number, opts: { payloads?: string; rtpmap?: string[]; direction?: string; version?: number; noConnection?: boolean } = {}): string {
  const lines = [
    'v=0',
    `o=far 42 ${opts.version ?? 1} IN IP4 ${HOST}`,
    's=far',
    ...(opts.noConnection ? [] : [`c=IN IP4 ${HOST}`]),
    't=0 0',
    `m=audio ${port} RTP/AVP ${opts.payloads ?? '0'}`,
    ...(opts.rtpmap ?? ['a=rtpmap:0 PCMU/8000']),
    'a=ptime:20',
    `a=${opts.direction ?? 'sendrecv'}`,
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** The `m=audio` port and `c=` address of an SDP body, and its direction attribute. */
export function sdpTarget(sdp: string): { address: string; port: number; direction: string } {
  const port = Number(/^m=audio (\d+)/m.exec(sdp)?.[1] ?? 0);
  const address = /^c=IN IP[46] (\S+)/m.exec(sdp)?.[1] ?? '';
  const direction = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(sdp)?.[1] ?? 'sendrecv';
  return { address, port, direction };
}

export interface RtpPeer {
  readonly port: number;
  /** Datagrams received, with arrival times. */
  readonly arrivals: number[];
  /** Datagrams sent so far. */
  readonly sent: number;
  /** Sends 20 ms PCMU frames to address:port until stop(). */
  sendTo(address: string, port: number, ssrc?: number): void;
  stop(): void;
  close(): void;
}

export async function startRtpPeer(): Promise<RtpPeer> {
  const s = dgram.createSocket('udp4');
  const arrivals: number[] = [];
  s.on('message', () => arrivals.push(performance.now()));
  await new Promise<void>((r) => s.bind(0, HOST, r));
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  const peer: RtpPeer = {
    port: s.address().port,
    arrivals,
    get sent() {
      return sent;
    },
    sendTo(address, port, ssrc = 0x1234abcd) {
      if (timer) clearInterval(timer);
      let seq = 1;
      let ts = 0;
      // µ-law silence: a call probe with audio analysis on rightly reports audio_silent on
      // this direction, so the SIP-focused hostile tests run with --no-audio-analysis.
      const payload = Buffer.alloc(160, 0xff);
      timer = setInterval(() => {
        const h = Buffer.alloc(12);
        h[0] = 0x80;
        h[1] = 0;
        h.writeUInt16BE(seq++ & 0xffff, 2);
        h.writeUInt32BE(ts >>> 0, 4);
        h.writeUInt32BE(ssrc >>> 0, 8);
        ts += 160;
        sent++;
        s.send(Buffer.concat([h, payload]), port, address);
      }, 20);
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    close() {
      peer.stop();
      s.close();
    },
  };
  return peer;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** Wall time from the signal (if one was sent) to exit. */
  afterSignalMs?: number;
}

/**
 * Runs `probe <args>` (src/cli/main.ts under tsx). `killAfterMs` bounds the test: the child
 * gets SIGKILL then (code null). `signalAt` sends a signal after that many ms.
 */
export function runProbe(
  args: string[],
  opts: { env?: Record<string, string>; killAfterMs?: number; signalAt?: { ms: number; signal: NodeJS.Signals } | { when: () => boolean; signal: NodeJS.Signals } } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let signalledAt: number | undefined;
    const timers: NodeJS.Timeout[] = [];
    const sig = opts.signalAt;
    if (sig) {
      const fire = (): void => {
        signalledAt = performance.now();
        child.kill(sig.signal);
      };
      if ('ms' in sig) timers.push(setTimeout(fire, sig.ms));
      else {
        const poll = setInterval(() => {
          if (sig.when()) {
            clearInterval(poll);
            fire();
          }
        }, 20);
        timers.push(poll);
      }
    }
    timers.push(setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 30_000));
    child.on('exit', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      const end = performance.now();
      resolve({ code, signal, stdout, stderr, ms: end - t0, ...(signalledAt !== undefined ? { afterSignalMs: end - signalledAt } : {}) });
    });
  });
}

/** The `--json` result of a run (throws with the output when it is not JSON). */
export function jsonOf<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}, ${Math.round(run.ms)} ms):\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}
