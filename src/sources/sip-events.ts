// Turns a stream of observed SIP messages (HEP mirror, pcap…) into analytics
// events by following transactions and calls by Call-ID in bounded LRU tables.
//
//  - request event: every request's first final response {method, ip, user, ua, status};
//    user = To user for REGISTER, Request-URI user otherwise.
//  - auth failure: a request that carried Authorization/Proxy-Authorization and
//    got 401/407 (credentials rejected, challenged again) or 403.
//  - calls: an initial INVITE answered 401/407 is only a challenge (no seizure);
//    the first other response makes it a call_attempt, the first final a
//    call_final (first 180/183 = ringingAt, 2xx = answerAt), the first BYE of an
//    answered call a call_end. A call with no final response within
//    callTimeoutMs gets a synthetic call_final 408 (timedOut: true) so every attempt
//    is closed; NER counts it as a network failure (analytics/kpi.ts).
// Copies of one message (a proxy's mirror shows it arriving and leaving) share
// Call-ID + CSeq: the first request copy is kept (its source is the real
// client) and each response status is processed once per transaction.
import type { AnalyticsEvent, EventSink } from '../analytics/events.js';
import { BoundedMap } from '../analytics/lru.js';
import type { SipMessage, SipRequest, SipResponse } from '../sip/message.js';
import { parseVqRtcpxr } from './vq-rtcpxr.js';
import { sdpAudioFormat } from './sdp-format.js';

export interface MessageMeta {
  /** Event time, ms epoch. */
  at: number;
  srcIp: string;
  srcPort?: number;
  dstIp?: string;
  dstPort?: number;
}

export interface SipEventOptions {
  source?: string;
  onEvent: EventSink;
  onError?: (err: unknown) => void;
  maxTransactions?: number;
  maxCalls?: number;
  /** Transactions without a final response are forgotten after this (RFC 3261 Timer B/F is 32 s). */
  transactionTimeoutMs?: number;
  /** Calls that got no final response after this are closed as 408. */
  callTimeoutMs?: number;
  /** Answered calls with no BYE are forgotten after this (no call_end emitted). */
  answeredTimeoutMs?: number;
  /** INVITEs from these addresses are inbound (from a trunk); others outbound. */
  trunkIps?: readonly string[];
  /** Route/trunk label of a call (default: none → "default"). */
  routeOf?: (invite: SipRequest, meta: MessageMeta) => string | undefined;
}

interface Txn {
  method: string;
  at: number;
  ip: string;
  user: string | undefined;
  authUser: string | undefined;
  ua: string | undefined;
  hasCredentials: boolean;
  credentials: string | undefined;
  initialInvite: boolean;
  statuses: Set<number>;
  final: boolean;
}

interface Call {
  callId: string;
  inviteAt: number;
  caller: string | undefined;
  callee: string | undefined;
  ip: string;
  ua: string | undefined;
  route: string | undefined;
  direction: 'inbound' | 'outbound';
  ringingAt?: number;
  answerAt?: number;
  attempted: boolean;
  final: boolean;
  ended: boolean;
  lastAt: number;
}

export interface SipEventStats {
  messages: number;
  transactions: number;
  calls: number;
  evictedTransactions: number;
  evictedCalls: number;
}

function authUsername(req: SipRequest): string | undefined {
  const h = req.headers.get('authorization') ?? req.headers.get('proxy-authorization');
  if (!h) return undefined;
  const m = /username\s*=\s*(?:"([^"]*)"|([^\s,]+))/i.exec(h);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Transaction key: Call-ID, CSeq and the branch of the bottom Via (the
 * originating client's, RFC 3261 §17.2.3): a proxy adds its own Via on top, so
 * the copy it forwards and the responses coming back all share this key.
 */
function txnKey(msg: SipMessage): string {
  const vias = msg.vias;
  const branch = vias[vias.length - 1]?.params.branch ?? '';
  const cseq = msg.cseq;
  return `${msg.callId}\u0000${cseq.seq}\u0000${cseq.method}\u0000${branch}`;
}

export class SipEventExtractor {
  readonly #opts: SipEventOptions;
  readonly #txns: BoundedMap<string, Txn>;
  readonly #calls: BoundedMap<string, Call>;
  readonly #source: string;
  #lastSweep = 0;

