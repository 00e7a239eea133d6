// Call KPIs over sliding windows, per source and per route/trunk label.
//
// ASR  ITU-T E.411: answered seizures / seizures.
// NER  ITU-T E.425: (answered + seizures ended by the user side) / seizures. The
//      "user side" causes counted (USER_CAUSED_STATUSES): 486 Busy Here,
//      600 Busy Everywhere, 603 Decline (user busy / terminal rejection),
//      480 Temporarily Unavailable, 408 Request Timeout, 487 Request Terminated
//      (ring no answer / caller abandon). Everything else (404, 484, 403, 5xx,
//      other 4xx) is a network or configuration failure and lowers NER, and so is
//      an attempt a source closed itself for lack of any final response (a synthetic
//      408 with timedOut set: RFC 3398 maps 408 to Q.850 102, recovery on timer
//      expiry, a network cause), even though a 408 the far end sent is user-side.
// ACD  mean conversation time of answered calls that ended in the window.
// PDD  INVITE → first 180/183 (RFC 6076 §4.1 SRD-style), mean and p95.
// SER  RFC 6076 §4.6: 200 / (INVITEs − 3xx).
// SEER RFC 6076 §4.7: (200 + 480 + 486 + 600 + 603) / (INVITEs − 3xx).
// A seizure is one INVITE transaction with a final status (a CallFinalEvent);
// 3xx redirects count as seizures for ASR/NER (no call was answered) but are
// removed from the SER/SEER denominator as RFC 6076 says.
import type { AnalyticsEvent, CallEndEvent, CallFinalEvent } from './events.js';

export const USER_CAUSED_STATUSES: ReadonlySet<number> = new Set([486, 600, 603, 480, 408, 487]);
const SEER_EFFECTIVE_STATUSES: ReadonlySet<number> = new Set([200, 480, 486, 600, 603]);

export const KPI_WINDOWS_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;

export interface KpiOptions {
  /** Injected clock (ms epoch). */
  now?: () => number;
  /** Records older than this are dropped; must cover the ASR-drop comparison (2 h). */
  retainMs?: number;
  /** Hard cap on stored records (oldest dropped first). */
  maxRecords?: number;
}

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx';

export interface KpiSnapshot {
  source: string;
  /** Route label, or '*' for all routes of the source ('*' source = everything). */
  route: string;
  window_s: number;
  seizures: number;
  answered: number;
  user_failures: number;
  /** Ratios in 0..1; null when there is no denominator. */
  asr: number | null;
  ner: number | null;
  ser: number | null;
  seer: number | null;
  acd_s: number | null;
  pdd_mean_s: number | null;
  pdd_p95_s: number | null;
  by_class: Record<StatusClass, number>;
}

export interface KpiAlert {
  check: 'asr_min' | 'asr_drop';
  source: string;
  route: string;
  /** Percent, 0..100. */
  expected: number;
  actual: number;
  seizures: number;
  previous?: number;
}

export interface AsrCheckOptions {
  /** Alert when the last-hour ASR (percent) is below this. */
  minPercent: number;
  /** Alert when ASR fell by more than this many percentage points vs the previous hour. */
  maxDropPoints?: number;
  /** Ignore groups with fewer seizures than this (too few calls to judge). */
  minSeizures?: number;
  /** The window to judge (default 1 h). */
  windowMs?: number;
}

interface FinalRecord {
  kind: 'final';
  at: number;
  key: string;
  status: number;
  pddMs: number | undefined;
  /** Closed by the source for lack of a final response (network failure for NER). */
  timedOut?: true;
}
interface EndRecord {
  kind: 'end';
  at: number;
  key: string;
  durationS: number;
}
type KpiRecord = FinalRecord | EndRecord;

const SEP = '\u0000';

function statusClass(status: number): StatusClass | null {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 6 ? (`${c}xx` as StatusClass) : null;
}

/** Nearest-rank percentile of an unsorted list. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

interface Outcome {
  status: number;
  timedOut?: true;
}

/** The seizures each ratio counts, by final status (every record is one seizure). */
const TALLIES = {
  answered: (r: Outcome) => r.status >= 200 && r.status < 300,
  /** The caller's side ended it (busy, no answer, declined); our own timeout is not. None of them is a 2xx. */
  userFailures: (r: Outcome) => USER_CAUSED_STATUSES.has(r.status) && r.timedOut !== true,
  ok200: (r: Outcome) => r.status === 200,
  seerEffective: (r: Outcome) => SEER_EFFECTIVE_STATUSES.has(r.status),
  /** 3xx: left out of SER/SEER's base. */
  redirects: (r: Outcome) => r.status >= 300 && r.status < 400,
};
type Tally = keyof typeof TALLIES;
const TALLY_NAMES = Object.keys(TALLIES) as Tally[];

