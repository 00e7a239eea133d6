// One entry point: alert + webhook format → request body, and where it goes.
import type { AlertEvent } from '../alerts.js';
import { alertmanagerEndpoint, renderAlertmanager } from './alertmanager.js';
import { renderAlertmanagerWebhook } from './alertmanager-webhook.js';
import type { RenderContext } from './context.js';
import { renderJson } from './json.js';
import { renderSlack } from './slack.js';

export type WebhookFormat = 'slack' | 'json' | 'alertmanager' | 'alertmanager_webhook';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['slack', 'json', 'alertmanager', 'alertmanager_webhook'];
export type { RenderContext };

export function renderAlert(format: WebhookFormat, e: AlertEvent, ctx: RenderContext): string {
  switch (format) {
    case 'slack':
      return JSON.stringify(renderSlack(e, ctx));
    case 'json':
      return JSON.stringify(renderJson(e, ctx));
    case 'alertmanager':
      return JSON.stringify(renderAlertmanager([e], ctx));
    case 'alertmanager_webhook':
      return JSON.stringify(renderAlertmanagerWebhook(e, ctx));
  }
}

/** The URL a format posts to: Alertmanager's API path under its base URL, else the URL as configured. */
export function endpointOf(format: WebhookFormat, url: string): string {
  return format === 'alertmanager' ? alertmanagerEndpoint(url) : url;
}