  constructor(opts: SipEventOptions) {
    this.#opts = opts;
    this.#source = opts.source ?? 'hep';
    this.#txns = new BoundedMap(opts.maxTransactions ?? 20_000);
    this.#calls = new BoundedMap(opts.maxCalls ?? 20_000);
  }

  stats(): SipEventStats {
    return {
      messages: this.#messages,
      transactions: this.#txns.size,
      calls: this.#calls.size,
      evictedTransactions: this.#txns.evictions,
      evictedCalls: this.#calls.evictions,
    };
  }
  #messages = 0;

  /** Feed one message. Never throws (errors go to onError). */
  onMessage(msg: SipMessage, meta: MessageMeta): void {
    this.#messages++;
    try {
      this.sweep(meta.at);
      if (msg.kind === 'request') this.#onRequest(msg, meta);
      else this.#onResponse(msg, meta);
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  /**
   * Expires old transactions and calls (called from onMessage when time moved
   * on by a second). Tables are in last-touched order, so the scan stops at the
   * first entry that is too young to expire: cost is O(expired), not O(table).
   */
  sweep(now: number): void {
    if (Math.abs(now - this.#lastSweep) < 1000) return;
    this.#lastSweep = now;
    const txnTimeout = this.#opts.transactionTimeoutMs ?? 64_000;
    for (const [k, t] of this.#txns.entries()) {
      if (now - t.at <= txnTimeout) break;
      this.#txns.delete(k);
    }
    const callTimeout = this.#opts.callTimeoutMs ?? 180_000;
    const answeredTimeout = this.#opts.answeredTimeoutMs ?? 6 * 3_600_000;
    const youngest = Math.min(callTimeout, txnTimeout, answeredTimeout);
    for (const [k, c] of this.#calls.entries()) {
      const idle = now - c.lastAt;
      if (idle <= youngest) break;
      if (!c.final && idle > callTimeout) {
        if (c.attempted) this.#final(c, 408, now, true);
        this.#calls.delete(k);
      } else if (c.final && (c.answerAt === undefined || c.ended) && idle > txnTimeout) {
        this.#calls.delete(k);
      } else if (idle > answeredTimeout) {
        this.#calls.delete(k);
      }
    }
  }

  #emit(ev: AnalyticsEvent): void {
    try {
      this.#opts.onEvent(ev);
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  #onRequest(req: SipRequest, meta: MessageMeta): void {
    const callId = req.callId;
    const cseq = req.cseq;
    if (!callId || !cseq.method) return;
    const ua = req.headers.get('user-agent') ?? undefined;
    const toTag = req.to?.params.tag;
    if (req.method === 'BYE') {
      const c = this.#calls.get(callId);
      if (c && c.answerAt !== undefined && !c.ended) {
        c.ended = true;
        c.lastAt = meta.at;
        this.#emit({
          type: 'call_end', source: this.#source, at: meta.at, callId, route: c.route, caller: c.caller, callee: c.callee,
          ip: c.ip, ua: c.ua, direction: c.direction, answerAt: c.answerAt, durationS: Math.max(0, (meta.at - c.answerAt) / 1000),
        });
      }
    }
    if (req.method === 'ACK') return; // no response to follow
    const key = txnKey(req);
    const credentials = req.headers.get('authorization') ?? req.headers.get('proxy-authorization');
    const seen = this.#txns.peek(key);
    // A retransmission or the proxy's outgoing copy: same key, same credentials. Tools
    // such as svcrack resend every guess with the same Call-ID, CSeq and branch, so a
    // request whose credentials changed after a final response is a new attempt.
    if (seen && !(seen.final && seen.credentials !== credentials)) {
      // The proxy's outgoing copy can carry what the PBX added on the way (the route header).
      const c = req.method === 'INVITE' ? this.#calls.get(callId) : undefined;
      if (c && c.route === undefined && !c.final) c.route = this.#opts.routeOf?.(req, meta);
      return;
    }
    if (req.method === 'PUBLISH' && /^\s*vq-rtcpxr\b/i.test(req.headers.get('event') ?? '')) {
      const vq = parseVqRtcpxr(req.body.toString('utf8'), { at: meta.at, source: this.#source, ip: meta.srcIp });
      if (vq !== undefined) this.#emit(vq);
    }
    if (req.method === 'INVITE') this.#mediaFormat(req, meta, false);
    const uri = req.requestUri;
    const user = req.method === 'REGISTER' ? req.to?.uri.user : uri?.user;
    const initialInvite = req.method === 'INVITE' && (toTag === undefined || toTag === null);
    this.#txns.set(key, {
      method: req.method, at: meta.at, ip: meta.srcIp, user, authUser: authUsername(req), ua,
      hasCredentials: credentials !== undefined,
      credentials,
      initialInvite, statuses: new Set(), final: false,
    });
    if (initialInvite) {
      const existing = this.#calls.get(callId);
      if (existing) {
        // The INVITE resent with credentials after a challenge: PDD counts from this one.
        if (!existing.attempted) existing.inviteAt = meta.at;
        existing.lastAt = meta.at;
      } else {
        const inbound = this.#opts.trunkIps?.includes(meta.srcIp) ?? false;
        this.#calls.set(callId, {
          callId, inviteAt: meta.at, caller: req.from?.uri.user, callee: uri?.user, ip: meta.srcIp, ua,
          route: this.#opts.routeOf?.(req, meta), direction: inbound ? 'inbound' : 'outbound',
          attempted: false, final: false, ended: false, lastAt: meta.at,
        });
      }
    }
  }

