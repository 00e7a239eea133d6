// DTMF interop helpers: a persistent baresip ctrl_tcp connection (events and
// commands on ONE connection: baresip 1.0's ctrl_tcp keeps a single client,
// a new connection replaces the previous one, so a second connection would
// steal the event stream), and RFC 4733 events as tshark decodes them.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { netstring, parseNetstrings, type BaresipReply } from '../../lab/lab.js';

const execFileP = promisify(execFile);

/** One ctrl_tcp connection to a baresip: sends commands, records every event. */
export class BaresipControl {
  readonly events: BaresipReply[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<string, (r: BaresipReply) => void>();
  private readonly watchers = new Set<() => void>();
  private counter = 0;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => undefined); // close() or baresip exiting; pending commands time out
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<BaresipControl> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`baresip ctrl_tcp ${port}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new BaresipControl(sock));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends `{"command","params","token"}` and resolves with the response carrying the token. */
  command(command: string, params?: string, timeoutMs = 5000): Promise<BaresipReply> {
    const token = `dtmf-${process.pid}-${++this.counter}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip: no response to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      const msg: Record<string, string> = { command, token };
      if (params !== undefined) msg.params = params;
      this.sock.write(netstring(JSON.stringify(msg)));
    });
  }

  /** Resolves with the first recorded event (past or future) matching `pred`; rejects after timeoutMs. */
  waitForEvent(pred: (e: BaresipReply) => boolean, timeoutMs: number, what = 'event'): Promise<BaresipReply> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.events.find(pred);
        if (!hit) return false;
        cleanup();
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`baresip: no ${what} within ${timeoutMs} ms; events: ${this.events.map((e) => e.type).join(', ')}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      const watcher = (): void => void check();
      if (check()) return;
      this.watchers.add(watcher);
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    const { messages, rest } = parseNetstrings(this.buf);
    this.buf = rest;
    for (const m of messages) {
      const obj = JSON.parse(m) as BaresipReply;
      if (obj.response && typeof obj.token === 'string') {
        this.pending.get(obj.token)?.(obj);
        this.pending.delete(obj.token);
      } else if (obj.event) {
        this.events.push(obj);
        for (const w of [...this.watchers]) w();
      }
    }
  }
}

/** One RFC 4733 packet as tshark's rtpevent dissector decoded it. */
export interface TsharkEventPacket {
  srcPort: number;
  dstPort: number;
  ssrc: number;
  timestamp: number;
  event: number;
  end: boolean;
  duration: number;
}

/** One key press: the packets of one (stream, RTP timestamp). */
export interface TsharkDigit {
  srcPort: number;
  dstPort: number;
  digit: string;
  packets: number;
  endPackets: number;
  /** Largest duration field seen (timestamp units). */
  duration: number;
}

const DIGITS = '0123456789*#ABCD';

/**
 * RFC 4733 events in a pcap. RTP is found through the SIP/SDP in the capture
 * (the SDP's rtpmap tells tshark which payload type is telephone-event); the
 * optional `decodeAs` ports or [first, last] port ranges are decoded as RTP too, for
 * captures without SIP or whose start missed the call set-up (tshark's rtpevent
 * dissector then takes payload type 101, its default).
 */
export async function tsharkRtpEvents(pcap: string, opts: { decodeAs?: ReadonlyArray<number | readonly [number, number]> } = {}): Promise<TsharkEventPacket[]> {
  const args = ['-r', pcap, '-n', '-Y', 'rtpevent', '-T', 'fields', '-E', 'separator=,'];
  for (const p of opts.decodeAs ?? []) args.push('-d', `udp.port==${typeof p === 'number' ? p : `${p[0]}-${p[1]}`},rtp`);
  for (const f of ['udp.srcport', 'udp.dstport', 'rtp.ssrc', 'rtp.timestamp', 'rtpevent.event_id', 'rtpevent.end_of_event', 'rtpevent.duration']) {
    args.push('-e', f);
  }
  const { stdout } = await execFileP('tshark', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return parseTsharkEvents(stdout);
}

/** Parses `-T fields -E separator=,` rows: srcport, dstport, ssrc, timestamp, event_id, end_of_event, duration. */
export function parseTsharkEvents(text: string): TsharkEventPacket[] {
  const out: TsharkEventPacket[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(',');
    if (f.length < 7) continue;
    const [src, dst, ssrc, ts, event, end, duration] = f as [string, string, string, string, string, string, string];
    const n = (s: string): number => (s.startsWith('0x') ? parseInt(s, 16) : Number(s));
    if (![src, dst, ssrc, ts, event, duration].every((s) => Number.isFinite(n(s)))) continue;
    out.push({
      srcPort: n(src),
      dstPort: n(dst),
      ssrc: n(ssrc),
      timestamp: n(ts),
      event: n(event),
      // tshark prints booleans as 1/0 (or True/False in some versions)
      end: end === '1' || end.toLowerCase() === 'true',
      duration: n(duration),
    });
  }
  return out;
}

/** Groups event packets into key presses, in capture order, one list per stream (src→dst port). */
export function digitsByStream(packets: readonly TsharkEventPacket[]): Map<string, TsharkDigit[]> {
  const streams = new Map<string, TsharkDigit[]>();
  const current = new Map<string, { ts: number; digit: TsharkDigit }>();
  for (const p of packets) {
    const key = `${p.srcPort}>${p.dstPort}`;
    let list = streams.get(key);
    if (!list) streams.set(key, (list = []));
    const cur = current.get(key);
    let digit: TsharkDigit;
    if (cur && cur.ts === p.timestamp) digit = cur.digit;
    else {
      digit = { srcPort: p.srcPort, dstPort: p.dstPort, digit: DIGITS[p.event] ?? `?${p.event}`, packets: 0, endPackets: 0, duration: 0 };
      list.push(digit);
      current.set(key, { ts: p.timestamp, digit });
    }
    digit.packets++;
    if (p.end) digit.endPackets++;
    digit.duration = Math.max(digit.duration, p.duration);
  }
  return streams;
}
