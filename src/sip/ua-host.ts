// What the user agent's roles (registration.ts, invite-client.ts, invite-server.ts) see of it,
// as transactions see a TransactionHost and dialogs a DialogHost: the transport and timers,
// the request sender with digest auth, our identity headers, and the dialog table.
import type { Dialog, DialogHost } from './dialog.js';
import type { SipRequest, SipResponse } from './message.js';
import type { ClientTransaction, ServerTransaction, TimerConfig, TimerSet, TransactionHost } from './transaction.js';
import { ipFamily, TransportError, type Destination, type Flow, type TransportLayer } from './transport.js';
import type { FailurePhase, RequestTimings, UaFailure, UserAgentOptions } from './ua-types.js';
import { randomHex } from './random.js';

/** Result of sending one request with digest retries. */
export type SendResult =
  | { kind: 'final'; response: SipResponse; attempts: number; flow: Flow; requestMs: number; request: SipRequest }
  | { kind: 'failure'; failure: UaFailure; attempts: number; flow?: Flow; response?: SipResponse; requestMs?: number };

export interface SendHooks {
  onProvisional?(res: SipResponse): void;
  onTransaction?(tx: ClientTransaction): void;
  /** Adds Contact (and anything flow-dependent) to each attempt. */
  decorate?(req: SipRequest, flow: Flow): void;
}

export interface UaHost {
  readonly opts: UserAgentOptions;
  readonly transport: TransportLayer;
  readonly timers: TimerConfig;
  /** UA-owned timers (ring timeout, 2xx retransmission, ACK memory), all cleared by close(). */
  readonly ownTimers: TimerSet;
  readonly serverDest: Destination;
  readonly user: string;
  readonly domain: string;
  /** How long resolving the server took (every outcome's dns_ms). */
  readonly dnsMs: number;
  readonly txHost: TransactionHost;
  readonly dialogHost: DialogHost;
  /** Sends `req` in a client transaction, answering 401/407 challenges. */
  send(req: SipRequest, dest: Destination, hooks?: SendHooks): Promise<SendResult>;
  /** Our Contact header value for a flow (default: the last one used). */
  contactHeader(flow?: Flow): string;
  /** Our Via header value for one request on this flow (new branch, rport; sent-by honours the external address). */
  viaHeader(flow: Flow): string;
  /** The flow a response goes back on (for Contact): the stream connection or our UDP socket. */
  flowFor(dest: Destination): Flow;
  /** In-dialog next hop: first Route (loose routing) or the remote target; the server if neither resolves. */
  nextHop(dialog: Dialog): Promise<Destination>;
  aor(): string;
  fromHeader(tag: string): string;
  baseHeaders(): Array<[string, string]>;
  timingsOf(flow: Flow | undefined, requestMs: number | undefined): Partial<RequestTimings>;
  addDialog(dialog: Dialog): void;
  findDialog(req: SipRequest): Dialog | undefined;
  /** The server transaction under `key` (CANCEL matching, §9.2). */
  serverTransaction(key: string): ServerTransaction | undefined;
}

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';

export function transportFailure(err: unknown): UaFailure {
  if (err instanceof TransportError) {
    const phase: FailurePhase = err.phase === 'tls' ? 'tls' : err.phase === 'connect' ? 'connect' : 'request';
    return { phase, code: err.code, message: err.message };
  }
  const code = (err as { code?: unknown } | null)?.code;
  return { phase: 'request', code: typeof code === 'string' ? code : 'EINTERNAL', message: err instanceof Error ? err.message : String(err) };
}

export function newCallId(): string {
  return `${randomHex(12)}@callprobe`;
}

export function hostText(host: string): string {
  return ipFamily(host) === 6 ? `[${host}]` : host;
}