  #onResponse(res: SipResponse, meta: MessageMeta): void {
    const callId = res.callId;
    const t = this.#txns.peek(txnKey(res));
    if (!t || t.statuses.has(res.status)) return;
    t.statuses.add(res.status);
    const status = res.status;
    if (t.method === 'INVITE' && ((status >= 200 && status < 300) || status === 183)) this.#mediaFormat(res, meta, true);
    if (status >= 200 && !t.final) {
      t.final = true;
      this.#emit({ type: 'request', source: this.#source, at: meta.at, method: t.method, ip: t.ip, user: t.user, ua: t.ua, status });
      if (t.hasCredentials && (status === 401 || status === 407 || status === 403)) {
        this.#emit({
          type: 'auth_failure', source: this.#source, at: meta.at, ip: t.ip, user: t.authUser ?? t.user, ua: t.ua, method: t.method,
          reason: status === 403 ? 'forbidden' : 'rechallenged',
        });
      }
    }
    if (!t.initialInvite) return;
    const c = this.#calls.get(callId);
    if (!c || c.final) return;
    c.lastAt = meta.at;
    if (status === 401 || status === 407) return; // a challenge is not a seizure
    if (!c.attempted) {
      c.attempted = true;
      this.#emit({ type: 'call_attempt', source: this.#source, at: c.inviteAt, callId, route: c.route, caller: c.caller, callee: c.callee, ip: c.ip, ua: c.ua, direction: c.direction });
    }
    if ((status === 180 || status === 183) && c.ringingAt === undefined) c.ringingAt = meta.at;
    if (status >= 200) {
      if (status < 300) c.answerAt = meta.at;
      this.#final(c, status, meta.at);
    }
  }

  /** The audio format of an INVITE's or its answer's SDP, when it has one. */
  #mediaFormat(msg: SipMessage, meta: MessageMeta, answer: boolean): void {
    if (msg.body.length === 0 || !/^application\/sdp/i.test(msg.headers.get('content-type') ?? '')) return;
    const f = sdpAudioFormat(msg.body.toString('utf8'));
    if (f) this.#emit({ type: 'media_format', source: this.#source, at: meta.at, callId: msg.callId, answer, codec: f.codec, clockRate: f.clockRate });
  }

  #final(c: Call, status: number, at: number, timedOut = false): void {
    c.final = true;
    this.#emit({
      type: 'call_final', source: this.#source, at, callId: c.callId, route: c.route, caller: c.caller, callee: c.callee, ip: c.ip,
      ua: c.ua, direction: c.direction, status, inviteAt: c.inviteAt, ringingAt: c.ringingAt, answerAt: c.answerAt,
      ...(timedOut ? { timedOut: true as const } : {}),
    });
  }
}
