import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { AlertTracker, type AlertEvent } from '../../../src/report/alerts.js';
import { renderAlert } from '../../../src/report/formats/index.js';
import { renderSlack, escapeMrkdwn } from '../../../src/report/formats/slack.js';
import { ALERTMANAGER_VALIDITY_MS, alertmanagerEndpoint, labelName, renderAlertmanager } from '../../../src/report/formats/alertmanager.js';
import { renderAlertmanagerWebhook, ZERO_TIME } from '../../../src/report/formats/alertmanager-webhook.js';
import { endpointOf } from '../../../src/report/formats/index.js';
import { renderJson } from '../../../src/report/formats/json.js';
import { signingKey, signStandardWebhook, standardWebhookHeaders } from '../../../src/report/signing.js';

function events(): { firing: AlertEvent; resolved: AlertEvent } {
  let t = Date.UTC(2026, 10, 25, 12);
  const tracker = new AlertTracker({ for: 1 }, undefined, () => t);
  const [firing] = tracker.observe(
    { probe: 'call-1001', success: false, failures: [{ check: 'mos_min', expected: 3.5, actual: 3.1, phase: 'media', message: 'MOS <3.5> & falling' }] },
    { instance: 'pbx-a' },
  );
  t += 300_000;
  const [resolved] = tracker.observe({ probe: 'call-1001', success: true, failures: [] }, { instance: 'pbx-a' });
  if (!firing || !resolved) throw new Error('tracker did not produce events');
  return { firing, resolved };
}

const ctx = { receiver: 'ops', externalURL: 'http://agent.example:9464/' };

