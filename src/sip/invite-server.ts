// INVITE server (RFC 3261 §13.3, §17.2.1): hands a new INVITE to the onInvite handler as an
// IncomingCall (progress / accept / reject), answers CANCEL (§9.2) and re-INVITEs, and
// retransmits 2xx until the ACK (§13.3.1.4). One role of the user agent (ua.ts); it sees the
// UA through UaHost.
import { Dialog } from './dialog.js';
import { createRequest, createResponse, type SipRequest, type SipResponse } from './message.js';
import { newTag, serverKey, type ServerTransaction } from './transaction.js';
import type { Destination } from './transport.js';
import { formatUri, parseNameAddr } from './uri.js';
import { ALLOW, type UaHost } from './ua-host.js';
import { UaError, type IncomingCall } from './ua-types.js';

export class InviteServer {
  private readonly pendingAccepts = new Map<string, () => void>();
  private readonly acceptRejects = new Set<(err: Error) => void>();
  /** CANCEL handlers of INVITEs not answered yet, by server transaction key. */
  private readonly pendingInvites = new Map<string, () => void>();
  private inviteHandler?: (call: IncomingCall) => void;

  constructor(private readonly ua: UaHost) {}

  onInvite(handler: (call: IncomingCall) => void): void {
    this.inviteHandler = handler;
  }

  onAck(ack: SipRequest): void {
    const done = this.pendingAccepts.get(`${ack.callId}|${ack.cseq.seq}`);
    if (done) done();
  }

  onCancel(cancel: SipRequest, stx: ServerTransaction): void {
    // §9.2: the CANCEL matches the INVITE server transaction with the same branch.
    const inviteKey = serverKey(createRequest({ method: 'INVITE', uri: cancel.uri, headers: [['Via', cancel.headers.get('via') ?? '']] }));
    const inv = inviteKey ? this.ua.serverTransaction(inviteKey) : undefined;
    if (!inv) {
      stx.respond(createResponse(cancel, 481));
      return;
    }
    stx.respond(createResponse(cancel, 200));
    const pending = this.pendingInvites.get(inv.key);
    pending?.();
  }

  onNewInvite(invite: SipRequest, stx: ServerTransaction): void {
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
    const contactHdr = (): string => this.ua.contactHeader(this.ua.flowFor(stx.replyTo));
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
      reject: (status, reason, headers) => {
        if (answered) return;
        answered = true;
        this.pendingInvites.delete(stx.key);
        stx.respond(createResponse(invite, status, reason, { toTag: localTag, ...(headers ? { headers: [...headers] } : {}) }));
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
      this.ua.opts.logger?.error({ err: err instanceof Error ? err.message : String(err) }, 'invite handler threw');
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
      let interval = this.ua.timers.t1Ms;
      let retransmit: NodeJS.Timeout | undefined;
      const reliable = dest.transport !== 'udp';
      const tick = (): void => {
        this.ua.transport.send(ok, dest).catch(() => undefined);
        interval = Math.min(interval * 2, this.ua.timers.t2Ms);
        retransmit = this.ua.ownTimers.set(tick, interval);
      };
      if (!reliable) retransmit = this.ua.ownTimers.set(tick, interval);
      const giveUp = this.ua.ownTimers.set(() => {
        this.pendingAccepts.delete(key);
        this.ua.ownTimers.clear(retransmit);
        // §13.3.1.4: no ACK → the session is over: BYE.
        void dialog.bye();
        reject(new UaError('ETIMEOUT', 'request', 'no ACK for 200 OK within 64*T1'));
      }, 64 * this.ua.timers.t1Ms);
      this.pendingAccepts.set(key, () => {
        this.pendingAccepts.delete(key);
        this.ua.ownTimers.clear(retransmit);
        this.ua.ownTimers.clear(giveUp);
        this.acceptRejects.delete(reject);
        resolve(dialog);
      });
    });
  }

  private createUasDialog(invite: SipRequest, ok: SipResponse, localTag: string): Dialog {
    const from = invite.from;
    const contact = parseNameAddr(invite.headers.get('contact') ?? '');
    const dialog = new Dialog(this.ua.dialogHost, {
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
    this.ua.addDialog(dialog);
    return dialog;
  }

  onReinvite(invite: SipRequest, stx: ServerTransaction): void {
    const dialog = this.ua.findDialog(invite);
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
          headers: [['Contact', this.ua.contactHeader(this.ua.flowFor(stx.replyTo))], ...(body !== undefined ? ([['Content-Type', 'application/sdp']] as Array<[string, string]>) : [])],
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

  /** Rejects pending accept() promises (ECLOSED) and forgets every pending INVITE. */
  close(): void {
    for (const reject of this.acceptRejects) reject(new UaError('ECLOSED', 'request', 'user agent closed'));
    this.acceptRejects.clear();
    this.pendingAccepts.clear();
    this.pendingInvites.clear();
  }
}
