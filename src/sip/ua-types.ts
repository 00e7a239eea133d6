// The user agent's public types: options, outcomes, the call handles (see ua.ts for the facade).
import type { PacketRecorder } from '../evidence/recorder.js';
import type { Logger } from '../log.js';
import type { Dialog } from './dialog.js';
import type { Resolver } from './dns.js';
import type { SipRequest, SipResponse } from './message.js';
import type { TransportProto } from './transport.js';

export interface UserAgentOptions {
  transport?: TransportProto;
  /** Registrar / outbound proxy: "sip:127.0.0.1:5060", "sips:pbx.example", "pbx.example:5070". */
  server: string;
  localAddress?: string;
  localPort?: number;
  /**
   * Our address as seen from outside a NAT (config sip.external_ip): written into Via
   * sent-by and Contact instead of the local address (the port stays the local one:
   * static NAT / port forwarding). Responses still come back by rport (RFC 3581).
   */
  externalAddress?: string;
  /** DSCP of our SIP sockets (default CS3, 24; null: unmarked). */
  dscp?: number | null;
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
  /** A final non-2xx; `headers` e.g. Retry-After on a 503 (RFC 3261 §21.5.4). */
  reject(status: number, reason?: string, headers?: ReadonlyArray<[string, string]>): void;
  /** Resolves when the caller CANCELs before we answered. */
  readonly cancelled: Promise<void>;
}
