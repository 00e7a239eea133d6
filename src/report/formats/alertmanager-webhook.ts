// `alertmanager_webhook` format: the payload Prometheus Alertmanager's
// webhook_config sends (version "4"), so receivers written for Alertmanager's
// webhooks take ours as is. (To post to Alertmanager itself: `alertmanager`.)
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
import type { AlertEvent } from '../alerts.js';
import { alertAnnotations, alertLabels } from './alertmanager.js';
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

export function renderAlertmanagerWebhook(e: AlertEvent, ctx: RenderContext): AlertmanagerPayload {
  const labels = alertLabels(e);
  const annotations = alertAnnotations(e);
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
