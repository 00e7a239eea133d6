// ProbeResult is plain, JSON-able data: probes produce it, reporters
// (metrics, webhook, CLI, JUnit) consume it. Nothing here does I/O.

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

export interface ProbeResult {
  probe: string;
  success: boolean;
  /** Wall-clock duration of the whole probe, seconds (set by the runner). */
  duration_s?: number;
  failures: Failure[];
  [field: string]: unknown;
}

export function failed(result: ProbeResult): boolean {
  return !result.success || result.failures.length > 0;
}
