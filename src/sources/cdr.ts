// CDR source: Asterisk cdr-csv (Master.csv) or JSON lines, tailed with
// rotation and position persistence (./tail.ts), each row turned into
// call_attempt + call_final (+ call_end when answered) events.
//
// Disposition → SIP status used for the KPIs (there is no SIP code in a CDR):
//   ANSWERED 200, BUSY 486, NO ANSWER 480, CANCEL 487, FAILED 503, CONGESTION 503.
import type { AnalyticsEvent, EventSink } from '../analytics/events.js';
import { TailedSource } from './tailed-source.js';

/** Asterisk cdr_csv column order (loguniqueid / loguserfield add the last two). */
export const ASTERISK_MASTER_CSV_COLUMNS = [
  'accountcode', 'src', 'dst', 'dcontext', 'clid', 'channel', 'dstchannel', 'lastapp', 'lastdata',
  'start', 'answer', 'end', 'duration', 'billsec', 'disposition', 'amaflags', 'uniqueid', 'userfield',
] as const;

/** Which CDR field feeds which event field (CSV: names from `columns`; JSON: keys). */
export interface CdrFieldMap {
  caller: string;
  callee: string;
  route: string;
  start: string;
  answer: string;
  end: string;
  billsec: string;
  disposition: string;
  callId: string;
  /** Optional source IP column (not in Master.csv). */
  ip?: string;
}

export const DEFAULT_FIELD_MAP: Readonly<CdrFieldMap> = Object.freeze({
  caller: 'src',
  callee: 'dst',
  route: 'dcontext',
  start: 'start',
  answer: 'answer',
  end: 'end',
  billsec: 'billsec',
  disposition: 'disposition',
  callId: 'uniqueid',
});

export const DISPOSITION_STATUS: Readonly<Record<string, number>> = Object.freeze({
  ANSWERED: 200,
  BUSY: 486,
  'NO ANSWER': 480,
  NOANSWER: 480,
  CANCEL: 487,
  FAILED: 503,
  CONGESTION: 503,
});

export interface CdrParseOptions {
  format: 'csv' | 'jsonl';
  /** CSV column names in file order (default: Asterisk Master.csv). */
  columns?: readonly string[];
  fields?: Partial<CdrFieldMap>;
  /** Contexts whose calls are inbound (from a trunk); everything else is outbound. */
  inboundContexts?: readonly string[];
  /** How "YYYY-MM-DD HH:MM:SS" without a zone is read: 'utc' (cdr_csv usegmtime=yes) or 'local'. */
  timezone?: 'utc' | 'local';
}

export type CdrRowResult = { ok: true; events: AnalyticsEvent[] } | { ok: false; error: string };

/** RFC 4180 fields of one line ("" inside quotes is a quote). Null when quotes are unbalanced. */
export function parseCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) return null;
        const c = line[i];
        if (c === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += c;
        i++;
      }
      // Garbage between the closing quote and the comma is kept, Asterisk never writes any.
      while (i < n && line[i] !== ',') field += line[i++];
    } else {
      const next = line.indexOf(',', i);
      const stop = next < 0 ? n : next;
      field = line.slice(i, stop);
      i = stop;
    }
    out.push(field);
    if (i >= n) return out;
    i++; // the comma
    if (out.length > 256) return null;
  }
}

/** "2026-01-05 12:00:00", ISO 8601 or epoch seconds → ms; null when empty or unreadable. */
export function parseCdrTime(v: unknown, timezone: 'utc' | 'local' = 'utc'): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? (v > 1e12 ? v : v * 1000) : null;
  if (typeof v !== 'string' || v.trim() === '') return null;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseCdrTime(Number(s), timezone);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(s);
  if (m) {
    const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const frac = m[7] ? Math.round(Number(m[7]) * 1000) : 0;
    const t = timezone === 'utc' ? Date.UTC(y, mo - 1, d, h, mi, se) : new Date(y, mo - 1, d, h, mi, se).getTime();
    return Number.isFinite(t) ? t + frac : null;
  }
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

const DEFAULT_INBOUND = ['from-trunk', 'from-pstn', 'from-external', 'from-did', 'from-carrier'];

