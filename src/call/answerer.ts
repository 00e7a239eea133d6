// The answering side of a test call: when the agent holds the callee's
// credentials (or runs the embedded demo peer), it answers the INVITE itself
// and streams audio back, so the caller→callee direction is measured at its
// real receiver.
import type { Logger } from '../log.js';
import type { AudioSource } from '../rtp/audio.js';
import type { AudioCodec } from '../rtp/codec.js';
import { PortAllocatorError, type PortPair, type PortSource } from '../rtp/ports.js';
import type { AudioSink, AudioTap } from '../rtp/receive-streams.js';
import { RtpSession } from '../rtp/session.js';
import { srtpPair, type SrtpReceiveCounters } from '../rtp/srtp-socket.js';
import type { Dialog } from '../sip/dialog.js';
import type { IncomingCall, UserAgent } from '../sip/ua.js';
import { answerReinvite } from './reinvite.js';
import { buildAnswer, isSdpError, parseMediaEndpoint } from './sdp.js';
import { answerSrtpOffer } from './srtp.js';
import type { SrtpMode } from '../config/srtp-keys.js';
import { CallContent } from './content.js';

export interface AnsweredCall {
  callId: string;
  /** The caller's From header. */
  from: string;
  session: RtpSession;
  dialog: Dialog;
  /** Epoch ms when the 200 OK was acknowledged and media started. */
  answeredAt: number;
  /** The SRTP receive counters when the call's media is SRTP; undefined for plain RTP. */
  srtp?: () => SrtpReceiveCounters;
  /** The callee's audio: marked signal sent, analysis of what it heard (undefined when analysis is off). */
  content?: CallContent;
}

export interface AnswererOptions {
  ua: UserAgent;
  /** A range of port pairs, or one pair shared by every call (rtp/shared-port.ts). */
  ports: PortSource;
  /** Address written into our SDP (c=): where the caller must send RTP. */
  mediaAddress: string;
  codecs: readonly AudioCodec[];
  /** SRTP policy for offers (call/srtp.ts). Default off. */
  srtp?: SrtpMode;
  audio?: AudioSource;
  /**
   * Echo: every RTP packet received is sent straight back with our SSRC (the
   * caller hears its own audio after one round trip); nothing else is sent.
   */
  echo?: boolean;
  /** Decoded-audio tap for every answered call's session (undefined: nothing decoded). */
  audioTap?: AudioTap | undefined;
  /**
   * Audio content analysis (default off: only where someone reads the report, the call
   * probe's own callee, the demo peer and `probe answer`): send the marked test signal (or
   * `audio` unchanged) and decode what arrives. `expectCallerMarkers`: the caller is this
   * agent too. A scenario's far end leaves it off; its listening steps bring their own
   * `audioTap`.
   */
  content?: { enabled: boolean; expectCallerMarkers?: boolean; durationMs?: number };
  /** Delay between 180 Ringing and 200 OK (ms). Default 0: answer at once. */
  ringMs?: number;
  /** Never answer (rings until CANCEL): for ring-timeout tests and demos. */
  neverAnswer?: boolean;
  /** Called once per call when it is established (after the ACK). */
  onAnswered?: (call: AnsweredCall) => void;
  logger?: Logger;
}

/** Retry-After (s) on the 503 when every RTP port pair is in use. */
export const PORTS_BUSY_RETRY_AFTER_S = 5;
/** How many ended calls get() still knows (a long-running answerer must not grow). */
const REMEMBER_ENDED_CALLS = 32;

/**
 * Answers every INVITE the UA receives: 100 (by the transaction layer), 180,
 * then 200 with an SDP answer for the first offered codec we support; media
 * starts once the ACK arrives; re-INVITEs are answered per RFC 3264. A BYE (either way) ends the call and releases
 * its RTP ports (its figures stay readable on the session). With every port
 * pair in use the INVITE gets 503 with Retry-After instead of ringing.
 */
export class Answerer {
  private readonly calls = new Map<string, AnsweredCall>();
  private readonly waiters = new Map<string, (call: AnsweredCall) => void>();
  private readonly sessions = new Set<RtpSession>();
  /** Call-IDs of ended calls, oldest first. */
  private readonly ended: string[] = [];
  private closed = false;

  constructor(private readonly opts: AnswererOptions) {
    opts.ua.onInvite((incoming) => {
      void this.answer(incoming).catch((err: unknown) => {
        opts.logger?.warn({ err }, 'answering an incoming call failed');
      });
    });
  }

  /** Whether answered calls send the marked test signal (analysis on, no recording, no echo). */
  get marksAudio(): boolean {
    return this.opts.content?.enabled === true && !this.opts.audio && !this.opts.echo;
  }