/** Computes KPIs from a list of records (pure; exported for tests and offline use). */
export function computeKpis(
  records: Iterable<Outcome & { pddMs?: number | undefined }>,
  durationsS: readonly number[],
): Omit<KpiSnapshot, 'source' | 'route' | 'window_s'> {
  const byClass: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, '6xx': 0 };
  const n = Object.fromEntries(TALLY_NAMES.map((t) => [t, 0])) as Record<Tally, number>;
  let seizures = 0;
  const pdds: number[] = [];
  for (const r of records) {
    seizures++;
    const cls = statusClass(r.status);
    if (cls) byClass[cls]++;
    for (const t of TALLY_NAMES) if (TALLIES[t](r)) n[t]++;
    if (r.pddMs !== undefined) pdds.push(r.pddMs / 1000);
  }
  const serBase = seizures - n.redirects;
  return {
    seizures,
    answered: n.answered,
    user_failures: n.userFailures,
    asr: seizures > 0 ? n.answered / seizures : null,
    ner: seizures > 0 ? (n.answered + n.userFailures) / seizures : null,
    ser: serBase > 0 ? n.ok200 / serBase : null,
    seer: serBase > 0 ? n.seerEffective / serBase : null,
    acd_s: mean(durationsS),
    pdd_mean_s: mean(pdds),
    pdd_p95_s: percentile(pdds, 95),
    by_class: byClass,
  };
}

/** Keeps recent call outcomes and answers KPI questions about any window. */
export class KpiTracker {
  readonly #now: () => number;
  readonly #retainMs: number;
  readonly #maxRecords: number;
  /** Ring of records in arrival order; #head is the index of the oldest live one. */
  #records: KpiRecord[] = [];
  #head = 0;

  constructor(opts: KpiOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#retainMs = opts.retainMs ?? 2 * 60 * 60_000;
    this.#maxRecords = opts.maxRecords ?? 200_000;
  }

  get size(): number {
    return this.#records.length - this.#head;
  }

  /** Feed any event; only call_final and call_end matter here. */
  observe(ev: AnalyticsEvent): void {
    if (ev.type === 'call_final') this.#push(finalRecord(ev));
    else if (ev.type === 'call_end') this.#push(endRecord(ev));
  }

  #push(r: KpiRecord): void {
    this.#records.push(r);
    this.#prune();
  }

  #prune(): void {
    const cutoff = this.#now() - this.#retainMs;
    while (this.#head < this.#records.length) {
      const r = this.#records[this.#head];
      if (r && r.at >= cutoff && this.size <= this.#maxRecords) break;
      this.#head++;
    }
    // Compact once the dead prefix dominates, so the array stays O(live).
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * KPIs over (now − windowMs, now], one snapshot per (source, route), plus one
   * per source with route '*' and one overall with source '*' and route '*'.
   * `offsetMs` shifts the window into the past (offsetMs = windowMs: the previous window).
   */
  snapshot(windowMs: number, offsetMs = 0): KpiSnapshot[] {
    this.#prune();
    const end = this.#now() - offsetMs;
    const start = end - windowMs;
    const finals = new Map<string, FinalRecord[]>();
    const durations = new Map<string, number[]>();
    const add = <T>(m: Map<string, T[]>, k: string, v: T): void => {
      const list = m.get(k);
      if (list) list.push(v);
      else m.set(k, [v]);
    };
    for (let i = this.#head; i < this.#records.length; i++) {
      const r = this.#records[i];
      if (!r || r.at <= start || r.at > end) continue;
      const [source = ''] = r.key.split(SEP);
      for (const k of [r.key, `${source}${SEP}*`, `*${SEP}*`]) {
        if (r.kind === 'final') add(finals, k, r);
        else add(durations, k, r.durationS);
      }
    }
    const keys = new Set([...finals.keys(), ...durations.keys()]);
    const out: KpiSnapshot[] = [];
    for (const k of [...keys].sort()) {
      const [source = '', route = ''] = k.split(SEP);
      out.push({
        source,
        route,
        window_s: windowMs / 1000,
        ...computeKpis(finals.get(k) ?? [], durations.get(k) ?? []),
      });
    }
    return out;
  }

  /** ASR below a floor, and ASR drop versus the previous window (default 1 h). */
  checkAsr(opts: AsrCheckOptions): KpiAlert[] {
    const windowMs = opts.windowMs ?? KPI_WINDOWS_MS['1h'];
    const minSeizures = opts.minSeizures ?? 10;
    const current = this.snapshot(windowMs);
    const previous = new Map(this.snapshot(windowMs, windowMs).map((s) => [`${s.source}${SEP}${s.route}`, s]));
    const alerts: KpiAlert[] = [];
    for (const s of current) {
      if (s.asr === null || s.seizures < minSeizures) continue;
      const asrPct = s.asr * 100;
      if (asrPct < opts.minPercent) {
        alerts.push({ check: 'asr_min', source: s.source, route: s.route, expected: opts.minPercent, actual: asrPct, seizures: s.seizures });
      }
      const prev = previous.get(`${s.source}${SEP}${s.route}`);
      if (opts.maxDropPoints !== undefined && prev?.asr != null && prev.seizures >= minSeizures) {
        const prevPct = prev.asr * 100;
        if (prevPct - asrPct > opts.maxDropPoints) {
          alerts.push({
            check: 'asr_drop',
            source: s.source,
            route: s.route,
            expected: prevPct - opts.maxDropPoints,
            actual: asrPct,
            seizures: s.seizures,
            previous: prevPct,
          });
        }
      }
    }
    return alerts;
  }
}

