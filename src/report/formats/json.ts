// `json` format: our documented schema (docs/alerts.md), Standard Webhooks
// envelope `{ type, timestamp, data }`.
import type { AlertEvent } from '../alerts.js';
import type { RenderContext } from './context.js';

export const JSON_SCHEMA_VERSION = 1;

export interface JsonAlertPayload {
  type: 'alert.firing' | 'alert.resolved';
  timestamp: string;
  data: {
    schema_version: number;
    fingerprint: string;
    status: AlertEvent['status'];
    severity: AlertEvent['severity'];
    probe: string;
    check: string;
    phase: string;
    expected: AlertEvent['expected'];
    actual: AlertEvent['actual'];
    summary: string;
    starts_at: string;
    ends_at: string | null;
    repeat: number;
    consecutive_failures: number;
    labels: Record<string, string>;
    source: { agent: 'callprobe'; receiver: string; external_url: string | null };
    /** The failed run's pcap and SIP ladder (firing alerts of runs with evidence). */
    evidence?: { pcap_url: string; sip_ladder: string[] };
  };
}

export function renderJson(e: AlertEvent, ctx: RenderContext): JsonAlertPayload {
  return {
    type: e.status === 'firing' ? 'alert.firing' : 'alert.resolved',
    timestamp: e.event_at,
    data: {
      schema_version: JSON_SCHEMA_VERSION,
      fingerprint: e.fingerprint,
      status: e.status,
      severity: e.severity,
      probe: e.probe,
      check: e.check,
      phase: e.phase,
      expected: e.expected,
      actual: e.actual,
      summary: e.summary,
      starts_at: e.starts_at,
      ends_at: e.ends_at,
      repeat: e.repeat,
      consecutive_failures: e.consecutive_failures,
      labels: e.labels,
      source: { agent: 'callprobe', receiver: ctx.receiver, external_url: ctx.externalURL ?? null },
      ...(e.evidence ? { evidence: { pcap_url: e.evidence.url, sip_ladder: e.evidence.ladder } } : {}),
    },
  };
}
