// SIP transactions (RFC 3261 §17, with the RFC 6026 Accepted state).
// Client: INVITE (timers A, B, D) and non-INVITE (E, F, K).
// Server: INVITE (G, H, I, 100/2xx handled by the TU) and non-INVITE (J).
// Over TCP/TLS nothing is retransmitted and D/I/J/K are zero (§17.1.1.2, §17.1.2.2).
import { createRequest, parseVia, type SipRequest, type SipResponse } from './message.js';
import type { Destination, TransportLayer } from './transport.js';
import { randomHex } from './random.js';

/** RFC 3261 §17.1.1.1 T1/T2/T4 and the transaction timeout (Timer B/F, default 64*T1). */
export interface TimerConfig {
  t1Ms: number;
  t2Ms: number;
  t4Ms: number;
  /** Timer B / F (and H, J): how long a request may go unanswered. */
  timeoutMs: number;
}

export function timerConfig(partial: Partial<TimerConfig> = {}): TimerConfig {
  const t1Ms = partial.t1Ms ?? 500;
  return { t1Ms, t2Ms: partial.t2Ms ?? 4000, t4Ms: partial.t4Ms ?? 5000, timeoutMs: partial.timeoutMs ?? 64 * t1Ms };
}

/** RFC 3261 §8.1.1.7: branch starting with the magic cookie. */
export function newBranch(): string {
  return `z9hG4bK${randomHex(8)}`;
}

export function newTag(): string {
  return randomHex(6);
}

/** Tracks timers so close() can clear every one of them. */
export class TimerSet {
  private readonly timers = new Set<NodeJS.Timeout>();

