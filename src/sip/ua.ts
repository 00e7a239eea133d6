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
// Callers should unregister a callee when done: Kamailio forks INVITEs to every binding,
// including stale ones.
//
// The facade owns the transport, the transaction table, the digest-auth request loop and the
// dialog table; the roles live beside it and see it through UaHost (ua-host.ts):
// registration.ts (REGISTER / unregister), invite-client.ts (outgoing INVITE, CANCEL, ACK),
// invite-server.ts (incoming INVITE, CANCEL, re-INVITE, 2xx until ACK). Public types: ua-types.ts.
//
// UserAgent.create throws UaError (code EDNS / EBIND, phase 'dns' / 'connect') when the
// server cannot be resolved or the local port cannot be bound; everything after that
// returns failures as values: { ok: false, failure: { phase, message } }.
//
// Out-of-dialog requests go to the configured server (an outbound proxy, RFC 3261
// §8.1.2); in-dialog requests follow the route set / remote target (§12.2.1.1).
import { performance } from 'node:perf_hooks';
import type { DetailedPeerCertificate } from 'node:tls';
import { dialogId, type Dialog, type DialogHost, type InDialogResult } from './dialog.js';
import { RealmCredentials } from './digest.js';
import { DnsError, resolveSipTarget } from './dns.js';
import { checkUaIdentity, SipInputError } from './input.js';
import { createRequest, createResponse, responseHasSingleVia, type SipRequest, type SipResponse } from './message.js';
import { ClientTransaction, clientKey, newBranch, newTag, serverKey, ServerTransaction, timerConfig, TimerSet, type TimerConfig, type TransactionHost } from './transaction.js';
import { routeSourceAddress, TransportLayer, type Destination, type Flow, type Inbound } from './transport.js';
import { parseNameAddr, parseUri, formatUri, type SipUri } from './uri.js';
import { InviteClient } from './invite-client.js';
import { InviteServer } from './invite-server.js';
import { Registration } from './registration.js';
import { round } from '../round.js';
import { ALLOW, hostText, newCallId, transportFailure, type SendHooks, type SendResult, type UaHost } from './ua-host.js';
import {
  UaError,
  type CallOptions,
  type IncomingCall,
  type OptionsOutcome,
  type OutgoingCall,
  type RegisterOutcome,
  type RequestTimings,
  type UaFailure,
  type UserAgentOptions,
} from './ua-types.js';
import { randomHex } from './random.js';

