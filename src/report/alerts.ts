// The alert state machine: ProbeResults in, alert notifications out. Pure: the
// clock is injected, nothing here does I/O (the Notifier spools and sends).
//
// Per fingerprint (probe + check):
//
//   (none) --fail--> pending --(`for` consecutive failures)--> firing  ==> "firing" sent
//   pending --ok--> (none)                                      (nothing was sent)
//   firing --fail, repeat_interval passed--> firing             ==> "firing" sent again (repeat)
//   firing --fail, severity raised---------> firing             ==> "firing" sent at once
//   firing --(`resolve_after` consecutive oks)--> (none)        ==> exactly one "resolved"
//
// A failure in between oks resets the ok count, so a flapping check stays
// firing (one notification) instead of paging firing/resolved on every run.
import { createHash } from 'node:crypto';
import type { Failure, Phase, ProbeResult } from '../probes/result.js';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];
const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function severityRank(s: Severity): number {
  return RANK[s];
}

export function atLeast(s: Severity, min: Severity): boolean {
  return RANK[s] >= RANK[min];
}

export interface AlertRules {
  /** Consecutive failing results before an alert fires (1 = on the first failure). */
  for: number;
  /** A still-firing alert is sent again at most this often, ms. */
  repeat_interval_ms: number;
  /** Consecutive ok results before a firing alert resolves (flap damping). */
  resolve_after: number;
}

export const DEFAULT_ALERT_RULES: AlertRules = { for: 2, repeat_interval_ms: 4 * 3_600_000, resolve_after: 1 };

/** The runbook thresholds that decide severity (design: "Alerts (webhook)"). */
export interface SeverityThresholds {
  /** MOS below this is critical (SEV-2); a failing MOS check above it is a warning. */
  mos_critical: number;
  /** Call success (ASR) below this percentage is critical. */
  call_success_critical_percent: number;
}

export const DEFAULT_SEVERITY_THRESHOLDS: SeverityThresholds = {
  mos_critical: 3.5,
  call_success_critical_percent: 95,
};