  set(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clear(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  clearAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  get size(): number {
    return this.timers.size;
  }
}

export type ClientTxEvent =
  | { type: 'response'; response: SipResponse }
  /** B / F: no response at all; CANCEL: no final response 64·T1 after our CANCEL (§9.1). */
  | { type: 'timeout'; timer: 'B' | 'F' | 'CANCEL' }
  | { type: 'transport-error'; error: Error };

export type ClientTxState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** Key matching a response to its client transaction (§17.1.3): top Via branch + CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

export interface TransactionHost {
  transport: TransportLayer;
  timers: TimerConfig;
  /** Registers/unregisters a transaction in the matcher. */
  register(key: string, tx: ClientTransaction | ServerTransaction): void;
  unregister(key: string): void;
}

/** RFC 3261 §17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transaction. */
export class ClientTransaction {
  state: ClientTxState;
  readonly key: string;
  readonly branch: string;
  /** When the request was first sent (performance.now()), and how many times it was sent. */
  sentAt = 0;
  transmissions = 0;
  private readonly timers = new TimerSet();
  private retransmitTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private cancelTimer?: NodeJS.Timeout;
  private interval: number;
  private readonly reliable: boolean;
  private readonly isInvite: boolean;

  constructor(
    private readonly host: TransactionHost,
    readonly request: SipRequest,
    readonly dest: Destination,
    private readonly onEvent: (ev: ClientTxEvent) => void,
  ) {
    const top = parseVia(request.headers.get('via') ?? '');
    this.branch = String(top?.params.branch ?? '');
    this.key = clientKey(this.branch, request.method === 'ACK' ? 'INVITE' : request.method);
    this.isInvite = request.method === 'INVITE';
    this.reliable = dest.transport !== 'udp';
    this.state = this.isInvite ? 'calling' : 'trying';
    this.interval = host.timers.t1Ms;
  }

  /** Sends the request and arms timers A/B or E/F. */
  start(): void {
    this.host.register(this.key, this);
    this.sentAt = performance.now();
    this.transmit();
    const timeout = this.host.timers.timeoutMs;
    this.timeoutTimer = this.timers.set(() => this.fail({ type: 'timeout', timer: this.isInvite ? 'B' : 'F' }), timeout);
    if (!this.reliable) this.armRetransmit();
  }

  private transmit(): void {
    this.transmissions++;
    this.host.transport.send(this.request, this.dest).catch((err: unknown) => {
      this.fail({ type: 'transport-error', error: err instanceof Error ? err : new Error(String(err)) });
    });
  }

  // Timer A / E: doubling from T1; non-INVITE capped at T2 (§17.1.2.2), and at T2 once provisional.
  private armRetransmit(): void {
    this.retransmitTimer = this.timers.set(() => {
      if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
      this.transmit();
      this.interval = this.isInvite ? this.interval * 2 : Math.min(this.interval * 2, this.host.timers.t2Ms);
      this.armRetransmit();
    }, this.state === 'proceeding' && !this.isInvite ? this.host.timers.t2Ms : this.interval);
  }

  /** A response matched this transaction. */
  receive(res: SipResponse): void {
    if (this.state === 'terminated') return;
    if (this.isInvite) this.receiveInvite(res);
    else this.receiveNonInvite(res);
  }

  private receiveInvite(res: SipResponse): void {
    if (res.status < 200) {
      if (this.state === 'calling' || this.state === 'proceeding') {
        // §17.1.1.2: a provisional stops retransmissions and Timer B (B only runs in Calling).
        this.state = 'proceeding';
        this.timers.clear(this.retransmitTimer);
        this.timers.clear(this.timeoutTimer);
        this.onEvent({ type: 'response', response: res });
      }
      return;
    }
    if (res.status < 300) {
      // RFC 6026 §7.2: Accepted; 2xx retransmissions go to the TU, which re-ACKs.
      const first = this.state !== 'accepted';
      if (first) {
        this.state = 'accepted';
        this.timers.clearAll();
        this.timers.set(() => this.terminate(), 64 * this.host.timers.t1Ms);
      }
      this.onEvent({ type: 'response', response: res });
      return;
    }
    // 300-699: ACK within the transaction (§17.1.1.3), absorb retransmissions for Timer D.
    this.sendAck(res);
    if (this.state === 'completed') return;
    this.state = 'completed';
    this.timers.clearAll();
    this.timers.set(() => this.terminate(), this.reliable ? 0 : Math.max(32_000, this.host.timers.timeoutMs));
    this.onEvent({ type: 'response', response: res });
  }

  private receiveNonInvite(res: SipResponse): void {
    if (res.status < 200) {
      if (this.state === 'trying' || this.state === 'proceeding') {
        this.state = 'proceeding';
        this.onEvent({ type: 'response', response: res });
      }
      return;
    }
    if (this.state === 'completed') return;
    this.state = 'completed';
    this.timers.clearAll();
    this.timers.set(() => this.terminate(), this.reliable ? 0 : this.host.timers.t4Ms); // Timer K
    this.onEvent({ type: 'response', response: res });
  }

  /** §17.1.1.3: ACK for a non-2xx final response, same branch, To from the response. */
  private sendAck(res: SipResponse): void {
    const req = this.request;
    const headers: Array<[string, string]> = [['Via', req.headers.get('via') ?? '']];
    for (const r of req.headers.getAll('route')) headers.push(['Route', r]);
    headers.push(['Max-Forwards', '70']);
    headers.push(['From', req.headers.get('from') ?? '']);
    headers.push(['To', res.headers.get('to') ?? '']);
    headers.push(['Call-ID', req.callId]);
    headers.push(['CSeq', `${req.cseq.seq} ACK`]);
    const ack = createRequest({ method: 'ACK', uri: req.uri, headers });
    this.host.transport.send(ack, this.dest).catch(() => undefined);
  }

  /**
   * RFC 3261 §9.1: a CANCEL was sent for this INVITE. If no final response arrives
   * within Timer B's span (64·T1) the transaction is destroyed and the TU told
   * (a far end that answers the CANCEL with 200 and never sends 487 must not hold
   * the call for ever). Idempotent.
   */
  cancelSent(): void {
    if (!this.isInvite || this.cancelTimer || (this.state !== 'calling' && this.state !== 'proceeding')) return;
    this.cancelTimer = this.timers.set(() => this.fail({ type: 'timeout', timer: 'CANCEL' }), this.host.timers.timeoutMs);
  }

  private fail(ev: ClientTxEvent): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
    this.terminate();
    this.onEvent(ev);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clearAll();
    this.host.unregister(this.key);
  }

  /** Ends the transaction now and tells the TU (UA closing, probe aborted). */
  abort(reason: string): void {
    if (this.state === 'terminated') return;
    const waiting = this.state !== 'completed' && this.state !== 'accepted';
    this.terminate();
    if (waiting) this.onEvent({ type: 'transport-error', error: Object.assign(new Error(reason), { code: 'ECLOSED' }) });
  }
}

/** Key matching a request to its server transaction (§17.2.3): branch + sent-by + method (ACK → INVITE). */
export function serverKey(req: SipRequest): string | null {
  const via = parseVia(req.headers.get('via') ?? '');
  const branch = via?.params.branch;
  if (!via || typeof branch !== 'string' || !branch.startsWith('z9hG4bK')) return null;
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  return `s|${branch}|${via.host}:${via.port ?? ''}|${method}`;
}

export type ServerTxState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

/** RFC 3261 §17.2.1 (INVITE) and §17.2.2 (non-INVITE) server transaction. */
export class ServerTransaction {
  state: ServerTxState;
  readonly key: string;
  lastResponse?: SipResponse;
  private readonly timers = new TimerSet();
  private readonly isInvite: boolean;
  private readonly reliable: boolean;
  /** Called when the ACK for a non-2xx final response arrives, or Timer H fires (no ACK). */
  onAckTimeout?: () => void;

