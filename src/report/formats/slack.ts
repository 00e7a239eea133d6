// `slack` format: a Slack incoming-webhook message, `text` (notification
// fallback) + Block Kit `blocks` (header, section, section fields, context).
// Limits from Slack's Block Kit reference: header plain_text ≤ 150 chars,
// section text ≤ 3000, ≤ 10 fields of ≤ 2000 chars, context ≤ 10 elements.
import type { AlertEvent } from '../alerts.js';
import type { RenderContext } from './context.js';

interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}
interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] };

export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
}

/** Slack mrkdwn control characters (Slack "Formatting text": escape &, <, >). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** `<!date^…>` renders in the reader's time zone; the ISO text is the fallback. */
function slackDate(iso: string): string {
  const unix = Math.floor(Date.parse(iso) / 1000);
  return `<!date^${unix}^{date_short_pretty} {time_secs}|${iso}>`;
}

const ICON: Record<string, string> = {
  'firing:critical': ':red_circle:',
  'firing:warning': ':large_yellow_circle:',
  'firing:info': ':large_blue_circle:',
};

export function renderSlack(e: AlertEvent, ctx: RenderContext): SlackPayload {
  const state = e.status === 'firing' ? `${e.severity.toUpperCase()}${e.repeat > 0 ? ' (still failing)' : ''}` : 'RESOLVED';
  const icon = e.status === 'resolved' ? ':white_check_mark:' : (ICON[`firing:${e.severity}`] ?? ':red_circle:');
  const title = `${state}: ${e.probe} ${e.check}`;
  const field = (name: string, value: string): Mrkdwn => ({ type: 'mrkdwn', text: clip(`*${name}*\n${escapeMrkdwn(value)}`, 2000) });
  const fields: Mrkdwn[] = [field('Probe', e.probe), field('Check', e.check), field('Phase', e.phase), field('Severity', e.severity)];
  if (e.actual !== null) fields.push(field('Measured', String(e.actual)));
  if (e.expected !== null) fields.push(field('Threshold', String(e.expected)));
  fields.push({ type: 'mrkdwn', text: `*Since*\n${slackDate(e.starts_at)}` });
  if (e.ends_at) fields.push({ type: 'mrkdwn', text: `*Resolved*\n${slackDate(e.ends_at)}` });
  for (const [k, v] of Object.entries(e.labels)) {
    if (fields.length >= 10) break;
    fields.push(field(k, v));
  }
  const context = `callprobe · ${escapeMrkdwn(ctx.receiver)} · fingerprint ${e.fingerprint}` + (ctx.externalURL ? ` · <${ctx.externalURL}|details>` : '');
  const evidence: SlackBlock[] = e.evidence
    ? [{ type: 'section', text: { type: 'mrkdwn', text: clip(`<${e.evidence.url}|SIP trace (pcap)>\n\`\`\`${escapeMrkdwn(e.evidence.ladder.join('\n'))}\`\`\``, 3000) } }]
    : [];
  return {
    text: clip(`${icon} ${title}: ${e.summary}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(title, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: clip(`${icon} ${escapeMrkdwn(e.summary)}`, 3000) } },
      { type: 'section', fields },
      ...evidence,
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(context, 2000) }] },
    ],
  };
}
