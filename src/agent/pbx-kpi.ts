// The PBX's real calls, as the sources report them: route labels bounded to the
// config's `kpi.routes` plus "other", calls counted by outcome, ASR/NER gauges
// over 5 minutes and 1 hour, and KpiTracker.checkAsr()'s verdicts turned into
// results for the alert state machine, so an ASR drop fires, repeats and
// resolves exactly like a failing probe (same AlertTracker, same webhooks).
import { Counter } from 'prom-client';
import type { AnalyticsEvent } from '../analytics/events.js';
import { KPI_WINDOWS_MS, USER_CAUSED_STATUSES, type KpiAlert, type KpiTracker } from '../analytics/kpi.js';
import type { Failure, ProbeResult } from '../probes/result.js';
import type { Severity } from '../report/alerts.js';
import type { ProbeMetrics } from '../report/metrics.js';

/** Where every route not named in `kpi.routes` is counted. */
export const OTHER_ROUTE = 'other';

export function boundRoute(route: string | undefined, named: ReadonlySet<string>): string {
  return route !== undefined && named.has(route) ? route : OTHER_ROUTE;
}

/**
 * A seizure's outcome label: `answered` (2xx); `busy` (486, 600, 603) and
 * `no_answer` (480, 408, 487), the user-caused failures of ITU-T E.425; `failed`:
 * everything else (404, 403, 5xx, ...), the failures that lower NER.
 */
export type CallResult = 'answered' | 'busy' | 'no_answer' | 'failed';

export function callResult(status: number): CallResult {
  if (status >= 200 && status < 300) return 'answered';
  if (!USER_CAUSED_STATUSES.has(status)) return 'failed';
  return status === 486 || status === 600 || status === 603 ? 'busy' : 'no_answer';
}

export interface PbxKpiOptions {
  routes: readonly string[];
  /** asr_min below this percentage; undefined: no floor. */
  asr_min_percent?: number | undefined;
  asr_drop_points: number;
  min_seizures: number;
}

/** One route's verdict for the alert tracker. */
export interface KpiVerdict {
  result: ProbeResult;
  labels: Record<string, string>;
}

const SEP = '\u0000';
const SEVERITY: Record<KpiAlert['check'], Severity> = { asr_drop: 'critical', asr_min: 'warning' };
const pct = (v: number) => Math.round(v * 10) / 10;

export function kpiProbeName(source: string, route: string): string {
  return `pbx:${source}:${route}`;
}

/** checkAsr() alerts → one Failure each (explicit severity: a drop is an outage on the route, a low floor a warning). */
export function kpiFailure(a: KpiAlert): Failure {
  const what =
    a.check === 'asr_drop'
      ? `ASR of route ${a.route} (${a.source}) fell from ${pct(a.previous ?? 0)} % to ${pct(a.actual)} % over the last hour`
      : `ASR of route ${a.route} (${a.source}) is ${pct(a.actual)} % over the last hour, below ${a.expected} %`;
  const f: Failure & { severity: Severity } = {
    check: a.check,
    expected: pct(a.expected),
    actual: pct(a.actual),
    phase: 'internal',
    message: `${what} (${a.seizures} seizures)`,
    severity: SEVERITY[a.check],
  };
  return f;
}

export class PbxKpi {
  readonly #named: ReadonlySet<string>;
  readonly #calls: Counter<'source' | 'route' | 'result'>;
  /** Gauge label sets written at the last publish (so vanished ones are removed). */
  #published = new Map<string, { source: string; route: string; window_s: number }>();
  /** Groups that failed at the last judgement: they get a verdict until it resolves. */
  #failing = new Set<string>();

  constructor(
    readonly tracker: KpiTracker,
    private readonly opts: PbxKpiOptions,
    private readonly metrics: ProbeMetrics,
  ) {
    this.#named = new Set(opts.routes);
    this.#calls = new Counter({
      name: 'callprobe_pbx_calls_total',
      help: 'Real calls seen by the sources, by final outcome (answered, busy, no_answer, failed) and route (config kpi.routes, else "other").',
      labelNames: ['source', 'route', 'result'],
      registers: [metrics.registry],
    });
  }

  /** Bounds the route label, counts the outcome, feeds the tracker. */
  observe(ev: AnalyticsEvent): void {
    if (ev.type !== 'call_attempt' && ev.type !== 'call_final' && ev.type !== 'call_end') return;
    const route = boundRoute(ev.route, this.#named);
    if (ev.type === 'call_final') this.#calls.inc({ source: ev.source, route, result: callResult(ev.status) });
    this.tracker.observe({ ...ev, route });
  }

  /** ASR/NER gauges for 5 m and 1 h per source and route (plus "*"); series of groups gone quiet are removed. */
  publish(): void {
    const now = new Map<string, { source: string; route: string; window_s: number }>();
    for (const windowMs of Object.values(KPI_WINDOWS_MS)) {
      for (const s of this.tracker.snapshot(windowMs)) {
        this.metrics.recordKpis(s);
        now.set(`${s.source}${SEP}${s.route}${SEP}${s.window_s}`, s);
      }
    }
    for (const [key, s] of this.#published) if (!now.has(key)) this.metrics.recordKpis({ ...s, asr: null, ner: null });
    this.#published = now;
  }

  /**
   * One verdict per (source, route) with calls in the last hour, plus every one
   * that failed last time (so it can resolve even when its calls stopped).
   * The "*" aggregates are not judged: one bad route is one alert.
   */
  judge(): KpiVerdict[] {
    const alerts = this.tracker.checkAsr({
      minPercent: this.opts.asr_min_percent ?? -1,
      maxDropPoints: this.opts.asr_drop_points,
      minSeizures: this.opts.min_seizures,
    });
    const groups = new Set(this.#failing);
    for (const s of this.tracker.snapshot(KPI_WINDOWS_MS['1h'])) if (s.source !== '*' && s.route !== '*') groups.add(`${s.source}${SEP}${s.route}`);
    const failing = new Set<string>();
    const out: KpiVerdict[] = [];
    for (const g of groups) {
      const [source = '', route = ''] = g.split(SEP);
      const failures = alerts.filter((a) => a.source === source && a.route === route).map(kpiFailure);
      if (failures.length > 0) failing.add(g);
      out.push({
        result: { probe: kpiProbeName(source, route), success: failures.length === 0, failures },
        labels: { kind: 'pbx_kpi', source, route },
      });
    }
    this.#failing = failing;
    return out;
  }
}
