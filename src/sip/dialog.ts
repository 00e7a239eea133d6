// SIP dialogs (RFC 3261 §12): identity, CSeq, route set, remote target, and
// the in-dialog requests a probe needs (BYE, re-INVITE, INFO). The UA core
// sends and receives; a Dialog only holds state and builds requests.
import { EventEmitter } from 'node:events';
import { createRequest, type SipRequest, type SipResponse } from './message.js';
import { parseNameAddr, formatUri } from './uri.js';

export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Full From value we send (with our tag). */
  localHeader: string;
  /** Full To value we send (with their tag). */
  remoteHeader: string;
  localSeq: number;
  remoteSeq: number;
  /** Route set in the order requests carry it (§12.1.1 UAS: as received; §12.1.2 UAC: reversed). */
  routeSet: string[];
  /** Remote target URI from the peer's Contact. */
  remoteTarget: string;
  role: 'uac' | 'uas';
}

/** What the UA core offers a dialog: send a request and get its final response (auth handled). */
export interface DialogHost {
  sendInDialog(dialog: Dialog, req: SipRequest): Promise<InDialogResult>;
  contactHeader(): string;
  forget(dialog: Dialog): void;
}

export type InDialogResult =
  | { ok: true; response: SipResponse }
  | { ok: false; reason: string; response?: SipResponse };

export interface ReinviteRequest {
  request: SipRequest;
  /** Answer the re-INVITE (default when no listener: 200 with our last SDP). */
  respond(status: number, sdp?: string): void;
}

interface DialogEvents {
  bye: [SipRequest];
  reinvite: [ReinviteRequest];
  info: [SipRequest];
  ended: [{ by: 'local' | 'remote'; reason: string }];
}

export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

export class Dialog extends EventEmitter<DialogEvents> {
  readonly state: DialogState;
  /** Last SDP we offered or answered in this dialog. */
  localSdp?: string;
  remoteSdp?: string;
  ended = false;

  constructor(
    private readonly host: DialogHost,
    state: DialogState,
  ) {
    super();
    this.state = state;
  }

  get id(): string {
    return dialogId(this.state.callId, this.state.localTag, this.state.remoteTag);
  }

  get callId(): string {
    return this.state.callId;
  }

  /** RFC 3261 §12.2.1.1: Request-URI and Route from the remote target and route set. */
  buildRequest(method: string, opts: { body?: string | Buffer; contentType?: string; cseq?: number } = {}): SipRequest {
    const s = this.state;
    const seq = opts.cseq ?? ++s.localSeq;
    let uri = s.remoteTarget;
    let routes = [...s.routeSet];
    const first = routes[0] ? parseNameAddr(routes[0]) : null;
    if (first && first.uri.params.lr === undefined) {
      // Strict router: its URI becomes the Request-URI, the remote target goes last.
      uri = formatUri({ ...first.uri, headers: {} });
      routes = [...routes.slice(1), `<${s.remoteTarget}>`];
    }
    const headers: Array<[string, string]> = [['Via', 'SIP/2.0/UDP 0.0.0.0;branch=z9hG4bKplaceholder']];
    for (const r of routes) headers.push(['Route', r]);
    headers.push(['Max-Forwards', '70'], ['From', s.localHeader], ['To', s.remoteHeader], ['Call-ID', s.callId], ['CSeq', `${seq} ${method}`]);
    if (method === 'INVITE' || method === 'UPDATE') headers.push(['Contact', this.host.contactHeader()]);
    if (opts.body !== undefined) headers.push(['Content-Type', opts.contentType ?? 'application/sdp']);
    return createRequest({ method, uri, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  }

  /** Sends BYE and ends the dialog (whatever the answer: the dialog is over for us). */
  async bye(): Promise<InDialogResult> {
    if (this.ended) return { ok: false, reason: 'dialog already ended' };
    const req = this.buildRequest('BYE');
    this.end('local', 'BYE sent');
    return this.host.sendInDialog(this, req);
  }

  /** re-INVITE with a new offer; resolves with the answer (ACK is sent by the UA). */
  async reinvite(sdp: string): Promise<InDialogResult & { remoteSdp?: string }> {
    if (this.ended) return { ok: false, reason: 'dialog already ended' };
    this.localSdp = sdp;
    const res = await this.host.sendInDialog(this, this.buildRequest('INVITE', { body: sdp }));
    if (res.ok && res.response.body.length > 0) {
      this.remoteSdp = res.response.body.toString();
      return { ...res, remoteSdp: this.remoteSdp };
    }
    return res;
  }

  async info(body: string, contentType: string): Promise<InDialogResult> {
    if (this.ended) return { ok: false, reason: 'dialog already ended' };
    return this.host.sendInDialog(this, this.buildRequest('INFO', { body, contentType }));
  }

  /** Marks the dialog ended (idempotent) and tells listeners. */
  end(by: 'local' | 'remote', reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.host.forget(this);
    this.emit('ended', { by, reason });
  }
}
