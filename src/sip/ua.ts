// The user agent facade: what probes and the call probe use (SIP.js api/ over core/).
//
//   const ua = await UserAgent.create({ transport: 'udp', server: 'sip:127.0.0.1:5060',
//                                       user: '1001', password: 'lab1001pw' });
//   await ua.options()            → OptionsOutcome (status, timings) or a typed failure
//   await ua.register({ expires }) / ua.unregister()   → RegisterOutcome (attempts = REGISTERs sent)
//   const call = ua.invite('1002', { sdp, onProvisional, ringTimeoutMs }); await call.outcome; call.cancel()
//     outcome: { ok, status, reason, dialog, remoteSdp, cancelled, attempts, failure?,
//                timings: { dns_ms, connect_ms, tls_ms?, pdd_ms (INVITE → first 180/183, or the final response if none came first), answer_ms } }
//   ua.onInvite((incoming) => { incoming.progress(180); await incoming.accept(sdp) → Dialog })
//   dialog.bye() / reinvite(sdp) / info(body, type); dialog.on('bye' | 'reinvite' | 'info' | 'ended')
//   ua.close()                    idempotent, releases every socket and timer
//   ua.localAddress, ua.localPort, ua.peerCertificate(), ua.tlsProtocol(), ua.serverDest, ua.dnsMs
// SDP: ./sdp.ts (buildAudioSdp, parseAudioSdp). Callers should unregister a callee
// when done: Kamailio forks INVITEs to every binding, including stale ones.
//
// UserAgent.create throws UaError (code EDNS / EBIND, phase 'dns' / 'connect') when the
// server cannot be resolved or the local port cannot be bound; everything after that
// returns failures as values: { ok: false, failure: { phase, message } }.
//
// Out-of-dialog requests go to the configured server (an outbound proxy, RFC 3261
// §8.1.2); in-dialog requests follow the route set / remote target (§12.2.1.1).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DetailedPeerCertificate } from 'node:tls';
import type { Logger } from '../log.js';
import { Dialog, dialogId, type DialogHost, type InDialogResult } from './dialog.js';
import { buildAuthorization, pickChallenge } from './digest.js';
import { DnsError, resolveSipTarget, type Resolver } from './dns.js';
import { createRequest, createResponse, responseHasSingleVia, type SipRequest, type SipResponse } from './message.js';
import {
  ClientTransaction,
  newBranch,
  newTag,
  serverKey,
  ServerTransaction,
  timerConfig,
  type TimerConfig,
  type TransactionHost,
  TimerSet,
  clientKey,
} from './transaction.js';
import type { PacketRecorder } from '../evidence/recorder.js';
import { TransportError, TransportLayer, type Destination, type Flow, type Inbound, type TransportProto } from './transport.js';
import { parseNameAddr, parseUri, formatUri, type SipUri } from './uri.js';

export interface UserAgentOptions {
  transport?: TransportProto;
  /** Registrar / outbound proxy: "sip:127.0.0.1:5060", "sips:pbx.example", "pbx.example:5070". */
  server: string;
  localAddress?: string;
  localPort?: number;
  user?: string;
  password?: string;
  /** Digest username when it differs from `user`. */
  authUser?: string;
  /** Domain of our AOR (default: the server's host). */
  domain?: string;
  displayName?: string;
  tls?: { insecure?: boolean; ca?: string | Buffer; servername?: string };
  t1Ms?: number;
  t2Ms?: number;
  t4Ms?: number;
  /** Timer B/F: how long a request may go unanswered (default 64*T1). */
  timeoutMs?: number;
  logger?: Logger;
  userAgent?: string;
  /** Injected DNS resolver (tests). */
  resolver?: Resolver;
  /**
   * Stable identity of this agent's registrations (a UUID, e.g. from probeInstanceId()).
   * REGISTER Contacts then carry it twice: as `+sip.instance="<urn:uuid:ID>"` (RFC 5626 §4.1,
   * RFC 5627 §3.2; registrars that match on it, like Kamailio's usrloc, replace the binding in
   * place when a new process registers from another port) and as the Contact URI parameter
   * `callprobe=ID` (kept verbatim by every registrar). unregister() then removes the bindings
   * carrying it, and nothing else, whatever port registered them.
   */
  instanceId?: string;
  /** Gets every SIP message this UA sends and receives (evidence: --trace, --pcap). */
  recorder?: PacketRecorder;
}

export type FailurePhase = 'dns' | 'connect' | 'tls' | 'request' | 'auth';

export interface UaFailure {
  phase: FailurePhase;
  /** Stable machine code: ETIMEOUT, ECONNREFUSED, ETLS, EAUTH, ENOCREDENTIALS, ESTATUS, ECLOSED... */
  code: string;
  message: string;
}

