// `alertmanager` format: the payload Prometheus Alertmanager's webhook_config
// sends (version "4"), so receivers written for Alertmanager take ours as is.
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
import type { AlertEvent } from '../alerts.js';
import type { RenderContext } from './context.js';

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface AlertmanagerPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
}

/** Alertmanager's zero time: "no end known yet" for a firing alert. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function alertLabels(e: AlertEvent): Record<string, string> {
  return {
    ...e.labels,
    alertname: `callprobe_${e.check}`,
    probe: e.probe,
    check: e.check,
    phase: e.phase,
    severity: e.severity,
  };
}

export function renderAlertmanager(e: AlertEvent, ctx: RenderContext): AlertmanagerPayload {
  const labels = alertLabels(e);
  const annotations: Record<string, string> = { summary: e.summary };
  if (e.expected !== null) annotations['threshold'] = String(e.expected);
  if (e.actual !== null) annotations['measured'] = String(e.actual);
  if (e.evidence) {
    annotations['evidence_url'] = e.evidence.url;
    annotations['sip_ladder'] = e.evidence.ladder.join('\n');
  }
  const groupLabels = { alertname: labels['alertname'] ?? '', probe: e.probe };
  return {
    version: '4',
    groupKey: `{}:{alertname="${groupLabels.alertname}", probe="${e.probe}"}`,
    truncatedAlerts: 0,
    status: e.status,
    receiver: ctx.receiver,
    groupLabels,
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: ctx.externalURL ?? '',
    alerts: [
      {
        status: e.status,
        labels,
        annotations,
        startsAt: e.starts_at,
        endsAt: e.ends_at ?? ZERO_TIME,
        generatorURL: ctx.externalURL ?? '',
        fingerprint: e.fingerprint,
      },
    ],
  };
}