describe('slack format', () => {
  it('has text and Block Kit blocks within documented limits', () => {
    const { firing } = events();
    const p = renderSlack(firing, ctx);
    expect(p.text).toMatch(/CRITICAL: call-1001 mos_min/);
    expect(p.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    const header = p.blocks[0];
    if (header?.type !== 'header') throw new Error('no header');
    expect(header.text.type).toBe('plain_text');
    expect(header.text.text.length).toBeLessThanOrEqual(150);
    const fields = p.blocks[2];
    if (fields?.type !== 'section' || !fields.fields) throw new Error('no fields');
    expect(fields.fields.length).toBeLessThanOrEqual(10);
    const texts = fields.fields.map((f) => f.text);
    expect(texts).toContain('*Phase*\nmedia');
    expect(texts).toContain('*Measured*\n3.1');
    expect(texts).toContain('*Threshold*\n3.5');
    expect(texts.find((t) => t.startsWith('*Since*'))).toContain(`|${firing.starts_at}>`);
    for (const f of fields.fields) {
      expect(f.type).toBe('mrkdwn');
      expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    // user text is escaped so it cannot inject links or mentions
    const section = p.blocks[1];
    expect(section?.type === 'section' && section.text?.text).toContain('MOS &lt;3.5&gt; &amp; falling');
  });
  it('says RESOLVED with the recovery time', () => {
    const { resolved } = events();
    const p = renderSlack(resolved, ctx);
    expect(p.text).toMatch(/^:white_check_mark: RESOLVED/);
    expect(JSON.stringify(p.blocks)).toContain('*Resolved*');
  });
  it('clips a very long title', () => {
    const { firing } = events();
    const long = renderSlack({ ...firing, check: 'x'.repeat(400) }, ctx);
    const header = long.blocks[0];
    expect(header?.type === 'header' && header.text.text.length).toBe(150);
    expect(escapeMrkdwn('<@U123>')).toBe('&lt;@U123&gt;');
  });
});

describe('alertmanager format (API v2)', () => {
  it('posts a list of postable alerts: firing valid for 4 resend intervals from the attempt, resolved with the recovery time', () => {
    const { firing, resolved } = events();
    const now = Date.UTC(2026, 10, 25, 12, 10);
    const [a, ...rest] = renderAlertmanager([firing], { ...ctx, now });
    expect(rest).toEqual([]);
    expect(Object.keys(a ?? {}).sort()).toEqual(['annotations', 'endsAt', 'generatorURL', 'labels', 'startsAt']);
    expect(a?.labels).toEqual({ alertname: 'callprobe_mos_min', probe: 'call-1001', check: 'mos_min', phase: 'media', severity: 'critical', instance: 'pbx-a' });
    expect(a?.annotations).toMatchObject({ summary: firing.summary, measured: '3.1', threshold: '3.5' });
    expect(a?.startsAt).toBe(firing.starts_at);
    expect(a?.endsAt).toBe(new Date(now + ALERTMANAGER_VALIDITY_MS).toISOString());
    const [r] = renderAlertmanager([resolved], { ...ctx, now });
    expect(r?.endsAt).toBe(resolved.ends_at);
    expect(JSON.parse(renderAlert('alertmanager', firing, { receiver: 'ops', now }))).toEqual([{ ...a, generatorURL: undefined }].map(({ generatorURL: _g, ...x }) => x));
  });
  it('keeps label names valid for Alertmanager and drops empty values', () => {
    const { firing } = events();
    const [a] = renderAlertmanager([{ ...firing, labels: { 'site-name': 'lab', '1x': 'y', empty: '' } }], ctx);
    expect(a?.labels).toMatchObject({ site_name: 'lab', _1x: 'y' });
    expect(a?.labels).not.toHaveProperty('empty');
    expect(labelName('a.b')).toBe('a_b');
  });
  it('posts to <base>/api/v2/alerts', () => {
    expect(alertmanagerEndpoint('http://127.0.0.1:9093')).toBe('http://127.0.0.1:9093/api/v2/alerts');
    expect(alertmanagerEndpoint('http://am.example/prefix/')).toBe('http://am.example/prefix/api/v2/alerts');
    expect(alertmanagerEndpoint('http://am.example/api/v2/alerts')).toBe('http://am.example/api/v2/alerts');
    expect(endpointOf('alertmanager_webhook', 'http://bridge.example/hook')).toBe('http://bridge.example/hook');
  });
});

describe('alertmanager_webhook format', () => {
  it('is shaped like webhook_config version 4', () => {
    const { firing, resolved } = events();
    const p = renderAlertmanagerWebhook(firing, ctx);
    expect(Object.keys(p).sort()).toEqual(
      ['alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'receiver', 'status', 'truncatedAlerts', 'version'].sort(),
    );
    expect(p.version).toBe('4');
    expect(p.status).toBe('firing');
    expect(p.receiver).toBe('ops');
    const a = p.alerts[0];
    expect(Object.keys(a ?? {}).sort()).toEqual(['annotations', 'endsAt', 'fingerprint', 'generatorURL', 'labels', 'startsAt', 'status']);
    expect(a?.labels).toMatchObject({ alertname: 'callprobe_mos_min', probe: 'call-1001', severity: 'critical', instance: 'pbx-a' });
    expect(a?.annotations).toMatchObject({ measured: '3.1', threshold: '3.5' });
    expect(a?.endsAt).toBe(ZERO_TIME);
    expect(a?.fingerprint).toBe(firing.fingerprint);
    const r = renderAlertmanagerWebhook(resolved, ctx);
    expect(r.status).toBe('resolved');
    expect(r.alerts[0]?.endsAt).toBe(resolved.ends_at);
    expect(r.groupKey).toBe(p.groupKey);
  });
});

describe('json format', () => {
  it('wraps data in the Standard Webhooks envelope', () => {
    const { firing } = events();
    const p = renderJson(firing, ctx);
    expect(p.type).toBe('alert.firing');
    expect(p.data).toMatchObject({ schema_version: 1, probe: 'call-1001', check: 'mos_min', severity: 'critical', actual: 3.1, expected: 3.5 });
    expect(JSON.parse(renderAlert('json', firing, ctx))).toEqual(p);
  });
});

describe('Standard Webhooks signature', () => {
  it('verifies with the reference library (whsec_ base64 secret)', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const { firing } = events();
    const body = renderAlert('json', firing, ctx);
    const headers = standardWebhookHeaders(secret, 'msg_abc', Date.now(), body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    // a changed body does not verify
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
  });
  it('matches the reference signer and its raw-secret form', () => {
    const raw = 'plain-shared-secret';
    const ts = 1_764_072_000;
    const ref = new Webhook(Buffer.from(raw, 'utf8').toString('base64')).sign('msg_1', new Date(ts * 1000), '{"a":1}');
    expect(signStandardWebhook(raw, 'msg_1', ts, '{"a":1}')).toBe(ref);
    expect(signingKey('whsec_AAEC')).toEqual(Buffer.from([0, 1, 2]));
  });
  it('sends no signature without a secret', () => {
    expect(standardWebhookHeaders(undefined, 'msg_1', 0, '{}')).toEqual({ 'webhook-id': 'msg_1', 'webhook-timestamp': '0' });
  });
});
