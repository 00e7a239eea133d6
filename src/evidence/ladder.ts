// The SIP ladder of a run, as text: one line per SIP message (time offset from
// the first, direction arrow, method or status, CSeq, the hop), then, with
// `full`, every message as it went over the wire (digest responses masked by
// the recorder). Reads only the start line and CSeq, so a message the parser
// would reject still shows up.
import type { PacketRecord } from './recorder.js';

export interface LadderOptions {
  /** ANSI colours (a TTY). */
  color?: boolean;
  /** Add each message in full after the ladder. */
  full?: boolean;
}

export interface LadderEntry {
  offsetMs: number;
  direction: 'out' | 'in';
  /** "INVITE" or "407 Proxy Authentication Required". */
  summary: string;
  /** "1 INVITE". */
  cseq: string;
  callId: string;
  transport: string;
  local: string;
  remote: string;
  status?: number;
}

/** The SIP records of a run as ladder entries, in time order. */
export function ladderEntries(records: readonly PacketRecord[]): LadderEntry[] {
  const sip = records.filter((r) => r.kind === 'sip').sort((a, b) => a.at - b.at);
  const t0 = sip[0]?.at ?? 0;
  return sip.map((r) => {
    const text = r.data.toString('latin1');
    const end = text.indexOf('\n');
    const first = (end < 0 ? text : text.slice(0, end)).trim();
    const response = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/i.exec(first);
    const local = r.direction === 'out' ? r.src : r.dst;
    const remote = r.direction === 'out' ? r.dst : r.src;
    const entry: LadderEntry = {
      offsetMs: r.at - t0,
      direction: r.direction,
      summary: response ? `${response[1]} ${response[2] ?? ''}`.trim() : (first.split(/\s+/)[0] ?? '?'),
      cseq: header(text, /^cseq[ \t]*:[ \t]*(.*)$/im),
      callId: header(text, /^(?:call-id|i)[ \t]*:[ \t]*(.*)$/im),
      transport: r.transport,
      local: hostPort(local.address, local.port),
      remote: hostPort(remote.address, remote.port),
    };
    if (response) entry.status = Number(response[1]);
    return entry;
  });
}

function header(text: string, re: RegExp): string {
  const head = text.split(/\r?\n\r?\n/, 1)[0] ?? '';
  return (re.exec(head)?.[1] ?? '').trim();
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const ANSI = { reset: '\x1b[0m', dim: '\x1b[2m', cyan: '\x1b[36m', green: '\x1b[32m', yellow: '\x1b[33m', red: '\x1b[31m' };

function colourOf(e: LadderEntry): string {
  if (e.status === undefined) return ANSI.cyan;
  if (e.status < 200) return ANSI.dim;
  if (e.status < 300) return ANSI.green;
  if (e.status === 401 || e.status === 407 || e.status < 400) return ANSI.yellow;
  return ANSI.red;
}

/** One ladder line: `  +0.012s  :5071 → 127.0.0.1:5060  udp  INVITE  (CSeq 1 INVITE)`. */
export function ladderLine(e: LadderEntry, color = false): string {
  const time = `+${(e.offsetMs / 1000).toFixed(3)}s`.padStart(9);
  const arrow = e.direction === 'out' ? '→' : '←';
  const what = e.summary.length > 32 ? `${e.summary.slice(0, 31)}…` : e.summary;
  const line = `${time}  ${e.local.padEnd(21)} ${arrow} ${e.remote.padEnd(21)} ${e.transport.padEnd(3)}  ${what.padEnd(24)}  CSeq ${e.cseq}`;
  return color ? `${colourOf(e)}${line}${ANSI.reset}` : line;
}

/** The ladder (and with `full` every message) as terminal text. */
export function renderLadder(records: readonly PacketRecord[], opts: LadderOptions = {}): string {
  const entries = ladderEntries(records);
  if (entries.length === 0) return 'SIP trace: no SIP message was sent or received\n';
  const lines = [`SIP trace (${entries.length} messages; local → remote):`, ...entries.map((e) => ladderLine(e, opts.color))];
  if (opts.full) {
    const sip = records.filter((r) => r.kind === 'sip').sort((a, b) => a.at - b.at);
    sip.forEach((r, i) => {
      const e = entries[i] as LadderEntry;
      lines.push('', `${opts.color ? ANSI.dim : ''}---- ${ladderLine(e).trim()}${opts.color ? ANSI.reset : ''}`);
      lines.push(r.data.toString('utf8').replace(/\r\n/g, '\n').replace(/\n+$/, ''));
    });
  }
  return `${lines.join('\n')}\n`;
}

/**
 * At most `maxLines` plain ladder lines for an alert. With more messages the
 * first lines and the last ones are kept (how it began and how it ended).
 */
export function ladderSummary(records: readonly PacketRecord[], maxLines = 20): string[] {
  const lines = ladderEntries(records).map((e) => ladderLine(e).trim().replace(/\s{2,}/g, '  '));
  if (lines.length <= maxLines) return lines;
  const tail = Math.floor((maxLines - 1) / 2);
  const head = maxLines - 1 - tail;
  return [...lines.slice(0, head), `… ${lines.length - head - tail} more messages …`, ...lines.slice(lines.length - tail)];
}