  constructor(
    private readonly host: TransactionHost,
    readonly request: SipRequest,
    readonly replyTo: Destination,
    key: string,
  ) {
    this.key = key;
    this.isInvite = request.method === 'INVITE';
    this.reliable = replyTo.transport !== 'udp';
    this.state = this.isInvite ? 'proceeding' : 'trying';
    host.register(key, this);
  }

  /** A retransmission of the request (or the ACK) arrived. */
  receive(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.isInvite && this.state === 'completed') {
        this.state = 'confirmed';
        this.timers.clearAll();
        this.timers.set(() => this.terminate(), this.reliable ? 0 : this.host.timers.t4Ms); // Timer I
      }
      return;
    }
    // Retransmitted request: resend the last response (none in Accepted: the TU retransmits 2xx).
    if (this.lastResponse && this.state !== 'accepted' && this.state !== 'terminated') this.sendNow(this.lastResponse);
  }

  respond(res: SipResponse): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed' || this.state === 'accepted') return;
    this.lastResponse = res;
    this.sendNow(res);
    if (res.status < 200) {
      if (!this.isInvite) this.state = 'proceeding';
      return;
    }
    const t = this.host.timers;
    if (this.isInvite && res.status < 300) {
      // RFC 6026 §8.7: Accepted for 64*T1, absorbing INVITE retransmissions.
      this.state = 'accepted';
      this.timers.set(() => this.terminate(), 64 * t.t1Ms);
      return;
    }
    this.state = 'completed';
    if (this.isInvite) {
      // Timer G retransmits the final response until the ACK; Timer H gives up.
      if (!this.reliable) {
        let interval = t.t1Ms;
        const g = (): void => {
          if (this.state !== 'completed') return;
          this.sendNow(res);
          interval = Math.min(interval * 2, t.t2Ms);
          this.timers.set(g, interval);
        };
        this.timers.set(g, interval);
      }
      this.timers.set(() => {
        this.onAckTimeout?.();
        this.terminate();
      }, 64 * t.t1Ms);
    } else {
      this.timers.set(() => this.terminate(), this.reliable ? 0 : 64 * t.t1Ms); // Timer J
    }
  }

  private sendNow(res: SipResponse): void {
    this.host.transport.send(res, this.replyTo).catch(() => undefined);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clearAll();
    this.host.unregister(this.key);
  }
}
