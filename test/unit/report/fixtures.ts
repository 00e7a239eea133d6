// Alert events for the report tests: the n-th firing MOS alert.
import type { AlertEvent, Severity } from '../../../src/report/alerts.js';

export function alertEvent(n: number, severity: Severity = 'critical'): AlertEvent {
  return {
    fingerprint: `fp${n}`,
    status: 'firing',
    probe: `p${n}`,
    check: 'mos_min',
    severity,
    phase: 'media',
    expected: 3.5,
    actual: 3,
    summary: `alert ${n}`,
    starts_at: new Date(0).toISOString(),
    ends_at: null,
    event_at: new Date(0).toISOString(),
    repeat: 0,
    consecutive_failures: 1,
    labels: {},
  };
}