  /** The answered call with this Call-ID, once it is established. */
  waitFor(callId: string): Promise<AnsweredCall> {
    const known = this.calls.get(callId);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => this.waiters.set(callId, resolve));
  }

  get(callId: string): AnsweredCall | undefined {
    return this.calls.get(callId);
  }

  private async answer(incoming: IncomingCall): Promise<void> {
    if (this.closed) {
      incoming.reject(503, 'Service Unavailable');
      return;
    }
    const offer = incoming.remoteSdp ? parseMediaEndpoint(incoming.remoteSdp, this.opts.codecs) : undefined;
    if (!offer || isSdpError(offer)) {
      incoming.reject(488, 'Not Acceptable Here');
      this.opts.logger?.warn({ reason: offer?.message ?? 'no SDP offer' }, 'rejected incoming INVITE');
      return;
    }
    const security = answerSrtpOffer(this.opts.srtp ?? 'off', offer);
    if (!security.ok) {
      incoming.reject(488, 'Not Acceptable Here');
      this.opts.logger?.warn({ reason: security.message }, 'rejected incoming INVITE');
      return;
    }
    if (this.opts.neverAnswer) {
      incoming.progress(180);
      return;
    }
    const plainPorts = await this.allocate(incoming);
    if (!plainPorts) return;
    const protectedPorts = security.keys ? srtpPair(plainPorts, security.keys) : undefined;
    const ports = protectedPorts?.pair ?? plainPorts;
    incoming.progress(180);
    if (this.opts.ringMs) {
      let timer: NodeJS.Timeout | undefined;
      const cancelled = await Promise.race([
        new Promise<false>((r) => (timer = setTimeout(() => r(false), this.opts.ringMs))),
        incoming.cancelled.then(() => true),
      ]);
      clearTimeout(timer);
      if (cancelled || this.closed) {
        await ports.release();
        return;
      }
    }
    const c = this.opts.content ?? { enabled: false };
    const content = c.enabled
      ? new CallContent({
          callId: incoming.callId,
          role: 'callee',
          expectPeerMarkers: c.expectCallerMarkers ?? false,
          ...(c.durationMs !== undefined ? { durationMs: c.durationMs } : {}),
          ...(this.opts.audio ? { audio: this.opts.audio } : {}),
        })
      : undefined;
    const onFrameSent = content?.onFrameSent;
    const audioTap = bothTaps(content?.tap, this.opts.audioTap);
    const session = new RtpSession({
      ports,
      codec: offer.codec ?? 'PCMU',
      ...(offer.payloadType !== undefined ? { payloadType: offer.payloadType } : {}),
      ptimeMs: offer.ptimeMs,
      remote: { address: offer.address, port: offer.port },
      ...(offer.telephoneEventPt !== undefined ? { telephoneEventPt: offer.telephoneEventPt } : {}),
      ...(content ? { audio: content.source } : this.opts.audio ? { audio: this.opts.audio } : {}),
      ...(this.opts.echo ? { reflect: true } : {}),
      ...(audioTap ? { audioTap } : {}),
      ...(onFrameSent ? { onFrameSent } : {}),
    });
    this.sessions.add(session);
    const answerSdp = buildAnswer(this.opts.mediaAddress, ports.rtpPort, offer, 'sendrecv', security.security);
    let dialog: Dialog;
    try {
      dialog = await incoming.accept(answerSdp);
    } catch (err) {
      await session.close();
      this.sessions.delete(session);
      throw err;
    }
    session.start();
    // Hold, unhold, a moved far end, a session refresh: RFC 3264 (reinvite.ts), not our first SDP again.
    dialog.on('reinvite', (req) => answerReinvite(dialog, session, req, () => !this.closed && !dialog.ended));
    // Ended calls give their ports back at once (a long-running `probe answer`
    // would otherwise run out); listeners added later still read the figures.
    dialog.on('ended', () => {
      session.stop();
      this.sessions.delete(session);
      void session.close();
      this.forgetOldCalls(incoming.callId);
    });
    const call: AnsweredCall = {
      callId: incoming.callId,
      from: incoming.request.headers.get('from') ?? '',
      session,
      dialog,
      answeredAt: Date.now(),
      ...(protectedPorts ? { srtp: protectedPorts.counters } : {}),
      ...(content ? { content } : {}),
    };
    this.calls.set(incoming.callId, call);
    this.opts.onAnswered?.(call);
    this.waiters.get(incoming.callId)?.(call);
    this.waiters.delete(incoming.callId);
  }

  /** Ended calls stay readable through get() for a while; the oldest are dropped. */
  private forgetOldCalls(endedCallId: string): void {
    this.ended.push(endedCallId);
    while (this.ended.length > REMEMBER_ENDED_CALLS) {
      const old = this.ended.shift();
      if (old !== undefined) this.calls.delete(old);
    }
  }

  /** A port pair for the call, or undefined after answering 503 (range exhausted) or 500. */
  private async allocate(incoming: IncomingCall): Promise<PortPair | undefined> {
    try {
      return await this.opts.ports.allocate();
    } catch (err) {
      if (err instanceof PortAllocatorError && err.code === 'E_PORTS_EXHAUSTED') {
        incoming.reject(503, 'Service Unavailable', [['Retry-After', String(PORTS_BUSY_RETRY_AFTER_S)]]);
        this.opts.logger?.warn({ in_use: this.opts.ports.allocated, capacity: this.opts.ports.capacity }, 'every RTP port pair is in use: answered 503');
        return undefined;
      }
      incoming.reject(500, 'Server Internal Error');
      throw err;
    }
  }

  /** Releases every media session. Idempotent; the UA is closed by its owner. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions].map((s) => s.close()));
    this.sessions.clear();
    this.calls.clear();
    this.waiters.clear();
  }
}

/** One tap feeding two (the content analysis and a caller-supplied tap, e.g. scenario prompts). */
function bothTaps(a: AudioTap | undefined, b: AudioTap | undefined): AudioTap | undefined {
  if (!a || !b) return a ?? b;
  return (stream) => {
    const sinks = [a(stream), b(stream)].filter((s): s is AudioSink => s !== undefined);
    if (sinks.length <= 1) return sinks[0];
    return { onFrame: (pcm, rate, ts, arrival) => sinks.forEach((s) => s.onFrame(pcm, rate, ts, arrival)) };
  };
}
