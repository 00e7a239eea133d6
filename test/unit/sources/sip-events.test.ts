import { KpiTracker } from '../../../src/analytics/kpi.js';
import { describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { parseMessage } from '../../../src/sip/message.js';
import { routeFromHeader } from '../../../src/sources/index.js';
import { SipEventExtractor } from '../../../src/sources/sip-events.js';
import { type ReqOpts, sipRequest, sipResponse } from './sip-fixtures.js';

const T0 = Date.UTC(2026, 0, 5, 12);

function harness(opts: Partial<ConstructorParameters<typeof SipEventExtractor>[0]> = {}) {
  const events: AnalyticsEvent[] = [];
  const x = new SipEventExtractor({ onEvent: (e) => events.push(e), ...opts });
  const feed = (text: string, at: number, srcIp = '192.0.2.10') => {
    const r = parseMessage(text);
    if (!r.ok) throw new Error(r.error.message);
    x.onMessage(r.message, { at, srcIp });
  };
  return { x, events, feed };
}

describe('SipEventExtractor', () => {
  it('an authenticated call: challenge ignored, attempt, PDD, answer, BYE → end', () => {
    const { events, feed } = harness();
    const inv1: ReqOpts = { method: 'INVITE', callId: 'c1', cseq: 1, from: '1001', to: '1002', ua: 'phone' };
    feed(sipRequest(inv1), T0);
    feed(sipResponse(407, inv1), T0 + 5, '127.0.0.1');
    const inv2 = { ...inv1, cseq: 2, auth: '1001' };
    feed(sipRequest(inv2), T0 + 20);
    feed(sipRequest(inv2), T0 + 21, '127.0.0.1'); // the proxy's outgoing copy
    feed(sipResponse(100, inv2), T0 + 22);
    feed(sipResponse(180, inv2), T0 + 120);
    feed(sipResponse(180, inv2), T0 + 121); // mirrored copy
    feed(sipResponse(200, inv2), T0 + 2020);
    feed(sipRequest({ ...inv1, method: 'ACK', cseq: 2, toTag: 't-c1' }), T0 + 2030);
    feed(sipRequest({ ...inv1, method: 'BYE', cseq: 3, toTag: 't-c1' }), T0 + 12_020);
    feed(sipResponse(200, { ...inv1, method: 'BYE', cseq: 3 }), T0 + 12_025);
    const calls = events.filter((e) => e.type.startsWith('call_'));
    expect(calls.map((e) => e.type)).toEqual(['call_attempt', 'call_final', 'call_end']);
    const fin = calls[1];
    expect(fin?.type === 'call_final' && [fin.status, fin.inviteAt, fin.ringingAt, fin.answerAt, fin.ip, fin.caller, fin.callee]).toEqual([
      200, T0 + 20, T0 + 120, T0 + 2020, '192.0.2.10', '1001', '1002',
    ]);
    const end = calls[2];
    expect(end?.type === 'call_end' && end.durationS).toBe(10);
    expect(events.filter((e) => e.type === 'auth_failure')).toEqual([]);
    expect(events.filter((e) => e.type === 'request').map((e) => (e.type === 'request' ? `${e.method}:${e.status}` : ''))).toEqual([
      'INVITE:407', 'INVITE:200', 'BYE:200',
    ]);
  });

  it('wrong passwords: a REGISTER with credentials answered 401 again (or 403) is an auth failure', () => {
    const { events, feed } = harness();
    for (let i = 1; i <= 3; i++) {
      const reg: ReqOpts = { method: 'REGISTER', callId: 'r1', cseq: i, from: '1001', ua: 'friendly-scanner', auth: i > 1 ? '1001' : undefined };
      feed(sipRequest(reg), T0 + i * 10, '127.0.0.1');
      feed(sipResponse(i === 3 ? 403 : 401, reg), T0 + i * 10 + 1, '127.0.0.1');
    }
    const fails = events.filter((e) => e.type === 'auth_failure');
    expect(fails).toHaveLength(2);
    expect(fails[0]).toMatchObject({ ip: '127.0.0.1', user: '1001', ua: 'friendly-scanner', method: 'REGISTER', reason: 'rechallenged' });
    expect(fails[1]).toMatchObject({ reason: 'forbidden' });
  });

  it('svcrack style: every guess reuses Call-ID, CSeq and branch; each changed credential is a new attempt', () => {
    const { events, feed } = harness();
    const reg: ReqOpts = { method: 'REGISTER', callId: 'svc', cseq: 2, from: '1001', ua: 'friendly-scanner', auth: '1001' };
    for (let i = 0; i < 12; i++) {
      const text = sipRequest(reg).replace('response="00000000000000000000000000000000"', `response="${String(i).padStart(32, '0')}"`);
      feed(text, T0 + i * 10, '127.0.0.1');
      feed(text, T0 + i * 10 + 1, '127.0.0.1'); // a retransmission is still absorbed
      feed(sipResponse(401, reg), T0 + i * 10 + 2, '127.0.0.1');
    }
    expect(events.filter((e) => e.type === 'auth_failure')).toHaveLength(12);
  });

  it('a rejected call is a seizure with its status; an unanswered one times out as 408', () => {
    const { x, events, feed } = harness({ callTimeoutMs: 60_000 });
    const busy: ReqOpts = { method: 'INVITE', callId: 'b1', cseq: 1, to: '1003' };
    feed(sipRequest(busy), T0);
    feed(sipResponse(486, busy), T0 + 50);
    const lost: ReqOpts = { method: 'INVITE', callId: 'l1', cseq: 1, to: '1004' };
    feed(sipRequest(lost), T0);
    feed(sipResponse(100, lost), T0 + 1);
    x.sweep(T0 + 70_000);
    const finals = events.flatMap((e) => (e.type === 'call_final' ? [[e.callId, e.status]] : []));
    expect(finals).toEqual([['b1', 486], ['l1', 408]]);
    expect(x.stats().calls).toBe(0);
    // Only the attempt we closed ourselves is marked: NER counts it as a network failure.
    const marks = events.flatMap((e) => (e.type === 'call_final' ? [[e.callId, e.timedOut ?? false]] : []));
    expect(marks).toEqual([['b1', false], ['l1', true]]);
  });

  it('NER: a call closed for lack of a final response is a network failure, a 408 the far end sent is user-side', () => {
    const { x, events, feed } = harness({ callTimeoutMs: 60_000 });
    const answered408: ReqOpts = { method: 'INVITE', callId: 'r1', cseq: 1, to: '1003' };
    const silent: ReqOpts = { method: 'INVITE', callId: 's1', cseq: 1, to: '1004' };
    feed(sipRequest(answered408), T0);
    feed(sipRequest(silent), T0 + 10);
    feed(sipResponse(180, silent), T0 + 100);
    feed(sipResponse(408, answered408), T0 + 30_000);
    x.sweep(T0 + 70_000);
    const kpi = new KpiTracker({ now: () => T0 + 70_000 });
    for (const e of events) kpi.observe(e);
    const all = kpi.snapshot(5 * 60_000).find((s) => s.source === '*');
    expect(all?.seizures).toBe(2);
    expect(all?.user_failures).toBe(1);
    expect(all?.ner).toBe(0.5);
  });

  it('tables stay under their caps', () => {
    const { x, feed } = harness({ maxCalls: 50, maxTransactions: 80 });
    for (let i = 0; i < 1000; i++) feed(sipRequest({ method: 'INVITE', callId: `z${i}`, cseq: 1 }), T0 + i);
    const s = x.stats();
    expect(s.calls).toBe(50);
    expect(s.transactions).toBe(80);
    expect(s.evictedCalls).toBe(950);
  });
});

describe('route label from a header (kpi.route_header)', () => {
  it("takes the route from the proxy's outgoing copy when only that copy carries the header", () => {
    const { events, feed } = harness({ routeOf: routeFromHeader('X-Route') });
    const inv: ReqOpts = { method: 'INVITE', callId: 'r1', cseq: 1, from: '1001', to: '9155501234' };
    feed(sipRequest(inv), T0);
    const copy = sipRequest(inv).replace('Content-Length: 0', 'X-Route: trunk-a\r\nContent-Length: 0');
    feed(copy, T0 + 1, '127.0.0.1');
    feed(sipResponse(503, inv), T0 + 50);
    const fin = events.find((e) => e.type === 'call_final');
    expect(fin?.type === 'call_final' && [fin.route, fin.status]).toEqual(['trunk-a', 503]);
    // and no header at all: no route (the agent counts it as "other")
    const h2 = harness({ routeOf: routeFromHeader('X-Route') });
    h2.feed(sipRequest({ ...inv, callId: 'r2' }), T0);
    h2.feed(sipResponse(200, { ...inv, callId: 'r2' }), T0 + 50);
    const f2 = h2.events.find((e) => e.type === 'call_final');
    expect(f2?.type === 'call_final' && f2.route).toBeUndefined();
  });
});

describe('media_format: the audio clock of a call from its SDP', () => {
  const withSdp = (text: string, m: string, rtpmap: string): string => {
    const body = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', m, rtpmap, ''].join('\r\n');
    return text.replace('Content-Length: 0\r\n', `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`) + body;
  };
  it('the INVITE\'s offer and the 200\'s answer each give one event; a body without SDP gives none', () => {
    const { events, feed } = harness();
    const inv: ReqOpts = { method: 'INVITE', callId: 'm1', cseq: 1, from: '1001', to: '1002' };
    feed(withSdp(sipRequest(inv), 'm=audio 4000 RTP/AVP 111 9', 'a=rtpmap:111 opus/48000/2'), T0);
    feed(sipResponse(100, inv), T0 + 1);
    feed(withSdp(sipResponse(200, inv), 'm=audio 5000 RTP/AVP 9', 'a=rtpmap:9 G722/8000'), T0 + 50);
    feed(sipRequest({ ...inv, method: 'OPTIONS', cseq: 2 }), T0 + 60);
    const formats = events.filter((e) => e.type === 'media_format');
    expect(formats).toEqual([
      { type: 'media_format', source: 'hep', at: T0, callId: 'm1', answer: false, codec: 'opus', clockRate: 48000 },
      { type: 'media_format', source: 'hep', at: T0 + 50, callId: 'm1', answer: true, codec: 'G722', clockRate: 8000 },
    ]);
  });
});