function numeric(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function isSeverity(v: unknown): v is Severity {
  return v === 'info' || v === 'warning' || v === 'critical';
}

/**
 * Severity of one failing check. An explicit `severity` on the failure wins;
 * then the runbook rules by check name; anything else that fails is critical
 * (a probe that cannot place a call is an outage). Certificates are graded by
 * the cert probe itself (cert_warn_days / cert_crit_days): below crit they are
 * failures (critical), below warn they come in `result.warnings` (warning).
 */
export function classifySeverity(failure: Failure, t: SeverityThresholds = DEFAULT_SEVERITY_THRESHOLDS): Severity {
  const explicit = (failure as { severity?: unknown }).severity;
  if (isSeverity(explicit)) return explicit;
  const check = failure.check.toLowerCase();
  const actual = numeric(failure.actual);
  if (/mos/.test(check) && actual !== null) return actual < t.mos_critical ? 'critical' : 'warning';
  if (/(asr|call_success|success_ratio|success_percent)/.test(check) && actual !== null) {
    const percent = actual <= 1 && /ratio/.test(check) ? actual * 100 : actual;
    return percent < t.call_success_critical_percent ? 'critical' : 'warning';
  }
  return 'critical';
}

export type AlertStatus = 'firing' | 'resolved';

/** One notification to deliver. Plain JSON data; formats render it. */
export interface AlertEvent {
  /** Stable per probe + check (hex); Alertmanager's `fingerprint`. */
  fingerprint: string;
  status: AlertStatus;
  probe: string;
  check: string;
  severity: Severity;
  phase: Phase;
  expected: number | string | boolean | null;
  actual: number | string | boolean | null;
  /** One human line: what failed, measured vs threshold. */
  summary: string;
  /** ISO time of the first failure of this episode. */
  starts_at: string;
  /** ISO time of recovery; null while firing. */
  ends_at: string | null;
  /** ISO time this notification was produced. */
  event_at: string;
  /** 0 for the first "firing", n for the n-th repeat / escalation. */
  repeat: number;
  /** Consecutive failing results seen (at the time of this event). */
  consecutive_failures: number;
  /** Extra labels from the caller (e.g. instance, target); never secrets. */
  labels: Record<string, string>;
  /** The failed run's pcap and SIP ladder (agent `evidence`), when one was stored. */
  evidence?: AlertEvidence;
}

export interface AlertEvidence {
  url: string;
  /** ≤ 20 lines. */
  ladder: string[];
}

/** `result.evidence` as the agent sets it (src/agent/evidence.ts), or undefined. */
export function evidenceOf(result: ProbeResult): AlertEvidence | undefined {
  const e = result['evidence'] as { url?: unknown; ladder?: unknown } | undefined;
  if (!e || typeof e.url !== 'string') return undefined;
  const ladder = Array.isArray(e.ladder) ? e.ladder.filter((l): l is string => typeof l === 'string').slice(0, 20) : [];
  return { url: e.url, ladder };
}

export function fingerprintOf(probe: string, check: string): string {
  return createHash('sha256').update(`${probe}\u0000${check}`).digest('hex').slice(0, 16);
}

interface Failing {
  failure: Failure;
  severity: Severity;
}

/** The failing checks of one result, worst severity per check. */
export function failingChecks(result: ProbeResult, t: SeverityThresholds = DEFAULT_SEVERITY_THRESHOLDS): Map<string, Failing> {
  const out = new Map<string, Failing>();
  const add = (f: Failure, severity: Severity): void => {
    const prev = out.get(f.check);
    if (!prev || RANK[severity] > RANK[prev.severity]) out.set(f.check, { failure: f, severity });
  };
  for (const f of result.failures) add(f, classifySeverity(f, t));
  // `warnings` (cert probe): below a warning threshold, not a probe failure.
  const warnings = result.warnings;
  if (Array.isArray(warnings)) {
    for (const w of warnings) {
      if (!w || typeof w.check !== 'string') continue;
      const explicit = (w as { severity?: unknown }).severity;
      add(w, isSeverity(explicit) ? explicit : 'warning');
    }
  }
  if (!result.success && out.size === 0) {
    add({ check: 'probe_success', expected: true, actual: false, phase: 'internal', message: `probe ${result.probe} failed` }, 'critical');
  }
  return out;
}

/** One human line: what failed, and measured vs threshold when known. */
export function summarize(probe: string, f: Failure): string {
  const what = f.message ?? `${f.check} failed in phase ${f.phase}`;
  const measured = f.actual !== undefined && f.expected !== undefined ? ` (measured ${String(f.actual)}, threshold ${String(f.expected)})` : '';
  return `${probe}: ${what}${measured}`;
}

/** Per-fingerprint state; JSON-able so the Notifier can persist it across restarts. */
export interface AlertState {
  fingerprint: string;
  probe: string;
  check: string;
  status: 'pending' | 'firing';
  consecutive_failures: number;
  consecutive_successes: number;
  starts_at_ms: number;
  last_sent_ms: number | null;
  sent_severity: Severity | null;
  repeats: number;
  severity: Severity;
  failure: Failure;
  labels: Record<string, string>;
  /** Evidence of the latest failing run, if any. */
  evidence?: AlertEvidence;
}

export class AlertTracker {
  private readonly states = new Map<string, AlertState>();
  private readonly rules: AlertRules;

  constructor(
    rules: Partial<AlertRules> = {},
    private readonly thresholds: SeverityThresholds = DEFAULT_SEVERITY_THRESHOLDS,
    private readonly now: () => number = Date.now,
  ) {
    this.rules = { ...DEFAULT_ALERT_RULES, ...rules };
    if (!(this.rules.for >= 1) || !(this.rules.resolve_after >= 1) || !(this.rules.repeat_interval_ms > 0))
      throw new RangeError('alert rules: for >= 1, resolve_after >= 1, repeat_interval_ms > 0');
  }

  /** Feeds one probe result; returns the notifications it causes (possibly none). */
  observe(result: ProbeResult, labels: Record<string, string> = {}): AlertEvent[] {
    const now = this.now();
    const events: AlertEvent[] = [];
    const failing = failingChecks(result, this.thresholds);
    const evidence = evidenceOf(result);

    for (const [check, { failure, severity }] of failing) {
      const fp = fingerprintOf(result.probe, check);
      let st = this.states.get(fp);
      if (!st) {
        st = {
          fingerprint: fp,
          probe: result.probe,
          check,
          status: 'pending',
          consecutive_failures: 0,
          consecutive_successes: 0,
          starts_at_ms: now,
          last_sent_ms: null,
          sent_severity: null,
          repeats: 0,
          severity,
          failure,
          labels,
        };
        this.states.set(fp, st);
      }
      st.consecutive_failures += 1;
      st.consecutive_successes = 0;
      st.severity = severity;
      st.failure = failure;
      st.labels = labels;
      if (evidence) st.evidence = evidence;
      else delete st.evidence;
      if (st.status === 'pending') {
        if (st.consecutive_failures >= this.rules.for) {
          st.status = 'firing';
          events.push(this.send(st, 'firing', now));
        }
      } else {
        const escalated = st.sent_severity !== null && RANK[severity] > RANK[st.sent_severity];
        const due = st.last_sent_ms === null || now - st.last_sent_ms >= this.rules.repeat_interval_ms;
        if (escalated || due) {
          st.repeats += 1;
          events.push(this.send(st, 'firing', now));
        }
      }
    }

    for (const [fp, st] of this.states) {
      if (st.probe !== result.probe || failing.has(st.check)) continue;
      st.consecutive_successes += 1;
      st.consecutive_failures = 0;
      if (st.status === 'pending') this.states.delete(fp);
      else if (st.consecutive_successes >= this.rules.resolve_after) {
        events.push(this.send(st, 'resolved', now));
        this.states.delete(fp);
      }
    }
    return events;
  }

  private send(st: AlertState, status: AlertStatus, now: number): AlertEvent {
    st.last_sent_ms = now;
    st.sent_severity = st.severity;
    return this.eventOf(st, status, now);
  }

  private eventOf(st: AlertState, status: AlertStatus, now: number): AlertEvent {
    const f = st.failure;
    return {
      fingerprint: st.fingerprint,
      status,
      probe: st.probe,
      check: st.check,
      severity: st.severity,
      phase: f.phase,
      expected: f.expected ?? null,
      actual: f.actual ?? null,
      summary: summarize(st.probe, f),
      starts_at: new Date(st.starts_at_ms).toISOString(),
      ends_at: status === 'resolved' ? new Date(now).toISOString() : null,
      event_at: new Date(now).toISOString(),
      repeat: status === 'firing' ? st.repeats : 0,
      consecutive_failures: st.consecutive_failures,
      labels: { ...st.labels },
      ...(status === 'firing' && st.evidence ? { evidence: { url: st.evidence.url, ladder: [...st.evidence.ladder] } } : {}),
    };
  }

  /** Alerts currently pending or firing (copies). */
  active(): AlertState[] {
    return [...this.states.values()].map((s) => structuredClone(s));
  }

  /**
   * The alerts firing now, as notifications (nothing is marked sent): what a
   * receiver that forgets unrefreshed alerts (Alertmanager) is sent again.
   */
  firingEvents(): AlertEvent[] {
    const now = this.now();
    return [...this.states.values()].filter((s) => s.status === 'firing').map((s) => this.eventOf(s, 'firing', now));
  }

  firingCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.status === 'firing') n += 1;
    return n;
  }

  /** For persistence: restore() after a restart keeps a firing alert's "resolved" owed. */
  snapshot(): AlertState[] {
    return this.active();
  }

  restore(states: AlertState[]): void {
    this.states.clear();
    for (const s of states) {
      if (s && typeof s.fingerprint === 'string' && (s.status === 'pending' || s.status === 'firing')) this.states.set(s.fingerprint, structuredClone(s));
    }
  }
}