/** One CDR row (already split into named fields) → events. */
export function cdrRecordToEvents(rec: Record<string, unknown>, opts: CdrParseOptions, source = 'cdr'): CdrRowResult {
  const f = { ...DEFAULT_FIELD_MAP, ...opts.fields };
  const tz = opts.timezone ?? 'utc';
  const start = parseCdrTime(rec[f.start], tz);
  const end = parseCdrTime(rec[f.end], tz);
  if (start === null || end === null) return { ok: false, error: 'start or end time missing or unreadable' };
  const answer = parseCdrTime(rec[f.answer], tz);
  const dispo = (str(rec[f.disposition]) ?? '').toUpperCase();
  const status = DISPOSITION_STATUS[dispo];
  if (status === undefined) return { ok: false, error: `unknown disposition "${dispo.slice(0, 40)}"` };
  const billsecRaw = Number(str(rec[f.billsec]) ?? NaN);
  const answered = status === 200 && answer !== null;
  const billsec = Number.isFinite(billsecRaw) && billsecRaw >= 0 ? billsecRaw : answered ? Math.max(0, (end - (answer ?? end)) / 1000) : 0;
  const caller = str(rec[f.caller]);
  const callee = str(rec[f.callee]);
  const route = str(rec[f.route]);
  const callId = str(rec[f.callId]) ?? `${start}|${caller ?? ''}|${callee ?? ''}|${str(rec.channel) ?? ''}`;
  const ip = f.ip ? str(rec[f.ip]) : undefined;
  const inbound = route !== undefined && (opts.inboundContexts ?? DEFAULT_INBOUND).includes(route);
  const base = { source, callId, route, caller, callee, ip, direction: inbound ? ('inbound' as const) : ('outbound' as const) };
  const events: AnalyticsEvent[] = [
    { type: 'call_attempt', at: start, ...base },
    { type: 'call_final', at: answered ? (answer as number) : end, status, inviteAt: start, answerAt: answered ? (answer as number) : undefined, ...base },
  ];
  if (answered) events.push({ type: 'call_end', at: end, answerAt: answer as number, durationS: billsec, ...base });
  return { ok: true, events };
}

/** One line of the file → events (null for header and blank lines). */
export function parseCdrLine(line: string, opts: CdrParseOptions, source = 'cdr'): CdrRowResult | null {
  if (line.trim() === '') return null;
  let rec: Record<string, unknown>;
  if (opts.format === 'jsonl') {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return { ok: false, error: 'not JSON' };
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'not a JSON object' };
    rec = v as Record<string, unknown>;
  } else {
    const cells = parseCsvLine(line);
    if (!cells) return { ok: false, error: 'unbalanced quotes' };
    const cols = opts.columns ?? ASTERISK_MASTER_CSV_COLUMNS;
    if (cells[0] === cols[0] && cells[1] === cols[1]) return null; // a header row
    rec = {};
    cols.forEach((c, i) => {
      rec[c] = cells[i];
    });
  }
  return cdrRecordToEvents(rec, opts, source);
}

export interface CdrSourceOptions extends CdrParseOptions {
  path: string;
  /** Position file (e.g. $STATE_DIRECTORY/cdr.pos); no persistence without it. */
  stateFile?: string;
  pollMs?: number;
  startAt?: 'start' | 'end';
  source?: string;
  onEvent: EventSink;
  /** Rows that could not be read (counted in stats.badRows too). */
  onBadRow?: (line: string, error: string) => void;
  onError?: (err: unknown) => void;
}

export interface CdrStats {
  rows: number;
  badRows: number;
}

/** Tails a CDR file and emits events; `close()` is idempotent. */
export class CdrSource extends TailedSource {
  readonly stats: CdrStats = { rows: 0, badRows: 0 };

  constructor(private readonly opts: CdrSourceOptions) {
    super({ path: opts.path, stateFile: opts.stateFile, pollMs: opts.pollMs, startAt: opts.startAt, onError: opts.onError });
  }

  protected onLines(lines: string[]): void {
    for (const line of lines) {
      let r: CdrRowResult | null;
      try {
        r = parseCdrLine(line, this.opts, this.opts.source ?? 'cdr');
      } catch (err) {
        r = { ok: false, error: String(err) };
      }
      if (r === null) continue;
      if (!r.ok) {
        this.stats.badRows++;
        const error = r.error;
        this.deliver(() => this.opts.onBadRow?.(line.slice(0, 512), error));
        continue;
      }
      this.stats.rows++;
      for (const ev of r.events) this.deliver(() => this.opts.onEvent(ev));
    }
  }
}
