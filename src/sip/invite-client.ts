// INVITE client (RFC 3261 §13.2, §17.1.1): places a call, times PDD and answer, CANCELs on
// request or ring timeout (§9.1; a CANCEL that gets no final response ends the INVITE 64·T1
// later), builds the UAC dialog and ACKs 2xx (re-ACKing retransmissions).
// One role of the user agent (ua.ts); it sees the UA through UaHost.
import { performance } from 'node:perf_hooks';
import { Dialog } from './dialog.js';
import { checkSipUri } from './input.js';
import { createRequest, type SipRequest, type SipResponse } from './message.js';
import { ClientTransaction, newTag } from './transaction.js';
import type { Destination } from './transport.js';
import { escapeSipUser, formatUri, parseNameAddr } from './uri.js';
import { round } from '../round.js';
import { ALLOW, hostText, newCallId, type UaHost } from './ua-host.js';
import type { CallOptions, CallOutcome, OutgoingCall } from './ua-types.js';

/** INVITE phase limit when no ring timeout was given: RFC 3261 Timer C's 3 minutes. */
const INVITE_LIMIT_WITHOUT_RING_MS = 180_000;

export class InviteClient {
  /** ACKs of confirmed UAC dialogs by Call-ID + CSeq, re-sent on 2xx retransmissions. */
  private readonly sentAcks = new Map<string, { ack: SipRequest; dest: Destination }>();

  constructor(private readonly ua: UaHost) {}

  /** Places a call to `target` (an extension, or a SIP URI). */
  invite(target: string, opts: CallOptions): OutgoingCall {
    const targetUri = target.includes(':') ? target : `sip:${escapeSipUser(target)}@${hostText(this.ua.domain)}`;
    checkSipUri('call target', targetUri);
    const callId = newCallId();
    const fromTag = newTag();
    const req = createRequest({
      method: 'INVITE',
      uri: targetUri,
      headers: [
        ...this.ua.baseHeaders(),
        ['From', this.ua.fromHeader(fromTag)],
        ['To', `<${targetUri}>`],
        ['Call-ID', callId],
        ['CSeq', '1 INVITE'],
        ['Allow', ALLOW],
        ['User-Agent', this.ua.opts.userAgent ?? 'callprobe/0.1'],
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
      new ClientTransaction(this.ua.txHost, cancel, currentTx.dest, () => undefined).start();
      currentTx.cancelSent();
    };
    let ringTimedOut = false;
    let ringTimer: NodeJS.Timeout | undefined;
    // Backstop (no proxy Timer C for a UAC): ring timeout + CANCEL's 64·T1 + Timer B never pass this.
    const limitMs = (opts.ringTimeoutMs ?? INVITE_LIMIT_WITHOUT_RING_MS) + 2 * this.ua.timers.timeoutMs;
    const limitTimer = this.ua.ownTimers.set(() => currentTx?.abort(`no final response to the INVITE within ${limitMs} ms (INVITE phase limit)`), limitMs);
    const outcome = (async (): Promise<CallOutcome> => {
      if (opts.ringTimeoutMs !== undefined) {
        ringTimer = this.ua.ownTimers.set(() => {
          ringTimedOut = true;
          cancelRequested = true;
          if (provisionalSeen) sendCancel();
        }, opts.ringTimeoutMs);
      }
      const r = await this.ua.send(req, this.ua.serverDest, {
        decorate: (m, f) => {
          m.headers.set('Contact', this.ua.contactHeader(f));
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
      this.ua.ownTimers.clear(ringTimer);
      this.ua.ownTimers.clear(limitTimer);
      // A final response with no 180/183 before it (callee answered at once, or a
      // proxy forwarded the 200 ahead of the 180): the request delay ends at the
      // final response (RFC 6076 §4.3.1/§4.3.2, Session Request Delay).
      if (pddMs === undefined && r.kind === 'final' && startedAt !== undefined) pddMs = performance.now() - startedAt;
      const flow = r.flow;
      const timings: CallOutcome['timings'] = { dns_ms: round(this.ua.dnsMs, 3), connect_ms: round(flow?.connectMs ?? 0, 3) };
      if (flow?.transport === 'tls') timings.tls_ms = round(flow.tlsMs, 3);
      if (pddMs !== undefined) timings.pdd_ms = round(pddMs, 3);
      if (r.kind === 'failure') {
        const out: CallOutcome = { ok: false, reason: r.failure.message, cancelled: cancelRequested, attempts: r.attempts, failure: r.failure, timings };
        if (r.response) out.status = r.response.status;
        return out;
      }
      const res = r.response;
      if (startedAt !== undefined) timings.answer_ms = round(performance.now() - startedAt, 3);
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
    const dialog = new Dialog(this.ua.dialogHost, {
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
    this.ua.addDialog(dialog);
    return dialog;
  }

  sendAck(dialog: Dialog, seq: number, body?: string): void {
    const ack = dialog.buildRequest('ACK', { cseq: seq, ...(body !== undefined ? { body } : {}) });
    void this.ua.nextHop(dialog).then(async (dest) => {
      try {
        const flow = await this.ua.transport.prepare(dest);
        ack.headers.set('Via', this.ua.viaHeader({ ...flow, transport: dest.transport }));
        const key = `${dialog.callId}|${seq}`;
        this.sentAcks.set(key, { ack, dest });
        // 2xx retransmissions stop within 64*T1 (§13.3.1.4): forget the ACK after that.
        this.ua.ownTimers.set(() => this.sentAcks.delete(key), 64 * this.ua.timers.t1Ms);
        await this.ua.transport.send(ack, dest);
      } catch (err) {
        this.ua.opts.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'ACK not sent');
      }
    });
  }

  /** A 2xx retransmission for an INVITE we already ACKed: ACK again (§13.2.2.4). */
  onStray2xx(res: SipResponse): void {
    if (res.cseq.method !== 'INVITE') return;
    const sent = this.sentAcks.get(`${res.callId}|${res.cseq.seq}`);
    if (sent) this.ua.transport.send(sent.ack, sent.dest).catch(() => undefined);
  }
}
