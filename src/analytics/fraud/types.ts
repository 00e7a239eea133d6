// What a detector reports. Plain data: the consumer (metrics, webhook, fail2ban
// log) decides what to do with it.
import type { AnalyticsEvent } from '../events.js';

export type FraudRule =
  | 'brute_force'
  | 'credential_stuffing'
  | 'scanner_ua'
  | 'extension_enumeration'
  | 'high_risk_destination'
  | 'long_call'
  | 'call_velocity'
  | 'concurrent_calls'
  | 'off_hours_international'
  | 'wangiri'
  | 'asr_collapse';

export type Severity = 'info' | 'warning' | 'critical';

export interface FraudEvidence {
  ip?: string;
  user?: string;
  ua?: string;
  callee?: string;
  caller?: string;
  route?: string;
  callId?: string;
  /** The count that crossed the threshold (failures, calls, users, seconds...). */
  count: number;
  /** The window the count was taken over, seconds (0 when not windowed). */
  window_s: number;
  [extra: string]: string | number | undefined;
}

export interface FraudEvent {
  rule: FraudRule;
  severity: Severity;
  /** Event time of the triggering event, ms epoch. */
  at: number;
  evidence: FraudEvidence;
  /** One human line. */
  message: string;
}

/** Every detector: feed events, get zero or more detections back. Pure apart from its own tables. */
export interface Detector {
  readonly rule: FraudRule;
  observe(ev: AnalyticsEvent): FraudEvent[];
  /** Time passing without events (long calls still up). Optional. */
  tick?(now: number): FraudEvent[];
  /** Size of the detector's largest table, for the memory-bound tests and self-metrics. */
  trackedKeys(): number;
}