function keyOf(source: string, route: string | undefined): string {
  return `${source}${SEP}${route ?? 'default'}`;
}

function finalRecord(ev: CallFinalEvent): FinalRecord {
  const pdd = ev.ringingAt !== undefined && ev.ringingAt >= ev.inviteAt ? ev.ringingAt - ev.inviteAt : undefined;
  return { kind: 'final', at: ev.at, key: keyOf(ev.source, ev.route), status: ev.status, pddMs: pdd, ...(ev.timedOut ? { timedOut: true as const } : {}) };
}

function endRecord(ev: CallEndEvent): EndRecord {
  return { kind: 'end', at: ev.at, key: keyOf(ev.source, ev.route), durationS: ev.durationS };
}

/** One Prometheus gauge sample (the metrics module owns the registry; this only names and labels). */
export interface KpiSample {
  name: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

const KPI_GAUGES: readonly { name: string; help: string; pick: (s: KpiSnapshot) => number | null }[] = [
  { name: 'callprobe_asr_ratio', help: 'Answer-seizure ratio (ITU-T E.411) over the window', pick: (s) => s.asr },
  { name: 'callprobe_ner_ratio', help: 'Network effectiveness ratio (ITU-T E.425) over the window', pick: (s) => s.ner },
  { name: 'callprobe_ser_ratio', help: 'Session establishment ratio (RFC 6076) over the window', pick: (s) => s.ser },
  { name: 'callprobe_seer_ratio', help: 'Session establishment effectiveness ratio (RFC 6076) over the window', pick: (s) => s.seer },
  { name: 'callprobe_acd_seconds', help: 'Average call duration of answered calls ended in the window', pick: (s) => s.acd_s },
  { name: 'callprobe_pdd_mean_seconds', help: 'Mean post-dial delay (INVITE to first 180/183) over the window', pick: (s) => s.pdd_mean_s },
  { name: 'callprobe_pdd_p95_seconds', help: '95th percentile post-dial delay over the window', pick: (s) => s.pdd_p95_s },
  { name: 'callprobe_call_seizures', help: 'Call attempts with a final status (seizures) in the window', pick: (s) => s.seizures },
];

/**
 * Snapshots → gauge samples with labels {source, route, window}, plus
 * callprobe_calls_by_class{class}. Ratios without a denominator are left out
 * (no sample rather than a fake 0).
 */
export function kpiSamples(snapshots: readonly KpiSnapshot[]): KpiSample[] {
  const out: KpiSample[] = [];
  for (const s of snapshots) {
    const labels = { source: s.source, route: s.route, window: `${s.window_s}s` };
    for (const g of KPI_GAUGES) {
      const v = g.pick(s);
      if (v !== null) out.push({ name: g.name, help: g.help, labels, value: v });
    }
    for (const [cls, n] of Object.entries(s.by_class)) {
      out.push({ name: 'callprobe_calls_by_class', help: 'Seizures by final SIP status class in the window', labels: { ...labels, class: cls }, value: n });
    }
  }
  return out;
}
