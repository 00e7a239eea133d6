// The failed run's evidence (pcap URL + SIP ladder) travels from the result
// through the alert state machine into every webhook format.
import { describe, expect, it } from 'vitest';
import { AlertTracker, evidenceOf } from '../../../src/report/alerts.js';
import { renderAlert } from '../../../src/report/formats/index.js';
import type { ProbeResult } from '../../../src/probes/result.js';

const URL1 = 'http://agent:9464/evidence/call-1001/20261203T100000000Z-abcdef.pcap';
const LADDER = ['+0.000s  127.0.0.1:5071 → 127.0.0.1:5060  udp  INVITE  CSeq 1 INVITE', '+0.002s  127.0.0.1:5071 ← 127.0.0.1:5060  udp  503 Service Unavailable  CSeq 1 INVITE'];

const failing = (evidence?: unknown): ProbeResult => ({
  probe: 'call-1001',
  success: false,
  failures: [{ check: 'invite', phase: 'invite', message: 'INVITE: 503 Service Unavailable', actual: 503 }],
  ...(evidence !== undefined ? { evidence } : {}),
});

describe('evidence in alerts', () => {
  it('reads only a well-formed result.evidence, at most 20 ladder lines', () => {
    expect(evidenceOf(failing())).toBeUndefined();
    expect(evidenceOf(failing({ url: 42 }))).toBeUndefined();
    expect(evidenceOf(failing({ url: URL1, ladder: [...Array(30).keys()].map(String) }))?.ladder).toHaveLength(20);
  });

  it('a firing alert carries the latest failing run’s evidence; the resolved one does not', () => {
    let now = 0;
    const t = new AlertTracker({ for: 2 }, undefined, () => (now += 1000));
    expect(t.observe(failing({ url: 'http://old', ladder: [] }))).toEqual([]);
    const [firing] = t.observe(failing({ url: URL1, ladder: LADDER }));
    expect(firing?.evidence).toEqual({ url: URL1, ladder: LADDER });
    const [resolved] = t.observe({ probe: 'call-1001', success: true, failures: [] });
    expect(resolved?.status).toBe('resolved');
    expect(resolved?.evidence).toBeUndefined();
  });

  it('json data, Slack blocks and Alertmanager annotations show the URL and the ladder', () => {
    const t = new AlertTracker({ for: 1 });
    const [event] = t.observe(failing({ url: URL1, ladder: LADDER }));
    if (!event) throw new Error('no event');
    const ctx = { receiver: 'r' };
    const json = JSON.parse(renderAlert('json', event, ctx)) as { data: { evidence: { pcap_url: string; sip_ladder: string[] } } };
    expect(json.data.evidence).toEqual({ pcap_url: URL1, sip_ladder: LADDER });
    const slack = JSON.parse(renderAlert('slack', event, ctx)) as { blocks: { type: string; text?: { text: string } }[] };
    const block = slack.blocks.find((b) => b.text?.text.includes('SIP trace'));
    expect(block?.text?.text).toContain(`<${URL1}|SIP trace (pcap)>`);
    expect(block?.text?.text).toContain('503 Service Unavailable');
    const am = JSON.parse(renderAlert('alertmanager', event, ctx)) as { alerts: { annotations: Record<string, string> }[] } | { annotations: Record<string, string> }[];
    const alerts = Array.isArray(am) ? am : am.alerts;
    expect(alerts[0]?.annotations['evidence_url']).toBe(URL1);
    expect(alerts[0]?.annotations['sip_ladder']).toBe(LADDER.join('\n'));
    const plain = t.observe({ probe: 'other', success: false, failures: [{ check: 'x', phase: 'internal' }] })[0];
    if (!plain) throw new Error('no event');
    expect(renderAlert('json', plain, ctx)).not.toContain('evidence');
  });
});
