// ProbeResult is plain, JSON-able data: probes produce it, reporters
// (metrics, webhook, CLI, JUnit) consume it. Nothing here does I/O.
import type { DirectionResult } from '../call/media-report.js';

/** Where a probe can break, in the order a call meets them. */
export type Phase =
  | 'config'
  | 'dns'
  | 'connect'
  | 'tls'
  | 'register'
  | 'options'
  | 'invite'
  | 'media'
  | 'bye'
  | 'cert'
  | 'internal';

/** A threshold or step that did not hold. */
export interface Failure {
  check: string;
  expected?: number | string | boolean;
  actual?: number | string | boolean | null;
  phase: Phase;
  message?: string;
}

/** SIP outcome of a run: every kind that speaks SIP fills it the same way. */
export interface SipSection {
  /** Final response status; null when none came. */
  final_status?: number | null;
  reason?: string;
  /**
   * Present when the run placed a call (null until the INVITE went out): such runs
   * count in callprobe_calls_total. Absent for OPTIONS / REGISTER.
   */
  call_id?: string | null;
  /** Phase → ms (register, options_rtt, pdd, answer, setup, bye, dns, connect, tls...). */
  timings_ms?: { [phase: string]: number | undefined };
}

/** One media direction as reporters read it: a name and whatever was measured (null: unknown). */
export type DirectionReport = { direction: string } & { readonly [K in Exclude<keyof DirectionResult, 'direction'>]?: DirectionResult[K] };

/** Media of a call, per direction (call probe, scenarios with a call step). */
export interface MediaSection {
  codec?: string | null;
  duration_s?: number;
  rtt_ms?: number | null;
  /** Where packet arrival times come from (call probe only). */
  arrival_timestamps?: 'kernel' | 'event_loop';
  directions: DirectionReport[];
}

/** One certificate target: the earliest not-after of its chain (ISO), null when unknown. */
export interface CertTargetSection {
  target: string;
  chain_earliest_not_after: string | null;
}

export interface CertSection {
  /** Earliest not-after over every target and chain (Unix seconds), null when none was read. */
  earliest_not_after_s: number | null;
  targets: CertTargetSection[];
}

/** One step of a scripted run (scenarios). */
export interface StepReport {
  index: number;
  /** Short label: "call 1002", "wait 2s". */
  step: string;
  ok: boolean;
  /** Not run because an earlier step failed or the run was interrupted. */
  skipped?: true;
  ms: number;
  message?: string;
  /** Where a failed step broke. */
  phase?: Phase;
  /** What the step measured, by name (expect_prompt: similarity, coverage, prompt_start_s). */
  values?: Record<string, number>;
}

/**
 * What every probe kind returns. Reporters (metrics, alerts, JUnit, CLI) read the
 * typed sections only; a kind fills the ones it measured. Other fields are the
 * kind's own (shown in JSON output), never read by a reporter.
 */
export interface ProbeResult {
  probe: string;
  success: boolean;
  /** Wall-clock duration of the whole probe, seconds (set by the runner). */
  duration_s?: number;
  failures: Failure[];
  /** Below a warning threshold but not failed (cert days left). */
  warnings?: Failure[];
  sip?: SipSection;
  /** null: a call was attempted but media never started. */
  media?: MediaSection | null;
  cert?: CertSection;
  steps?: StepReport[];
  [field: string]: unknown;
}

export function failed(result: ProbeResult): boolean {
  return !result.success || result.failures.length > 0;
}