export * from './ua-types.js';
export { isOurBinding, listBindings, type Binding } from './registration.js';

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
  private readonly nonceCounts = new Map<string, number>();
  private readonly ownTimers = new TimerSet();
  private lastFlow?: Flow;
  private closed = false;
  /** What transactions see of the UA: the transport, timers and the matcher table. */
  private readonly txHost: TransactionHost;
  /** What dialogs see of the UA. */
  private readonly dialogHost: DialogHost;
  /** What the roles below see of the UA. */
  private readonly host: UaHost;
  private readonly registration: Registration;
  private readonly client: InviteClient;
  private readonly server: InviteServer;

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
    this.host = {
      opts,
      transport,
      timers: this.timers,
      ownTimers: this.ownTimers,
      serverDest,
      user: this.user,
      domain: this.domain,
      dnsMs,
      txHost: this.txHost,
      dialogHost: this.dialogHost,
      send: (req, dest, hooks) => this.send(req, dest, hooks),
      contactHeader: (flow) => this.contactHeader(flow),
      viaHeader: (flow) => this.viaHeader(flow),
      flowFor: (dest) => this.flowFor(dest),
      nextHop: (dialog) => this.nextHop(dialog),
      aor: () => this.aor(),
      fromHeader: (tag) => this.fromHeader(tag),
      baseHeaders: () => this.baseHeaders(),
      timingsOf: (flow, requestMs) => this.timingsOf(flow, requestMs),
      addDialog: (dialog) => void this.dialogs.set(dialog.id, dialog),
      findDialog: (req) => this.findDialog(req),
      serverTransaction: (key) => {
        const tx = this.txs.get(key);
        return tx instanceof ServerTransaction ? tx : undefined;
      },
    };
    this.registration = new Registration(this.host);
    this.client = new InviteClient(this.host);
    this.server = new InviteServer(this.host);
    transport.onMessage((m) => this.onInbound(m));
  }

  static async create(opts: UserAgentOptions): Promise<UserAgent> {
    checkUaIdentity(opts); // throws SipInputError: nothing is bound or sent for unsafe input
    const serverUri = parseServer(opts.server);
    if (!serverUri) throw new SipInputError('server', `"${opts.server}" is not a SIP URI or host[:port]`);
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
    // Bind the address the route to the server actually uses, not the wildcard (issue 21.9): the
    // socket then answers only on the interface the PBX talks to, and Via/Contact name it.
    const localAddress = opts.localAddress ?? (await routeSourceAddress(dest.host));
    let transport: TransportLayer;
    try {
      transport = await TransportLayer.create({
        ...(localAddress !== undefined ? { localAddress } : {}),
        ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}),
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
        ...(opts.recorder ? { recorder: opts.recorder } : {}),
        ...(opts.dscp !== undefined ? { dscp: opts.dscp } : {}),
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

  // ---- registration (registration.ts) ----

  /** REGISTER our Contact (RFC 3261 §10.2), answering the digest challenge. */
  register(opts: { expires?: number } = {}): Promise<RegisterOutcome> {
    return this.registration.register(opts);
  }

  /**
   * Removes our own binding(s) only (RFC 3261 §10.2.2: our Contact with expires=0). With an
   * `instanceId`, every binding carrying it (an earlier process may have used another port).
   * `all` removes EVERY binding of the AOR, other devices' too (Contact: *, Expires: 0).
   */
  unregister(opts: { all?: boolean } = {}): Promise<RegisterOutcome> {
    return this.registration.unregister(opts);
  }

  // ---- INVITE (invite-client.ts, invite-server.ts) ----

  /** Places a call to `target` (an extension, or a SIP URI). */
  invite(target: string, opts: CallOptions): OutgoingCall {
    return this.client.invite(target, opts);
  }

  onInvite(handler: (call: IncomingCall) => void): void {
    this.server.onInvite(handler);
  }

  /** Our Contact header value for a flow (the address the UA listens on for it). */
  contactHeader(flow: Flow | undefined = this.lastFlow): string {
    const f = flow ?? { transport: this.serverDest.transport, localAddress: this.defaultLocalAddress, localPort: this.transport.udpPort };
    const tp = f.transport === 'udp' ? '' : `;transport=${f.transport}`;
    return `<sip:${this.user}@${hostText(this.opts.externalAddress ?? f.localAddress)}:${f.localPort}${tp}>`;
  }

  /** Via for one request on `flow` (RFC 3261 §8.1.1.7, rport RFC 3581); sent-by is the external address when set. */
  viaHeader(flow: Pick<Flow, 'transport' | 'localAddress' | 'localPort'>): string {
    return `SIP/2.0/${flow.transport.toUpperCase()} ${hostText(this.opts.externalAddress ?? flow.localAddress)}:${flow.localPort};branch=${newBranch()};rport`;
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
    /** Credentials per realm for this request (RFC 3261 §22.3), created at the first challenge. */
    let auth: RealmCredentials | undefined;
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
      current.headers.set('Via', this.viaHeader({ ...now, transport: dest.transport }));
      hooks.decorate?.(current, now);
      attempts++;
      const result = await this.runTransaction(current, dest, hooks);
      firstSentAt ??= result.sentAt;
      const requestMs = performance.now() - firstSentAt;
      if (result.kind === 'failure') return { kind: 'failure', attempts, flow, failure: result.failure, requestMs };
      const res = result.response;
      const authFailure = (code: string, message: string) =>
        ({ kind: 'failure', attempts, flow, response: res, requestMs, failure: { phase: 'auth', code, message } }) as const;
      if ((res.status === 401 || res.status === 407) && this.opts.password !== undefined) {
        const username = this.opts.authUser ?? this.user;
        auth ??= new RealmCredentials({ username, password: this.opts.password }, (nonce) => this.nextNonceCount(nonce));
        const verdict = auth.challenged(res.status, res.headers.getAll(res.status === 401 ? 'www-authenticate' : 'proxy-authenticate'));
        if (!verdict.retry && verdict.reason === 'unsupported') return { kind: 'final', response: res, attempts, flow, requestMs, request: current };
        if (!verdict.retry) return authFailure('EAUTH', `credentials for ${username}@${verdict.realm} rejected twice (${res.status})`);
        const next = createRequest({ method: current.method, uri: current.uri, headers: current.headers.entries().map((h) => [h.name, h.value]), body: current.body });
        next.headers.set('CSeq', `${current.cseq.seq + 1} ${current.method}`);
        next.headers.remove('authorization').remove('proxy-authorization');
        for (const [name, value] of auth.headers({ method: current.method, uri: current.uri, body: current.body })) next.headers.append(name, value);
        current = next;
        continue;
      }
      if ((res.status === 401 || res.status === 407) && this.opts.password === undefined) {
        return authFailure('ENOCREDENTIALS', `server asked for credentials (${res.status}) and none are configured for ${this.user}`);
      }
      return { kind: 'final', response: res, attempts, flow, requestMs, request: current };
    }
  }

  /** RFC 7616 §3.4: the nonce count for the next use of `nonce` (the table is bounded). */
  private nextNonceCount(nonce: string): number {
    if (this.nonceCounts.size > 64 && !this.nonceCounts.has(nonce)) this.nonceCounts.clear(); // a long-lived UA sees a new nonce per challenge
    const nc = (this.nonceCounts.get(nonce) ?? 0) + 1;
    this.nonceCounts.set(nonce, nc);
    return nc;
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
            this.client.onStray2xx(ev.response);
            return;
          }
          settled = true;
          resolve({ kind: 'final', response: ev.response, sentAt: tx.sentAt });
        } else if (!settled) {
          settled = true;
          if (ev.type === 'timeout' && ev.timer === 'CANCEL') {
            const message = `no final response to the INVITE within ${this.timers.timeoutMs} ms (64·T1) of our CANCEL: the far end never sent 487 Request Terminated; transaction given up (RFC 3261 §9.1)`;
            resolve({ kind: 'failure', sentAt: tx.sentAt, failure: { phase: 'request', code: 'ENOFINAL', message } });
          } else if (ev.type === 'timeout') {
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
    const t: Partial<RequestTimings> = { dns_ms: round(this.dnsMs, 3) };
    if (flow) {
      t.connect_ms = round(flow.connectMs, 3);
      if (flow.transport === 'tls') t.tls_ms = round(flow.tlsMs, 3);
    }
    if (requestMs !== undefined) t.request_ms = round(requestMs, 3);
    return t;
  }

  // ---- INVITE (UAC) ----

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
    if (req.method === 'INVITE' && r.response.status >= 200 && r.response.status < 300) this.client.sendAck(dialog, r.request.cseq.seq);
    dialog.state.localSeq = Math.max(dialog.state.localSeq, r.request.cseq.seq);
    if (r.response.status >= 300) return { ok: false, reason: `${req.method} answered ${r.response.status} ${r.response.reason}`, response: r.response };
    return { ok: true, response: r.response };
  }

  // ---- incoming ----

  private onInbound(m: Inbound): void {
    if (this.closed) return;
    const msg = m.message;
    if (msg.kind === 'response') {
      if (!responseHasSingleVia(msg)) return; // §8.1.3.3 (RFC 4475 bcast)
      const branch = msg.vias[0]?.params.branch;
      const tx = typeof branch === 'string' ? this.txs.get(clientKey(branch, msg.cseq.method)) : undefined;
      if (tx instanceof ClientTransaction) tx.receive(msg);
      else if (msg.status >= 200 && msg.status < 300) this.client.onStray2xx(msg);
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
      this.server.onAck(msg);
      return;
    }
    const stx = new ServerTransaction(this.txHost, msg, replyTo, key ?? `s|nobranch|${randomHex(6)}`);
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
        if (typeof toTag === 'string') this.server.onReinvite(msg, stx);
        else this.server.onNewInvite(msg, stx);
        return;
      case 'CANCEL':
        this.server.onCancel(msg, stx);
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
    this.server.close();
    this.dialogs.clear();
    this.transport.close();
  }
}

/** "sip:host:port;transport=tcp", "sips:host", "host", "host:port", "[::1]:5060" → SipUri. */
export function parseServer(server: string): SipUri | null {
  const text = /^sips?:/i.test(server) ? server : `sip:${server}`;
  const uri = parseUri(text);
  if (!uri || uri.opaque !== undefined) return null;
  return uri;
}
