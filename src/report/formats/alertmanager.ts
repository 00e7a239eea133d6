// `alertmanager` format: Prometheus Alertmanager's own API (v2): POST a list of
// postable alerts to `<url>/api/v2/alerts`, as Prometheus does. A firing alert
// carries `endsAt` = send time + ALERTMANAGER_VALIDITY_MS and is re-sent every
// ALERTMANAGER_RESEND_MS while it fires (Prometheus: 4 × resend delay), so
// Alertmanager keeps it active while we do and lets it lapse if we die; a
// resolved one carries the recovery time as `endsAt`.
// https://github.com/prometheus/alertmanager/blob/v0.25.0/api/v2/openapi.yaml
import type { AlertEvent } from '../alerts.js';
import type { RenderContext } from './context.js';

/** Re-send interval of firing alerts (Prometheus' default resend delay). */
export const ALERTMANAGER_RESEND_MS = 60_000;
/** How long one send keeps an alert active in Alertmanager. */
export const ALERTMANAGER_VALIDITY_MS = 4 * ALERTMANAGER_RESEND_MS;

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*; other characters become `_`. */
export function labelName(name: string): string {
  const n = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(n) ? n : `_${n}`;
}

/** Labels of an alert in Alertmanager's model; empty values are left out (Prometheus does the same). */
export function alertLabels(e: AlertEvent): Record<string, string> {
  const out: Record<string, string> = {};
  const all = { ...e.labels, alertname: `callprobe_${e.check}`, probe: e.probe, check: e.check, phase: e.phase, severity: e.severity };
  for (const [k, v] of Object.entries(all)) if (v !== '') out[labelName(k)] = v;
  return out;
}

export function alertAnnotations(e: AlertEvent): Record<string, string> {
  const annotations: Record<string, string> = { summary: e.summary };
  if (e.expected !== null) annotations['threshold'] = String(e.expected);
  if (e.actual !== null) annotations['measured'] = String(e.actual);
  if (e.evidence) {
    annotations['evidence_url'] = e.evidence.url;
    annotations['sip_ladder'] = e.evidence.ladder.join('\n');
  }
  return annotations;
}

/** The body of one POST /api/v2/alerts: every event given, rendered at `ctx.now`. */
export function renderAlertmanager(events: readonly AlertEvent[], ctx: RenderContext): PostableAlert[] {
  const now = ctx.now ?? Date.now();
  return events.map((e) => ({
    labels: alertLabels(e),
    annotations: alertAnnotations(e),
    startsAt: e.starts_at,
    endsAt: e.status === 'resolved' && e.ends_at !== null ? e.ends_at : new Date(now + ALERTMANAGER_VALIDITY_MS).toISOString(),
    ...(ctx.externalURL ? { generatorURL: ctx.externalURL } : {}),
  }));
}

/** `<base>/api/v2/alerts`; a URL that already names that path is kept. */
export function alertmanagerEndpoint(base: string): string {
  const u = new URL(base);
  if (!/\/api\/v2\/alerts\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v2/alerts`;
  return u.toString();
}