export class UaError extends Error {
  constructor(
    readonly code: string,
    readonly phase: FailurePhase,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestTimings {
  dns_ms: number;
  connect_ms: number;
  tls_ms?: number;
  /** First transmission of the (first) request → final response. */
  request_ms: number;
}

export type OptionsOutcome =
  | { ok: true; status: number; reason: string; timings: RequestTimings; response: SipResponse }
  | { ok: false; status?: number; reason: string; failure: UaFailure; timings: Partial<RequestTimings>; response?: SipResponse };

export interface RegisterOutcome {
  ok: boolean;
  status?: number;
  reason: string;
  /** REGISTER requests sent (auth rounds included, retransmissions not). */
  attempts: number;
  timings: Partial<RequestTimings>;
  /** Our Contact as registered. */
  contact: string;
  /** Expiry the registrar granted (seconds). */
  expires?: number;
  failure?: UaFailure;
  /** unregister() with an instance id: the binding URIs of ours that were removed. */
  removed?: string[];
  /** unregister() with an instance id: bindings of other devices left in place. */
  kept?: number;
}

export interface CallOptions {
  sdp: string;
  headers?: Array<[string, string]>;
  onProvisional?(res: SipResponse): void;
  /** CANCEL when no final answer came this long after the first INVITE (Timer B stops at the first 1xx). */
  ringTimeoutMs?: number;
}

export interface CallOutcome {
  ok: boolean;
  status?: number;
  reason: string;
  dialog?: Dialog;
  remoteSdp?: string;
  /** True when call.cancel() ended it. */
  cancelled: boolean;
  /** INVITEs sent (auth rounds). */
  attempts: number;
  failure?: UaFailure;
  timings: { dns_ms: number; connect_ms: number; tls_ms?: number; pdd_ms?: number; answer_ms?: number };
}

export interface OutgoingCall {
  readonly callId: string;
  readonly outcome: Promise<CallOutcome>;
  /** CANCEL (sent once a provisional arrived, RFC 3261 §9.1); the outcome becomes 487. */
  cancel(): void;
}

export interface IncomingCall {
  readonly request: SipRequest;
  readonly callId: string;
  /** Remote SDP offer from the INVITE body (if any). */
  readonly remoteSdp?: string;
  /** Sends a provisional (180 or 183, the latter normally with SDP for early media). */
  progress(status: 180 | 183, sdp?: string): void;
  /** 200 OK with SDP, retransmitted until the ACK (RFC 3261 §13.3.1.4); resolves on ACK. */
  accept(sdp: string): Promise<Dialog>;
  reject(status: number, reason?: string): void;
  /** Resolves when the caller CANCELs before we answered. */
  readonly cancelled: Promise<void>;
}

/** Internal result of sending one request with digest retries. */
type SendResult =
  | { kind: 'final'; response: SipResponse; attempts: number; flow: Flow; requestMs: number; request: SipRequest }
  | { kind: 'failure'; failure: UaFailure; attempts: number; flow?: Flow; response?: SipResponse; requestMs?: number };

interface SendHooks {
  onProvisional?(res: SipResponse): void;
  onTransaction?(tx: ClientTransaction): void;
  /** Adds Contact (and anything flow-dependent) to each attempt. */
  decorate?(req: SipRequest, flow: Flow): void;
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';

export class UserAgent {
  readonly transport: TransportLayer;
  readonly timers: TimerConfig;
  readonly serverDest: Destination;
  readonly serverUri: SipUri;
  readonly dnsMs: number;
  readonly user: string;
  readonly domain: string;
  private readonly txs = new Map<string, ClientTransaction | ServerTransaction>();
  private readonly dialogs = new Map<string, Dialog>();
  /** ACKs of confirmed UAC dialogs by Call-ID + CSeq, re-sent on 2xx retransmissions. */
  private readonly sentAcks = new Map<string, { ack: SipRequest; dest: Destination }>();
  private readonly pendingAccepts = new Map<string, () => void>();
  private readonly acceptRejects = new Set<(err: Error) => void>();
  /** CANCEL handlers of INVITEs not answered yet, by server transaction key. */
  private readonly pendingInvites = new Map<string, () => void>();
  private readonly nonceCounts = new Map<string, number>();
  private readonly ownTimers = new TimerSet();
  private inviteHandler?: (call: IncomingCall) => void;
  private readonly registerCallId = `${randomBytes(10).toString('hex')}`;
  private registerCSeq = 0;
  private readonly fromTagRegister = newTag();
  private lastFlow?: Flow;
  private closed = false;
  /** What transactions see of the UA: the transport, timers and the matcher table. */
  private readonly txHost: TransactionHost;
  /** What dialogs see of the UA. */
  private readonly dialogHost: DialogHost;

  private constructor(
    readonly opts: UserAgentOptions,
    transport: TransportLayer,
    serverUri: SipUri,
    serverDest: Destination,
    dnsMs: number,
  ) {
    this.transport = transport;
    this.serverUri = serverUri;
    this.serverDest = serverDest;
    this.dnsMs = dnsMs;
    this.timers = timerConfig({
      ...(opts.t1Ms !== undefined ? { t1Ms: opts.t1Ms } : {}),
      ...(opts.t2Ms !== undefined ? { t2Ms: opts.t2Ms } : {}),
      ...(opts.t4Ms !== undefined ? { t4Ms: opts.t4Ms } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    this.user = opts.user ?? 'callprobe';
    this.domain = opts.domain ?? serverUri.host;
    this.txHost = {
      transport,
      timers: this.timers,
      register: (key, tx) => void this.txs.set(key, tx),
      unregister: (key) => void this.txs.delete(key),
    };
    this.dialogHost = {
      sendInDialog: (dialog, req) => this.sendInDialog(dialog, req),
      contactHeader: () => this.contactHeader(),
      forget: (dialog) => void this.dialogs.delete(dialog.id),
    };
    transport.onMessage((m) => this.onInbound(m));
  }

  static async create(opts: UserAgentOptions): Promise<UserAgent> {
    const serverUri = parseServer(opts.server);
    if (!serverUri) throw new UaError('EURI', 'dns', `server "${opts.server}" is not a SIP URI or host[:port]`);
    let resolved;
    try {
      resolved = await resolveSipTarget(serverUri, opts.transport, opts.resolver);
    } catch (err) {
      const msg = err instanceof DnsError ? err.message : `DNS lookup failed: ${err instanceof Error ? err.message : String(err)}`;
      throw new UaError('EDNS', 'dns', msg);
    }
    const dest = resolved.targets[0];
    if (!dest) throw new UaError('EDNS', 'dns', `no address for ${serverUri.host}`);
    if (opts.transport && dest.transport !== opts.transport && serverUri.scheme !== 'sips') dest.transport = opts.transport;
    if (opts.tls?.servername) dest.servername = opts.tls.servername;
    let transport: TransportLayer;
    try {
      transport = await TransportLayer.create({
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}),
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
        ...(opts.recorder ? { recorder: opts.recorder } : {}),
        connectTimeoutMs: opts.timeoutMs ?? 10_000,
      });
    } catch (err) {
      throw new UaError('EBIND', 'connect', `cannot bind local SIP port: ${err instanceof Error ? err.message : String(err)}`);
    }
    const ua = new UserAgent(opts, transport, serverUri, dest, resolved.dnsMs);
    ua.defaultLocalAddress = await transport.localAddressFor(dest.host);
    return ua;
  }

  /** Our address as the server sees it, for Contact before any request was sent. */
  private defaultLocalAddress = '127.0.0.1';

  // ---- registration ----

  /** REGISTER our Contact (RFC 3261 §10.2), answering the digest challenge. */
  register(opts: { expires?: number } = {}): Promise<RegisterOutcome> {
    return this.doRegister(opts.expires ?? 300);
  }

  /**
   * Removes our own binding(s) only (RFC 3261 §10.2.2: our Contact with expires=0). With an
   * `instanceId`, every binding carrying it (an earlier process may have used another port).
   * `all` removes EVERY binding of the AOR, other devices' too (Contact: *, Expires: 0).
   */
  unregister(opts: { all?: boolean } = {}): Promise<RegisterOutcome> {
    if (opts.all === true) return this.doRegister(0, true);
    if (this.opts.instanceId !== undefined) return this.unregisterInstance(this.opts.instanceId);
    return this.doRegister(0);
  }

  /** Our Contact header value for a flow (the address the UA listens on for it). */
  contactHeader(flow: Flow | undefined = this.lastFlow): string {
    const f = flow ?? { transport: this.serverDest.transport, localAddress: this.defaultLocalAddress, localPort: this.transport.udpPort };
    const host = f.localAddress.includes(':') ? `[${f.localAddress}]` : f.localAddress;
    const tp = f.transport === 'udp' ? '' : `;transport=${f.transport}`;
    return `<sip:${this.user}@${host}:${f.localPort}${tp}>`;
  }


  /** Local IP this UA uses towards its server (Contact, Via; also the address to offer RTP on). */
  get localAddress(): string {
    return this.lastFlow?.localAddress ?? this.defaultLocalAddress;
  }

  /** Local UDP port (where this UA listens). */
  get localPort(): number {
    return this.transport.udpPort;
  }

  /** Certificate the TLS server presented (after the first request over TLS). */
  peerCertificate(): DetailedPeerCertificate | undefined {
    return this.transport.peerCertificate(this.serverDest);
  }

  /** Negotiated TLS version ("TLSv1.3") of the server connection. */
  tlsProtocol(): string | undefined {
    return this.transport.tlsProtocol(this.serverDest);
  }

  private aor(): string {
    return `sip:${this.user}@${hostText(this.domain)}`;
  }

  private fromHeader(tag: string): string {
    const dn = this.opts.displayName ? `"${this.opts.displayName.replace(/(["\\])/g, '\\$1')}" ` : '';
    return `${dn}<${this.aor()}>;tag=${tag}`;
  }

  private baseHeaders(): Array<[string, string]> {
    return [
      ['Via', 'SIP/2.0/UDP 0.0.0.0;branch=z9hG4bKplaceholder'],
      ['Max-Forwards', '70'],
    ];
  }

  // ---- sending with digest auth ----

  /**
   * Sends `req` in a client transaction, answering 401/407 challenges
   * (RFC 3261 §22.2). Credentials rejected after an authenticated attempt stop
   * the loop (stale=true allows one more try with the new nonce): never a loop.
   */
  private async send(req: SipRequest, dest: Destination, hooks: SendHooks = {}): Promise<SendResult> {
    let attempts = 0;
    let authRounds = 0;
    let staleRetries = 0;
    let firstSentAt: number | undefined;
    let flow: Flow | undefined;
    let current = req;
    for (;;) {
      if (this.closed) return { kind: 'failure', attempts, failure: { phase: 'request', code: 'ECLOSED', message: 'user agent closed' } };
      try {
        const f = await this.transport.prepare(dest);
        if (!flow) flow = f;
        this.lastFlow = f;
      } catch (err) {
        return { kind: 'failure', attempts, failure: transportFailure(err) };
      }
      const now = this.lastFlow;
      current.headers.set('Via', `SIP/2.0/${dest.transport.toUpperCase()} ${hostText(now.localAddress)}:${now.localPort};branch=${newBranch()};rport`);
      hooks.decorate?.(current, now);
      attempts++;
      const result = await this.runTransaction(current, dest, hooks);
      firstSentAt ??= result.sentAt;
      const requestMs = performance.now() - firstSentAt;
      if (result.kind === 'failure') return { kind: 'failure', attempts, flow, failure: result.failure, requestMs };
      const res = result.response;
      if ((res.status === 401 || res.status === 407) && this.opts.password !== undefined) {
        const challenge = pickChallenge(res.headers.getAll(res.status === 401 ? 'www-authenticate' : 'proxy-authenticate'));
        if (!challenge) return { kind: 'final', response: res, attempts, flow, requestMs, request: current };
        const username = this.opts.authUser ?? this.user;
        if (authRounds > 0 && !(challenge.stale && staleRetries < 1)) {
          return {
            kind: 'failure',
            attempts,
            flow,
            response: res,
            requestMs,
            failure: { phase: 'auth', code: 'EAUTH', message: `credentials for ${username}@${challenge.realm} rejected twice (${res.status})` },
          };
        }
        if (challenge.stale && authRounds > 0) staleRetries++;
        authRounds++;
        if (this.nonceCounts.size > 64) this.nonceCounts.clear(); // a long-lived UA sees a new nonce per challenge
        const nc = (this.nonceCounts.get(challenge.nonce) ?? 0) + 1;
        this.nonceCounts.set(challenge.nonce, nc);
        const next = createRequest({ method: current.method, uri: current.uri, headers: current.headers.entries().map((h) => [h.name, h.value]), body: current.body });
        next.headers.set('CSeq', `${current.cseq.seq + 1} ${current.method}`);
        next.headers.remove('authorization').remove('proxy-authorization');
        const value = buildAuthorization(challenge, { username, password: this.opts.password }, { method: current.method, uri: current.uri, body: current.body }, nc);
        next.headers.append(res.status === 401 ? 'Authorization' : 'Proxy-Authorization', value);
        current = next;
        continue;
      }
      if ((res.status === 401 || res.status === 407) && this.opts.password === undefined) {
        return {
          kind: 'failure',
          attempts,
          flow,
          response: res,
          requestMs,
          failure: { phase: 'auth', code: 'ENOCREDENTIALS', message: `server asked for credentials (${res.status}) and none are configured for ${this.user}` },
        };
      }
      return { kind: 'final', response: res, attempts, flow, requestMs, request: current };
    }
  }

  /** One client transaction → its final response, a timeout or a transport error. */
  private runTransaction(
    req: SipRequest,
    dest: Destination,
    hooks: SendHooks,
  ): Promise<{ kind: 'final'; response: SipResponse; sentAt: number } | { kind: 'failure'; failure: UaFailure; sentAt: number }> {
    return new Promise((resolve) => {
      let settled = false;
      const tx = new ClientTransaction(this.txHost, req, dest, (ev) => {
        if (ev.type === 'response') {
          if (ev.response.status < 200) {
            hooks.onProvisional?.(ev.response);
            return;
          }
          if (settled) {
            // A retransmitted 2xx for INVITE (RFC 6026 Accepted): re-ACK from the dialog layer.
            this.onStray2xx(ev.response);
            return;
          }
          settled = true;
          resolve({ kind: 'final', response: ev.response, sentAt: tx.sentAt });
        } else if (!settled) {
          settled = true;
          if (ev.type === 'timeout') {
            resolve({
              kind: 'failure',
              sentAt: tx.sentAt,
              failure: { phase: 'request', code: 'ETIMEOUT', message: `no response (Timer ${ev.timer}) from ${dest.host}:${dest.port}/${dest.transport} after ${this.timers.timeoutMs} ms` },
            });
          } else resolve({ kind: 'failure', sentAt: tx.sentAt, failure: transportFailure(ev.error) });
        }
      });
      hooks.onTransaction?.(tx);
      tx.start();
    });
  }

  // ---- OPTIONS / REGISTER ----

  /** OPTIONS ping (default Request-URI: the server URI without user). */
  async options(uri?: string): Promise<OptionsOutcome> {
    const target = uri ?? formatUri({ ...this.serverUri, user: undefined, password: undefined, params: {}, headers: {} } as SipUri);
    const req = createRequest({
      method: 'OPTIONS',
      uri: target,
      headers: [
        ...this.baseHeaders(),
        ['From', this.fromHeader(newTag())],
        ['To', `<${target}>`],
        ['Call-ID', newCallId()],
        ['CSeq', '1 OPTIONS'],
        ['Accept', 'application/sdp'],
        ['User-Agent', this.opts.userAgent ?? 'callprobe/0.1'],
      ],
    });
    const r = await this.send(req, this.serverDest, { decorate: (m, f) => m.headers.set('Contact', this.contactHeader(f)) });
    const timings = this.timingsOf(r.flow, r.requestMs);
    if (r.kind === 'failure') {
      const out: OptionsOutcome = { ok: false, reason: r.failure.message, failure: r.failure, timings };
      if (r.response) {
        out.status = r.response.status;
        out.response = r.response;
      }
      return out;
    }
    const res = r.response;
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, reason: res.reason, timings: timings as RequestTimings, response: res };
    return { ok: false, status: res.status, reason: res.reason, failure: { phase: 'request', code: 'ESTATUS', message: `OPTIONS answered ${res.status} ${res.reason}` }, timings, response: res };
  }

  private timingsOf(flow: Flow | undefined, requestMs: number | undefined): Partial<RequestTimings> {
    const t: Partial<RequestTimings> = { dns_ms: round(this.dnsMs) };
    if (flow) {
      t.connect_ms = round(flow.connectMs);
      if (flow.transport === 'tls') t.tls_ms = round(flow.tlsMs);
    }
    if (requestMs !== undefined) t.request_ms = round(requestMs);
    return t;
  }

  /** RFC 3261 §10.2: REGISTER our Contact for `expires` seconds (0 = remove). */
  private async doRegister(expires: number, all = false): Promise<RegisterOutcome> {
    let contact = this.registerContact();
    const r = await this.sendRegister((f) => {
      contact = all ? '*' : this.registerContact(f);
      return all ? '*' : `${contact}${this.instanceParam()};expires=${expires}`;
    }, expires);
    const timings = this.timingsOf(r.flow, r.requestMs);
    if (r.kind === 'failure') {
      const out: RegisterOutcome = { ok: false, reason: r.failure.message, attempts: r.attempts, timings, contact, failure: r.failure };
      if (r.response) out.status = r.response.status;
      return out;
    }
    const res = r.response;
    if (res.status < 200 || res.status >= 300) {
      return {
        ok: false,
        status: res.status,
        reason: res.reason,
        attempts: r.attempts,
        timings,
        contact,
        failure: { phase: 'request', code: 'ESTATUS', message: `REGISTER answered ${res.status} ${res.reason}` },
      };
    }
    const out: RegisterOutcome = { ok: true, status: res.status, reason: res.reason, attempts: r.attempts, timings, contact };
    const granted = grantedExpires(res, contact);
    if (granted !== undefined) out.expires = granted;
    else if (expires === 0) out.expires = 0;
    return out;
  }

  /** Contact URI we register: contactHeader() plus `;callprobe=ID` when we have an instance id. */
  private registerContact(flow?: Flow): string {
    const c = this.contactHeader(flow);
    const id = this.opts.instanceId;
    return id === undefined ? c : `${c.slice(0, -1)};callprobe=${id}>`;
  }

  /** `;+sip.instance="<urn:uuid:ID>"` (RFC 5626 §4.1) or nothing. */
  private instanceParam(): string {
    const id = this.opts.instanceId;
    return id === undefined ? '' : `;+sip.instance="<urn:uuid:${id}>"`;
  }

  /** One REGISTER on our registration Call-ID; `contact` (per flow) null = a query (§10.2.3). */
  private async sendRegister(contact: ((f: Flow) => string) | null, expires?: number): Promise<SendResult> {
    const to = `<${this.aor()}>`;
    const req = createRequest({
      method: 'REGISTER',
      uri: `sip:${hostText(this.domain)}`,
      headers: [
        ...this.baseHeaders(),
        ['From', `${to};tag=${this.fromTagRegister}`],
        ['To', to],
        ['Call-ID', this.registerCallId],
        ['CSeq', `${++this.registerCSeq} REGISTER`],
        ...(expires !== undefined ? ([['Expires', String(expires)]] as Array<[string, string]>) : []),
        ['Allow', ALLOW],
        ['User-Agent', this.opts.userAgent ?? 'callprobe/0.1'],
      ],
    });
    const r = await this.send(req, this.serverDest, contact ? { decorate: (m, f) => m.headers.set('Contact', contact(f)) } : {});
    // Keep CSeq increasing across registrations on this Call-ID (§10.2.4).
    if (r.kind === 'final') this.registerCSeq = Math.max(this.registerCSeq, r.request.cseq.seq);
    else this.registerCSeq += r.attempts;
    return r;
  }

  /**
   * Removes the bindings carrying our instance id and nothing else: a query REGISTER
   * (no Contact, RFC 3261 §10.2.3) lists the AOR's bindings; ours (URI parameter
   * `callprobe=ID` or `+sip.instance`) are then sent back with expires=0 (§10.2.2).
   * The final 200 lists what is left: one of ours still there is a failure.
   */
  private async unregisterInstance(id: string): Promise<RegisterOutcome> {
    const query = await this.sendRegister(null);
    let attempts = query.attempts;
    let requestMs = query.requestMs ?? 0;
    /** A 2xx final response, or the failed outcome to return. */
    const check = (r: SendResult, what: string): { response: SipResponse } | { outcome: RegisterOutcome } => {
      const timings = this.timingsOf(r.flow ?? query.flow, requestMs);
      const contact = this.registerContact();
      if (r.kind === 'failure') {
        const outcome: RegisterOutcome = { ok: false, reason: r.failure.message, attempts, timings, contact, failure: r.failure };
        if (r.response) outcome.status = r.response.status;
        return { outcome };
      }
      const res = r.response;
      if (res.status >= 200 && res.status < 300) return { response: res };
      const message = `REGISTER (${what}) answered ${res.status} ${res.reason}`;
      return { outcome: { ok: false, status: res.status, reason: res.reason, attempts, timings, contact, failure: { phase: 'request', code: 'ESTATUS', message } } };
    };
    const done = (res: SipResponse, removed: string[], left: Binding[]): RegisterOutcome => ({
      ok: true,
      status: res.status,
      reason: res.reason,
      attempts,
      timings: this.timingsOf(query.flow, requestMs),
      contact: this.registerContact(),
      expires: 0,
      removed,
      kept: left.filter((b) => !isOurBinding(b, id)).length,
    });
    const q = check(query, 'binding query');
    if ('outcome' in q) return q.outcome;
    const listed = listBindings(q.response);
    const ours = listed.filter((b) => isOurBinding(b, id));
    if (ours.length === 0) return done(q.response, [], listed);
    const removal = await this.sendRegister(() => ours.map((b) => `<${b.uri}>;expires=0`).join(', '), 0);
    attempts += removal.attempts;
    requestMs += removal.requestMs ?? 0;
    const rm = check(removal, 'remove own bindings');
    if ('outcome' in rm) return rm.outcome;
    const left = listBindings(rm.response);
    const still = left.filter((b) => isOurBinding(b, id));
    if (still.length > 0) {
      const message = `registrar still lists our binding after expires=0: ${still.map((b) => b.uri).join(', ')}`;
      return { ...done(rm.response, [], left), ok: false, failure: { phase: 'request', code: 'EBINDING', message } };
    }
    return done(rm.response, ours.map((b) => b.uri), left);
  }

  // ---- INVITE (UAC) ----

  /** Places a call to `target` (an extension, or a SIP URI). */
  invite(target: string, opts: CallOptions): OutgoingCall {
    const targetUri = target.includes(':') ? target : `sip:${target}@${hostText(this.domain)}`;
    const callId = newCallId();
    const fromTag = newTag();
    const req = createRequest({
      method: 'INVITE',
      uri: targetUri,
      headers: [
        ...this.baseHeaders(),
        ['From', this.fromHeader(fromTag)],
        ['To', `<${targetUri}>`],
        ['Call-ID', callId],
        ['CSeq', '1 INVITE'],
        ['Allow', ALLOW],
        ['User-Agent', this.opts.userAgent ?? 'callprobe/0.1'],
        ...(opts.headers ?? []),
        ['Content-Type', 'application/sdp'],
      ],
      body: opts.sdp,
    });
    let currentTx: ClientTransaction | undefined;
    let provisionalSeen = false;
    let cancelRequested = false;
    let cancelSent = false;
    let startedAt: number | undefined;
    let pddMs: number | undefined;
    const sendCancel = (): void => {
      if (cancelSent || !currentTx || currentTx.state !== 'proceeding') return;
      cancelSent = true;
      // RFC 3261 §9.1: same Request-URI, Call-ID, From, To, CSeq number, Route and top Via branch.
      const inv = currentTx.request;
      const headers: Array<[string, string]> = [['Via', inv.headers.get('via') ?? '']];
      for (const r of inv.headers.getAll('route')) headers.push(['Route', r]);
      headers.push(['Max-Forwards', '70'], ['From', inv.headers.get('from') ?? ''], ['To', inv.headers.get('to') ?? ''], ['Call-ID', inv.callId], ['CSeq', `${inv.cseq.seq} CANCEL`]);
      const cancel = createRequest({ method: 'CANCEL', uri: inv.uri, headers });
      new ClientTransaction(this.txHost, cancel, currentTx.dest, () => undefined).start();
    };
    let ringTimedOut = false;
    let ringTimer: NodeJS.Timeout | undefined;
    const outcome = (async (): Promise<CallOutcome> => {
      if (opts.ringTimeoutMs !== undefined) {
        ringTimer = this.ownTimers.set(() => {
          ringTimedOut = true;
          cancelRequested = true;
          if (provisionalSeen) sendCancel();
        }, opts.ringTimeoutMs);
      }
      const r = await this.send(req, this.serverDest, {
        decorate: (m, f) => {
          m.headers.set('Contact', this.contactHeader(f));
        },
        onTransaction: (tx) => {
          currentTx = tx;
          startedAt ??= performance.now();
        },
        onProvisional: (res) => {
          provisionalSeen = true;
          if (pddMs === undefined && (res.status === 180 || res.status === 183) && startedAt !== undefined) pddMs = performance.now() - startedAt;
          if (cancelRequested) sendCancel();
          opts.onProvisional?.(res);
        },
      });
      this.ownTimers.clear(ringTimer);
      // A final response with no 180/183 before it (callee answered at once, or a
      // proxy forwarded the 200 ahead of the 180): the request delay ends at the
      // final response (RFC 6076 §4.3.1/§4.3.2, Session Request Delay).
      if (pddMs === undefined && r.kind === 'final' && startedAt !== undefined) pddMs = performance.now() - startedAt;
      const flow = r.flow;
      const timings: CallOutcome['timings'] = { dns_ms: round(this.dnsMs), connect_ms: round(flow?.connectMs ?? 0) };
      if (flow?.transport === 'tls') timings.tls_ms = round(flow.tlsMs);
      if (pddMs !== undefined) timings.pdd_ms = round(pddMs);
      if (r.kind === 'failure') {
        const out: CallOutcome = { ok: false, reason: r.failure.message, cancelled: cancelRequested, attempts: r.attempts, failure: r.failure, timings };
        if (r.response) out.status = r.response.status;
        return out;
      }
      const res = r.response;
      if (startedAt !== undefined) timings.answer_ms = round(performance.now() - startedAt);
      if (res.status >= 300) {
        const message = ringTimedOut
          ? `no answer within ${opts.ringTimeoutMs ?? 0} ms (CANCEL sent, ${res.status} ${res.reason})`
          : `INVITE answered ${res.status} ${res.reason}`;
        return {
          ok: false,
          status: res.status,
          reason: res.reason,
          cancelled: cancelRequested && res.status === 487,
          attempts: r.attempts,
          failure: { phase: 'request', code: ringTimedOut ? 'ENOANSWER' : 'ESTATUS', message },
          timings,
        };
      }
      // 2xx: dialog (UAC side, §12.1.2) and ACK in the dialog with a new branch (§13.2.2.4).
      const dialog = this.createUacDialog(r.request, res);
      this.sendAck(dialog, r.request.cseq.seq);
      if (cancelRequested) {
        void dialog.bye();
        return { ok: false, status: res.status, reason: 'answered after CANCEL; hung up', cancelled: true, attempts: r.attempts, timings };
      }
      const out: CallOutcome = { ok: true, status: res.status, reason: res.reason, dialog, cancelled: false, attempts: r.attempts, timings };
      if (res.body.length > 0) {
        out.remoteSdp = res.body.toString();
        dialog.remoteSdp = out.remoteSdp;
      }
      dialog.localSdp = opts.sdp;
      return out;
    })();
    return {
      callId,
      outcome,
      cancel: () => {
        cancelRequested = true;
        if (provisionalSeen) sendCancel();
      },
    };
  }

  private createUacDialog(req: SipRequest, res: SipResponse): Dialog {
    const to = parseNameAddr(res.headers.get('to') ?? '');
    const from = parseNameAddr(req.headers.get('from') ?? '');
    const contact = parseNameAddr(res.headers.get('contact') ?? '');
    const dialog = new Dialog(this.dialogHost, {
      callId: req.callId,
      localTag: String(from?.params.tag ?? ''),
      remoteTag: String(to?.params.tag ?? ''),
      localHeader: req.headers.get('from') ?? '',
      remoteHeader: res.headers.get('to') ?? '',
      localSeq: req.cseq.seq,
      remoteSeq: 0,
      routeSet: res.headers.getAll('record-route').reverse(),
      remoteTarget: contact ? formatUri(contact.uri) : req.uri,
      role: 'uac',
    });
    this.dialogs.set(dialog.id, dialog);
    return dialog;
  }

  private sendAck(dialog: Dialog, seq: number, body?: string): void {
    const ack = dialog.buildRequest('ACK', { cseq: seq, ...(body !== undefined ? { body } : {}) });
    void this.nextHop(dialog).then(async (dest) => {
      try {
        const flow = await this.transport.prepare(dest);
        ack.headers.set('Via', `SIP/2.0/${dest.transport.toUpperCase()} ${hostText(flow.localAddress)}:${flow.localPort};branch=${newBranch()};rport`);
        const key = `${dialog.callId}|${seq}`;
        this.sentAcks.set(key, { ack, dest });
        // 2xx retransmissions stop within 64*T1 (§13.3.1.4): forget the ACK after that.
        this.ownTimers.set(() => this.sentAcks.delete(key), 64 * this.timers.t1Ms);
        await this.transport.send(ack, dest);
      } catch (err) {
        this.opts.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'ACK not sent');
      }
    });
  }

  /** A 2xx retransmission for an INVITE we already ACKed: ACK again (§13.2.2.4). */
  private onStray2xx(res: SipResponse): void {
    if (res.cseq.method !== 'INVITE') return;
    const sent = this.sentAcks.get(`${res.callId}|${res.cseq.seq}`);
    if (sent) this.transport.send(sent.ack, sent.dest).catch(() => undefined);
  }

  /** In-dialog next hop: first Route (loose routing) or the remote target; the server if neither resolves to an IP. */
  private async nextHop(dialog: Dialog): Promise<Destination> {
    const first = dialog.state.routeSet[0];
    const uri = first ? parseNameAddr(first)?.uri : parseUri(dialog.state.remoteTarget);
    if (!uri || uri.opaque !== undefined) return this.serverDest;
    try {
      const r = await resolveSipTarget(uri, this.serverDest.transport, this.opts.resolver);
      const d = r.targets[0];
      if (!d) return this.serverDest;
      // A stream connection to the server is the same hop under another name: reuse it.
      if (d.transport === 'udp' && this.serverDest.transport !== 'udp' && d.host === this.serverDest.host) return this.serverDest;
      return d;
    } catch {
      return this.serverDest;
    }
  }

  private async sendInDialog(dialog: Dialog, req: SipRequest): Promise<InDialogResult> {
    const dest = await this.nextHop(dialog);
    const r = await this.send(req, dest, {
      decorate: (m, f) => {
        if (m.headers.has('contact')) m.headers.set('Contact', this.contactHeader(f));
      },
    });
    if (r.kind === 'failure') {
      const out: InDialogResult = { ok: false, reason: r.failure.message };
      if (r.response) out.response = r.response;
      return out;
    }
    if (req.method === 'INVITE' && r.response.status >= 200 && r.response.status < 300) this.sendAck(dialog, r.request.cseq.seq);
    dialog.state.localSeq = Math.max(dialog.state.localSeq, r.request.cseq.seq);
    if (r.response.status >= 300) return { ok: false, reason: `${req.method} answered ${r.response.status} ${r.response.reason}`, response: r.response };
    return { ok: true, response: r.response };
  }

  // ---- incoming ----

  onInvite(handler: (call: IncomingCall) => void): void {
    this.inviteHandler = handler;
  }

  private onInbound(m: Inbound): void {
    if (this.closed) return;
    const msg = m.message;
    if (msg.kind === 'response') {
      if (!responseHasSingleVia(msg)) return; // §8.1.3.3 (RFC 4475 bcast)
      const branch = msg.vias[0]?.params.branch;
      const tx = typeof branch === 'string' ? this.txs.get(clientKey(branch, msg.cseq.method)) : undefined;
      if (tx instanceof ClientTransaction) tx.receive(msg);
      else if (msg.status >= 200 && msg.status < 300) this.onStray2xx(msg);
      return;
    }
    const replyTo: Destination = { transport: m.transport, host: m.source.address, port: m.source.port };
    const key = serverKey(msg);
    const existing = key ? this.txs.get(key) : undefined;
    if (existing instanceof ServerTransaction) {
      existing.receive(msg);
      return;
    }
    if (msg.method === 'ACK') {
      this.onAck(msg);
      return;
    }
    const stx = new ServerTransaction(this.txHost, msg, replyTo, key ?? `s|nobranch|${randomBytes(6).toString('hex')}`);
    const uri = msg.requestUri;
    if (uri && uri.scheme !== 'sip' && uri.scheme !== 'sips' && uri.scheme !== 'tel') {
      stx.respond(createResponse(msg, 416, undefined, { toTag: newTag() }));
      return;
    }
    const toTag = msg.to?.params.tag;
    switch (msg.method) {
      case 'OPTIONS':
        stx.respond(createResponse(msg, 200, undefined, { toTag: newTag(), headers: [['Allow', ALLOW], ['Accept', 'application/sdp'], ['Contact', this.contactHeader()]] }));
        return;
      case 'INVITE':
        if (typeof toTag === 'string') this.onReinvite(msg, stx);
        else this.onNewInvite(msg, stx);
        return;
      case 'CANCEL':
        this.onCancel(msg, stx);
        return;
      case 'BYE':
      case 'INFO': {
        const dialog = this.findDialog(msg);
        if (!dialog) {
          stx.respond(createResponse(msg, 481));
          return;
        }
        stx.respond(createResponse(msg, 200));
        if (msg.method === 'BYE') {
          dialog.emit('bye', msg);
          dialog.end('remote', 'BYE received');
        } else dialog.emit('info', msg);
        return;
      }
      default:
        stx.respond(createResponse(msg, 501, undefined, { toTag: newTag(), headers: [['Allow', ALLOW]] }));
    }
  }

  private findDialog(req: SipRequest): Dialog | undefined {
    const localTag = req.to?.params.tag;
    const remoteTag = req.from?.params.tag;
    if (typeof localTag !== 'string' || typeof remoteTag !== 'string') return undefined;
    return this.dialogs.get(dialogId(req.callId, localTag, remoteTag));
  }

  private onAck(ack: SipRequest): void {
    const done = this.pendingAccepts.get(`${ack.callId}|${ack.cseq.seq}`);
    if (done) done();
  }

  private onCancel(cancel: SipRequest, stx: ServerTransaction): void {
    // §9.2: the CANCEL matches the INVITE server transaction with the same branch.
    const inviteKey = serverKey(createRequest({ method: 'INVITE', uri: cancel.uri, headers: [['Via', cancel.headers.get('via') ?? '']] }));
    const inv = inviteKey ? this.txs.get(inviteKey) : undefined;
    if (!(inv instanceof ServerTransaction)) {
      stx.respond(createResponse(cancel, 481));
      return;
    }
    stx.respond(createResponse(cancel, 200));
    const pending = this.pendingInvites.get(inv.key);
    pending?.();
  }

  private onNewInvite(invite: SipRequest, stx: ServerTransaction): void {
    const localTag = newTag();
    const trying = createResponse(invite, 100);
    stx.respond(trying);
    if (!this.inviteHandler) {
      stx.respond(createResponse(invite, 480, undefined, { toTag: localTag }));
      return;
    }
    let answered = false;
    let resolveCancelled: () => void = () => undefined;
    const cancelled = new Promise<void>((r) => (resolveCancelled = r));
    this.pendingInvites.set(stx.key, () => {
      this.pendingInvites.delete(stx.key);
      if (answered) return;
      answered = true;
      stx.respond(createResponse(invite, 487, undefined, { toTag: localTag }));
      resolveCancelled();
    });
    const contactHdr = (): string => this.contactHeader(this.flowFor(stx.replyTo));
    const incoming: IncomingCall = {
      request: invite,
      callId: invite.callId,
      ...(invite.body.length > 0 ? { remoteSdp: invite.body.toString() } : {}),
      cancelled,
      progress: (status, sdp) => {
        if (answered) return;
        const headers: Array<[string, string]> = [['Contact', contactHdr()]];
        if (sdp !== undefined) headers.push(['Content-Type', 'application/sdp']);
        stx.respond(createResponse(invite, status, undefined, { toTag: localTag, headers, ...(sdp !== undefined ? { body: sdp } : {}) }));
      },
      reject: (status, reason) => {
        if (answered) return;
        answered = true;
        this.pendingInvites.delete(stx.key);
        stx.respond(createResponse(invite, status, reason, { toTag: localTag }));
      },
      accept: (sdp) => {
        if (answered) return Promise.reject(new UaError('ESTATE', 'request', 'call already answered, rejected or cancelled'));
        answered = true;
        this.pendingInvites.delete(stx.key);
        const ok = createResponse(invite, 200, undefined, {
          toTag: localTag,
          headers: [['Contact', contactHdr()], ['Allow', ALLOW], ['Content-Type', 'application/sdp']],
          body: sdp,
        });
        const dialog = this.createUasDialog(invite, ok, localTag);
        dialog.localSdp = sdp;
        if (invite.body.length > 0) dialog.remoteSdp = invite.body.toString();
        stx.respond(ok);
        return this.retransmit2xxUntilAck(ok, stx.replyTo, invite, dialog);
      },
    };
    try {
      this.inviteHandler(incoming);
    } catch (err) {
      this.opts.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'invite handler threw');
      incoming.reject(500);
    }
  }

  /** §13.3.1.4: the UAS core retransmits 2xx (T1 doubling to T2) until the ACK, for 64*T1. */
  private retransmit2xxUntilAck(ok: SipResponse, dest: Destination, invite: SipRequest, dialog: Dialog): Promise<Dialog> {
    return new Promise<Dialog>((resolve, rejectPromise) => {
      const key = `${invite.callId}|${invite.cseq.seq}`;
      const reject = (err: Error): void => {
        this.acceptRejects.delete(reject);
        rejectPromise(err);
      };
      this.acceptRejects.add(reject);
      let interval = this.timers.t1Ms;
      let retransmit: NodeJS.Timeout | undefined;
      const reliable = dest.transport !== 'udp';
      const tick = (): void => {
        this.transport.send(ok, dest).catch(() => undefined);
        interval = Math.min(interval * 2, this.timers.t2Ms);
        retransmit = this.ownTimers.set(tick, interval);
      };
      if (!reliable) retransmit = this.ownTimers.set(tick, interval);
      const giveUp = this.ownTimers.set(() => {
        this.pendingAccepts.delete(key);
        this.ownTimers.clear(retransmit);
        // §13.3.1.4: no ACK → the session is over: BYE.
        void dialog.bye();
        reject(new UaError('ETIMEOUT', 'request', 'no ACK for 200 OK within 64*T1'));
      }, 64 * this.timers.t1Ms);
      this.pendingAccepts.set(key, () => {
        this.pendingAccepts.delete(key);
        this.ownTimers.clear(retransmit);
        this.ownTimers.clear(giveUp);
        this.acceptRejects.delete(reject);
        resolve(dialog);
      });
    });
  }

  private createUasDialog(invite: SipRequest, ok: SipResponse, localTag: string): Dialog {
    const from = invite.from;
    const contact = parseNameAddr(invite.headers.get('contact') ?? '');
    const dialog = new Dialog(this.dialogHost, {
      callId: invite.callId,
      localTag,
      remoteTag: String(from?.params.tag ?? ''),
      localHeader: ok.headers.get('to') ?? '',
      remoteHeader: invite.headers.get('from') ?? '',
      localSeq: Math.floor(Math.random() * 10_000) + 1,
      remoteSeq: invite.cseq.seq,
      routeSet: invite.headers.getAll('record-route'),
      remoteTarget: contact ? formatUri(contact.uri) : (from ? formatUri(from.uri) : invite.uri),
      role: 'uas',
    });
    this.dialogs.set(dialog.id, dialog);
    return dialog;
  }

  private onReinvite(invite: SipRequest, stx: ServerTransaction): void {
    const dialog = this.findDialog(invite);
    if (!dialog) {
      stx.respond(createResponse(invite, 481));
      return;
    }
    dialog.state.remoteSeq = invite.cseq.seq;
    const contact = parseNameAddr(invite.headers.get('contact') ?? '');
    if (contact) dialog.state.remoteTarget = formatUri(contact.uri);
    let responded = false;
    const respond = (status: number, sdp?: string): void => {
      if (responded) return;
      responded = true;
      const body = sdp ?? dialog.localSdp;
      if (status >= 200 && status < 300) {
        const ok = createResponse(invite, status, undefined, {
          headers: [['Contact', this.contactHeader(this.flowFor(stx.replyTo))], ...(body !== undefined ? ([['Content-Type', 'application/sdp']] as Array<[string, string]>) : [])],
          ...(body !== undefined ? { body } : {}),
        });
        if (invite.body.length > 0) dialog.remoteSdp = invite.body.toString();
        if (body !== undefined) dialog.localSdp = body;
        stx.respond(ok);
        this.retransmit2xxUntilAck(ok, stx.replyTo, invite, dialog).catch(() => undefined);
      } else stx.respond(createResponse(invite, status));
    };
    if (dialog.listenerCount('reinvite') === 0) respond(200);
    else dialog.emit('reinvite', { request: invite, respond });
  }

  /** The flow a response goes back on (for Contact): the stream connection or our UDP socket. */
  private flowFor(dest: Destination): Flow {
    const f = this.lastFlow;
    if (f && f.transport === dest.transport) return f;
    return { transport: dest.transport, localAddress: f?.localAddress ?? this.defaultLocalAddress, localPort: this.transport.udpPort, connectMs: 0, tlsMs: 0, reused: true };
  }

  /** Idempotent: stops every transaction and timer, closes every socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const tx of [...this.txs.values()]) {
      if (tx instanceof ClientTransaction) tx.abort('user agent closed');
      else tx.terminate();
    }
    this.txs.clear();
    this.ownTimers.clearAll();
    for (const reject of this.acceptRejects) reject(new UaError('ECLOSED', 'request', 'user agent closed'));
    this.acceptRejects.clear();
    this.pendingAccepts.clear();
    this.pendingInvites.clear();
    this.dialogs.clear();
    this.transport.close();
  }
}

function transportFailure(err: unknown): UaFailure {
  if (err instanceof TransportError) {
    const phase: FailurePhase = err.phase === 'tls' ? 'tls' : err.phase === 'connect' ? 'connect' : 'request';
    return { phase, code: err.code, message: err.message };
  }
  const code = (err as { code?: unknown } | null)?.code;
  return { phase: 'request', code: typeof code === 'string' ? code : 'EINTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** "sip:host:port;transport=tcp", "sips:host", "host", "host:port", "[::1]:5060" → SipUri. */
export function parseServer(server: string): SipUri | null {
  const text = /^sips?:/i.test(server) ? server : `sip:${server}`;
  const uri = parseUri(text);
  if (!uri || uri.opaque !== undefined) return null;
  return uri;
}

/** Expiry granted for our Contact (§10.3 step 8: Contact expires param, else Expires header). */
function grantedExpires(res: SipResponse, ourContact: string): number | undefined {
  const ours = parseNameAddr(ourContact)?.uri;
  for (const c of res.headers.getAll('contact')) {
    const na = parseNameAddr(c);
    if (!na || !ours) continue;
    if (na.uri.host === ours.host && (na.uri.port ?? 5060) === (ours.port ?? 5060) && na.uri.user === ours.user) {
      const e = na.params.expires;
      if (typeof e === 'string' && /^\d+$/.test(e)) return Number(e);
    }
  }
  const h = res.headers.get('expires');
  return h !== undefined && /^\d+$/.test(h) ? Number(h) : undefined;
}

/** One binding as a registrar lists it in a 200 to REGISTER (RFC 3261 §10.3 step 8). */
export interface Binding {
  /** The Contact URI, as listed. */
  uri: string;
  callprobeId?: string;
  /** `+sip.instance` without quotes, e.g. "<urn:uuid:…>". */
  instance?: string;
}

/** The bindings a REGISTER response enumerates (Contact headers, comma lists split). */
export function listBindings(res: SipResponse): Binding[] {
  const out: Binding[] = [];
  for (const c of res.headers.getAll('contact')) {
    const na = parseNameAddr(c);
    if (!na) continue;
    // The URI exactly as listed: registrars (Kamailio's usrloc) compare Contact URIs as strings.
    const raw = /<([^>]*)>/.exec(c)?.[1];
    const b: Binding = { uri: raw ?? formatUri(na.uri) };
    const id = na.uri.params.callprobe;
    if (typeof id === 'string') b.callprobeId = id;
    const inst = na.params['+sip.instance'];
    if (typeof inst === 'string') b.instance = inst;
    out.push(b);
  }
  return out;
}

/** Ours: the URI carries `callprobe=ID`, or `+sip.instance` is our URN (case-insensitive, RFC 4122 §3). */
export function isOurBinding(b: Binding, id: string): boolean {
  const want = id.toLowerCase();
  if (b.callprobeId?.toLowerCase() === want) return true;
  return b.instance?.replace(/^<|>$/g, '').toLowerCase() === `urn:uuid:${want}`;
}

function newCallId(): string {
  return `${randomBytes(12).toString('hex')}@callprobe`;
}

function hostText(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
