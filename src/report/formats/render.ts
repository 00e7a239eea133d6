// One entry point: alert + webhook format → request body.
import type { AlertEvent } from '../alerts.js';
import { renderAlertmanager } from './alertmanager.js';
import type { RenderContext } from './context.js';
import { renderJson } from './json.js';
import { renderSlack } from './slack.js';

export type WebhookFormat = 'slack' | 'json' | 'alertmanager';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['slack', 'json', 'alertmanager'];
export type { RenderContext };

export function renderAlert(format: WebhookFormat, e: AlertEvent, ctx: RenderContext): string {
  switch (format) {
    case 'slack':
      return JSON.stringify(renderSlack(e, ctx));
    case 'json':
      return JSON.stringify(renderJson(e, ctx));
    case 'alertmanager':
      return JSON.stringify(renderAlertmanager(e, ctx));
  }
}
