// The call probe: REGISTER both ends (when we hold both), INVITE with a G.711
// offer, answer on the callee side ourselves, stream audio both ways for the
// call's duration, BYE, and report per direction what the receiver measured:
// RFC 3550 loss/jitter and the G.107 MOS. A failed call reports every phase it
// reached and names the one that broke.
import { defaultAudioSource, encodedFrames, type AudioSource } from '../../rtp/audio.js';
import type { AudioCodec } from '../../rtp/codec.js';
import { PortAllocator, type PortPair } from '../../rtp/ports.js';
import { recordedPair } from '../../rtp/record.js';
import { RtpSession } from '../../rtp/session.js';
import { srtpPair, type SrtpPortPair } from '../../rtp/srtp-socket.js';
import { udpBackend } from '../../rtp/udp.js';
import type { Dialog } from '../../sip/dialog.js';
import type { SipResponse } from '../../sip/message.js';
import { UserAgent, UaError, type CallOutcome, type FailurePhase, type UaFailure } from '../../sip/ua.js';
import type { ProbeContext } from '../context.js';
import type { Failure, Phase, ProbeResult } from '../result.js';
import { Answerer, type AnsweredCall } from '../../call/answerer.js';
import { answerReinvite } from '../../call/reinvite.js';
import { buildOffer, isSdpError, parseMediaEndpoint } from '../../call/sdp.js';
import { DEFAULT_MEDIA_TIMEOUT_MS, mediaTimeoutFailure } from '../../call/media-timeout.js';
import { dialTarget } from '../../call/dial-target.js';
import { endMeasuredMedia, sentBy } from '../../call/media-end.js';
import { directionSrtp, fromReceiver, fromRemoteReport, type DirectionResult } from '../../call/media-report.js';
import { acceptSrtpAnswer, srtpOffer } from '../../call/srtp.js';
import type { SrtpMode } from '../../config/srtp-keys.js';
import type { SrtpSuite } from '../../rtp/srtp.js';
import { audioFailures, CallContent, oneWayByContent } from '../../call/content.js';
import { round } from '../../round.js';
import type { NetworkSettings } from '../../config/network.js';

export type { DirectionResult } from '../../call/media-report.js';

export interface CallAccount {
  user: string;
  password?: string;
  authUser?: string;
  /** AOR domain (default: the server's host). */
  domain?: string;
  /** This account's own next hop (its registrar, a trunk's carrier); default: the spec's server. */
  server?: string;
  transport?: 'udp' | 'tcp' | 'tls';
}

export interface CallSpec {
  /** Caller account (password omitted for --direct calls to a UA that does not challenge). */
  from: CallAccount;
  /** Dialled number, extension or SIP URI. */
  to: string;
  /** Callee account when the agent holds its credentials: then we answer ourselves. */
  callee?: CallAccount;
  /** Registrar/proxy, e.g. "sip:127.0.0.1:5060". Not used with `direct`. */
  server?: string;
  /** Call this SIP URI peer-to-peer, without a registrar. */
  direct?: string;
  /** An answerer already listening at `direct` (the embedded demo peer): measures its side too. */
  directAnswerer?: Answerer;
  transport?: 'udp' | 'tcp' | 'tls';
  tls?: { insecure?: boolean; ca?: string; servername?: string };
  /** Local address for SIP and RTP sockets; default: the route's source address towards the server. */
  localAddress?: string;
  durationMs: number;
  ringTimeoutMs: number;
  /** Offer order. */
  codecs: readonly AudioCodec[];
  /** SDES-SRTP (call/srtp.ts); default off. The agent's own answering side follows it too. */
  srtp?: SrtpMode;
  ptimeMs?: number;
  audio?: AudioSource;
  rtpPortMin?: number;
  rtpPortMax?: number;
  /** SIP transaction timeout (Timer B/F). */
  sipTimeoutMs?: number;
  /** SIP T1 (RFC 3261 §17.1.1.1; default 500 ms). */
  t1Ms?: number;
  /** NAT addresses and DSCP marks (config sip/rtp.external_ip, qos); defaults: local addresses, EF/CS3. */
  network?: Partial<NetworkSettings>;
  /**
   * A receive direction silent this long during the media phase (no RTP
   * within it of answer, a pause, or a stream that stopped before the BYE)
   * fails the call: `one_way_audio` / `rtp_timeout`. Default 2000.
   */
  mediaTimeoutMs?: number;
  /**
   * Audio content analysis (default true): the built-in signal carries per-call markers and
   * each receiver decodes what it hears (docs/quality.md). false: nothing is decoded.
   */
  audioAnalysis?: boolean;
  /** Active speech level below which a direction is `audio_silent` (default -45 dBov). */
  audioLevelMinDbov?: number;
  /** The far end reflects our audio on purpose: our own markers back are expected, not a loop. */
  expectEcho?: boolean;
  onProgress?(p: CallProgress): void;
}

export interface CallProgress {
  phase: 'register' | 'invite' | 'ringing' | 'media' | 'bye' | 'done';
  elapsed_ms: number;
  /** During media: the caller's receive side and what it sent. */
  packets_sent?: number;
  packets_received?: number;
  loss_percent?: number;
  jitter_ms?: number;
}

export interface CallResult extends ProbeResult {
  probe: 'call';
  from: string;
  to: string;
  target: string;
  sip: {
    final_status: number | null;
    reason: string;
    call_id: string | null;
    timings_ms: { register?: number; pdd?: number; answer?: number; setup?: number; bye?: number };
  };
  media: {
    codec: AudioCodec | null;
    duration_s: number;
    rtt_ms: number | null;
    /**
     * Where packet arrival times (and so jitter) come from: `kernel` (SO_TIMESTAMPNS
     * via the udpio addon, what tshark sees) or `event_loop` (node:dgram fallback,
     * reads up to ~0.2 ms of jitter high on a busy host).
     */
    arrival_timestamps: 'kernel' | 'event_loop';
    directions: DirectionResult[];
    /** Only with media.srtp optional/required: the suite our leg agreed on (null: plain RTP). */
    srtp?: { mode: SrtpMode; key_exchange: 'sdes'; suite: SrtpSuite | null };
  } | null;
  interrupted?: boolean;
}

/** Undefined: the UA takes the transport from the server URI (`;transport=`, sips: → tls, else udp). */
function transportOption(t: 'udp' | 'tcp' | 'tls' | undefined): { transport?: 'udp' | 'tcp' | 'tls' } {
  return t !== undefined ? { transport: t } : {};
}

/** The UA layer's failure phases mapped onto the probe's phases. */
function phaseOf(p: FailurePhase, during: Phase): Phase {
  return p === 'dns' || p === 'connect' || p === 'tls' ? p : during;
}

function uaFailure(check: string, f: UaFailure, during: Phase, status?: number): Failure {
  return { check, phase: phaseOf(f.phase, during), message: f.message, ...(status !== undefined ? { actual: status } : {}) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * After an abort (signal, runner timeout) a hang-up attempt (CANCEL, BYE, un-REGISTER)
 * gets this long before the probe gives up on it and closes the user agents: the
 * first SIGTERM ends the process within a few seconds even when the PBX is dead.
 */
export const ABORT_GRACE_MS = 1500;

/** `p`, or undefined once ABORT_GRACE_MS have passed since `signal` aborted (before or during the wait). */
function withinAbortGrace<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      timer = setTimeout(() => resolve(undefined), ABORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    void p.then(
      (v) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(undefined);
      },
    );
  });
}

/** Places one test call and measures it. Never throws for network trouble: failures are in the result. */
export async function probeCall(ctx: ProbeContext, spec: CallSpec): Promise<CallResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const progress = (p: Omit<CallProgress, 'elapsed_ms'>): void => spec.onProgress?.({ ...p, elapsed_ms: elapsed() });
  const server = spec.direct ?? spec.server;
  if (!server) throw new Error('call spec needs a server or a direct URI');
  const callerHop = spec.direct ?? spec.from.server ?? server;
  const result: CallResult = {
    probe: 'call',
    success: false,
    from: spec.from.user,
    to: spec.to,
    target: `${callerHop}${callerHop.includes('transport=') ? '' : `;transport=${(spec.from.server !== undefined ? spec.from.transport : spec.transport) ?? (/^sips:/i.test(callerHop) ? 'tls' : 'udp')}`}`,
    sip: { final_status: null, reason: '', call_id: null, timings_ms: {} },
    media: null,
    failures: [],
  };
  const uas: UserAgent[] = [];
  const sessions: RtpSession[] = [];
  let answerer: Answerer | undefined;
  let registered: UserAgent[] = [];
  let releaseCallerPorts: () => Promise<void> = () => Promise.resolve();
  const fail = (f: Failure): CallResult => {
    result.failures.push(f);
    return result;
  };
  /**
   * Removes our bindings (no stale bindings on the PBX), every UA at once and bounded
   * after an abort; a failed un-REGISTER is reported. Runs once: alongside the BYE
   * (a dead PBX costs one Timer F, not one per request) or from `finally`.
   */
  let unregistering: Promise<void> | undefined;
  const unregisterAll = (): Promise<void> => {
    unregistering ??= Promise.all(
      registered.map(async (ua) => {
        const r = await withinAbortGrace(ua.unregister(), ctx.signal);
        if (r === undefined) return; // aborted: closing the UA ends it
        if (!r.ok) {
          result.failures.push({
            check: 'unregister',
            phase: 'bye',
            message: `un-REGISTER ${ua.user}: ${r.failure?.message ?? `${r.status ?? ''} ${r.reason}`.trim()}`,
            ...(r.status !== undefined ? { actual: r.status } : {}),
          });
        }
      }),
    ).then(() => undefined);
    return unregistering;
  };

  const makeUa = async (account: CallAccount): Promise<UserAgent> => {
    const ua = await UserAgent.create({
      server: account.server ?? server,
      ...transportOption(account.server !== undefined ? account.transport : spec.transport),
      user: account.user,
      ...(account.domain !== undefined ? { domain: account.domain } : {}),
      ...(account.password !== undefined ? { password: account.password } : {}),
      ...(account.authUser !== undefined ? { authUser: account.authUser } : {}),
      ...(spec.localAddress !== undefined ? { localAddress: spec.localAddress } : {}),
      ...(spec.tls ? { tls: spec.tls } : {}),
      ...(spec.sipTimeoutMs !== undefined ? { timeoutMs: spec.sipTimeoutMs } : {}),
      ...(spec.t1Ms !== undefined ? { t1Ms: spec.t1Ms } : {}),
      ...(spec.network?.sipExternalIp !== undefined ? { externalAddress: spec.network.sipExternalIp } : {}),
      ...(spec.network?.sipDscp !== undefined ? { dscp: spec.network.sipDscp } : {}),
      logger: ctx.logger,
      ...(ctx.recorder ? { recorder: ctx.recorder } : {}),
    });
    uas.push(ua);
    return ua;
  };

  /**
   * REGISTERs one of the call's UAs (callee first, then caller); the register
   * timing is the slower of the two. Registered, it is unregistered at the end;
   * refused, the failure is returned for the caller to end the probe with.
   */
  const registerUa = async (ua: UserAgent): Promise<Failure | undefined> => {
    const reg = await ua.register({ expires: 120 });
    result.sip.timings_ms.register = round(Math.max(result.sip.timings_ms.register ?? 0, reg.timings.request_ms ?? 0));
    if (reg.ok) {
      registered.push(ua);
      return undefined;
    }
    return {
      check: 'register',
      phase: reg.failure ? phaseOf(reg.failure.phase, 'register') : 'register',
      message: `REGISTER ${ua.user}: ${reg.failure?.message ?? `${reg.status} ${reg.reason}`}`,
      ...(reg.status !== undefined ? { actual: reg.status } : {}),
    };
  };

  const srtpMode = spec.srtp ?? 'off';
  try {
    // ---- register ----
    progress({ phase: 'register' });
    let callerUa: UserAgent;
    try {
      callerUa = await makeUa(spec.from);
    } catch (err) {
      if (err instanceof UaError) return fail({ check: 'sip_setup', phase: phaseOf(err.phase, 'register'), message: err.message });
      throw err;
    }
    const mediaAddress = spec.localAddress ?? (await callerUa.transport.localAddressFor(callerUa.serverDest.host));
    // What our SDP names (c=, o=): the public address behind a NAT, else where we listen.
    const sdpAddress = spec.network?.rtpExternalIp ?? mediaAddress;
    const recorder = ctx.recorder;
    const ports = new PortAllocator({
      min: spec.rtpPortMin ?? 16000,
      max: spec.rtpPortMax ?? 16999,
      address: mediaAddress,
      ...(spec.network?.rtpDscp !== undefined ? { dscp: spec.network.rtpDscp } : {}),
      logger: ctx.logger,
      ...(recorder ? { wrap: (pair: PortPair) => recordedPair(pair, recorder) } : {}),
    });

    if (spec.callee && !spec.direct) {
      const calleeUa = await makeUa(spec.callee);
      const refused = await registerUa(calleeUa);
      if (refused) return fail(refused);
      answerer = new Answerer({
        ua: calleeUa,
        ports,
        mediaAddress: sdpAddress,
        codecs: spec.codecs,
        srtp: srtpMode,
        ...(spec.audio ? { audio: spec.audio } : {}),
        content: { enabled: spec.audioAnalysis !== false, expectCallerMarkers: !spec.audio, durationMs: spec.durationMs },
        logger: ctx.logger,
      });
    } else if (spec.directAnswerer) {
      answerer = spec.directAnswerer;
    }
    if (!spec.direct && spec.from.password !== undefined) {
      const refused = await registerUa(callerUa);
      if (refused) return fail(refused);
    }
    if (ctx.signal.aborted) return interrupted(result, 'register');

    // ---- invite ----
    // The session is created once the answer names the codec; the ports are
    // bound now so the offer can name them (and nothing else can take them).
    const callerPorts = await ports.allocate();
    const security = srtpOffer(srtpMode);
    const offer = buildOffer(sdpAddress, callerPorts.rtpPort, spec.codecs, spec.ptimeMs ?? 20, 'sendrecv', security);
    // Parse our own offer once before the INVITE: the first SDP parse compiles
    // sdp-transform's grammar (several ms, more on a busy host), and when we
    // answer ourselves that cost would otherwise land inside the measured PDD.
    parseMediaEndpoint(offer, spec.codecs);
    // Likewise encode the audio for every offered codec now (cached per source
    // and codec): when we answer ourselves, doing it after the 180 would block
    // the event loop while the caller's 180 waits, inflating the PDD. With content
    // analysis on, the caller sends its marked signal instead, but this still warms
    // the encoder the answer's marked signal goes through (demo PDD median 57 ms
    // with it, 132 without, 8 runs; cheap since G.711 encodes through tables).
    for (const codec of spec.codecs) encodedFrames(spec.audio ?? defaultAudioSource(), codec, (8000 * (spec.ptimeMs ?? 20)) / 1000);
    let callerPortsOwned = true;
    releaseCallerPorts = () => (callerPortsOwned ? callerPorts.release() : Promise.resolve());
    progress({ phase: 'invite' });
    const inviteAt = performance.now();
    // The UA CANCELs after the ring timeout (any 1xx counts as ringing) and gives the
    // INVITE up 64·T1 after a CANCEL that got no final response (RFC 3261 §9.1).
    const call = callerUa.invite(spec.direct ?? dialTarget(spec.to, callerUa), {
      sdp: offer,
      ringTimeoutMs: spec.ringTimeoutMs,
      onProvisional: (res: SipResponse) => {
        if (res.status === 180 || res.status === 183) progress({ phase: 'ringing' });
      },
    });
    result.sip.call_id = call.callId;
    const onAbort = (): void => call.cancel();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let outcome: CallOutcome | undefined;
    try {
      // CANCEL sent on abort; a far end that never ends the transaction is left to ua.close().
      outcome = await withinAbortGrace(call.outcome, ctx.signal);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    if (!outcome) return interrupted(result, 'invite');
    result.sip.final_status = outcome.status ?? null;
    result.sip.reason = outcome.reason;
    if (outcome.timings.pdd_ms !== undefined) result.sip.timings_ms.pdd = round(outcome.timings.pdd_ms);
    if (outcome.timings.answer_ms !== undefined) result.sip.timings_ms.answer = round(outcome.timings.answer_ms);
    if (!outcome.ok || !outcome.dialog) {
      if (ctx.signal.aborted) return interrupted(result, 'invite');
      // Not aborted: only the ring timeout cancels.
      if (outcome.cancelled) {
        const got = outcome.status !== undefined ? `sent CANCEL, got ${outcome.status} ${outcome.reason}` : outcome.reason;
        return fail({
          check: 'ring_timeout',
          phase: 'invite',
          expected: 'answer',
          actual: outcome.status ?? null,
          message: `no answer within ${spec.ringTimeoutMs} ms: ${got}`,
        });
      }
      if (outcome.failure) {
        const f = uaFailure('invite', outcome.failure, 'invite', outcome.status);
        // RFC 3261 §21.4.26 / §21.6.4: the offer was refused for its media (codecs).
        if (outcome.status === 488 || outcome.status === 606) f.message = `${f.message}: the far end accepts none of the offered codecs (${spec.codecs.join(', ')})`;
        return fail(f);
      }
      return fail({ check: 'invite', phase: 'invite', expected: 200, actual: outcome.status ?? null, message: `INVITE ${spec.to}: ${outcome.status ?? ''} ${outcome.reason}`.trim() });
    }
    const dialog: Dialog = outcome.dialog;
    result.sip.timings_ms.setup = round(performance.now() - inviteAt);
    const answer = outcome.remoteSdp ? parseMediaEndpoint(outcome.remoteSdp, spec.codecs) : undefined;
    if (!answer || isSdpError(answer)) {
      // The call was answered but no media can flow: a media failure. Hang up first.
      await withinAbortGrace(dialog.bye(), ctx.signal);
      return fail({ check: 'sdp', phase: 'media', message: `answer SDP: ${answer?.message ?? 'the 200 OK carried no SDP'}` });
    }
    const negotiated = acceptSrtpAnswer(srtpMode, security, answer);
    if (!negotiated.ok) {
      await withinAbortGrace(dialog.bye(), ctx.signal);
      return fail({ check: 'srtp', phase: 'media', message: negotiated.message });
    }
    const srtp: SrtpPortPair | undefined = negotiated.keys ? srtpPair(callerPorts, negotiated.keys) : undefined;
    const codec = answer.codec ?? 'PCMU';
    const content =
      spec.audioAnalysis !== false
        ? new CallContent({
            callId: call.callId,
            role: 'caller',
            durationMs: spec.durationMs,
            // our own answerer's markers are due when it sends them (analysis on, no recording)
            expectPeerMarkers: answerer?.marksAudio === true,
            ...(spec.expectEcho ? { peerEchoes: true } : {}),
            ...(spec.audio ? { audio: spec.audio } : {}),
          })
        : undefined;
    const onFrameSent = content?.onFrameSent;
    const session = new RtpSession({
      ports: srtp?.pair ?? callerPorts,
      codec,
      ...(answer.payloadType !== undefined ? { payloadType: answer.payloadType } : {}),
      ...(answer.telephoneEventPt !== undefined ? { telephoneEventPt: answer.telephoneEventPt } : {}),
      ptimeMs: spec.ptimeMs ?? 20,
      ...(content ? { audio: content.source, audioTap: content.tap } : spec.audio ? { audio: spec.audio } : {}),
      ...(onFrameSent ? { onFrameSent } : {}),
    });
    callerPortsOwned = false;
    sessions.push(session);
    session.setRemote({ address: answer.address, port: answer.port });
    session.start();
    // Monotonic: a wall-clock step (NTP) must not stretch or cut the call.
    const answeredAt = performance.now();
    let far: AnsweredCall | undefined;
    if (answerer) far = await Promise.race([answerer.waitFor(call.callId), sleep(2000, ctx.signal).then(() => undefined)]);
    if (far) sessions.push(far.session);

    // ---- media ----
    // A far-end re-INVITE (session refresh, hold, unhold, new address) is answered per
    // RFC 3264 and applied to our sender (call/reinvite.ts); after the media phase we stay stopped.
    dialog.on('reinvite', (req) => answerReinvite(dialog, session, req, () => !mediaOver));
    let mediaOver = false;
    let remoteHungUp = false;
    dialog.on('ended', ({ by }) => {
      if (by === 'remote') remoteHungUp = true;
    });
    const oneWayMs = spec.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    const mediaEnd = answeredAt + spec.durationMs;
    const [callerGot, calleeGot] = await Promise.all([
      session.waitForRtp(oneWayMs),
      far ? far.session.waitForRtp(oneWayMs) : Promise.resolve(true),
    ]);
    if (!callerGot) result.failures.push({ check: 'one_way_audio', phase: 'media', message: `no RTP callee→caller within ${oneWayMs} ms of answer` });
    if (!calleeGot) result.failures.push({ check: 'one_way_audio', phase: 'media', message: `no RTP caller→callee within ${oneWayMs} ms of answer` });
    if (callerGot && calleeGot) {
      const ticker = setInterval(() => {
        const s = session.stats();
        progress({ phase: 'media', packets_sent: s.packets_sent, packets_received: s.packets_received, loss_percent: s.loss_percent, jitter_ms: s.jitter_ms });
      }, 1000);
      try {
        while (!ctx.signal.aborted && !remoteHungUp && performance.now() < mediaEnd) {
          await sleep(Math.min(250, mediaEnd - performance.now()), ctx.signal);
        }
      } finally {
        clearInterval(ticker);
      }
    }
    const mediaS = (performance.now() - answeredAt) / 1000;
    // Stop both senders, then give packets in flight a moment before counting.
    mediaOver = true;
    await endMeasuredMedia(session, far?.session);
    // Loss over the whole media phase: the packets due until we stopped, and
    // at least what the other end (when it is ours) says it sent.
    // What each receiver heard; a marker delay (one clock) is the E-model's Ta for its direction.
    const heardByCaller = content?.report(far?.content?.signal, spec.audioLevelMinDbov) ?? undefined;
    const heardByCallee = content ? (far?.content?.report(content.signal, spec.audioLevelMinDbov) ?? undefined) : undefined;
    const taOf = (a: typeof heardByCaller): { delayMs?: number } => (a?.audio_delay_ms != null ? { delayMs: a.audio_delay_ms } : {});
    const callerStats = session.stats({ phase: sentBy(far?.session), ...taOf(heardByCaller) });
    const calleeStats = far?.session.stats({ phase: sentBy(session), ...taOf(heardByCallee) });
    const delayMs = callerStats.rtt_ms !== null ? callerStats.rtt_ms / 2 : 0;
    result.media = {
      codec,
      duration_s: round(mediaS, 2),
      rtt_ms: callerStats.rtt_ms,
      arrival_timestamps: udpBackend().name === 'udpio' ? 'kernel' : 'event_loop',
      directions: [
        calleeStats
          ? fromReceiver('caller_to_callee', callerStats.packets_sent, calleeStats, far?.session.localPort ?? 0)
          : fromRemoteReport('caller_to_callee', codec, callerStats, delayMs, session.localPort),
        fromReceiver('callee_to_caller', calleeStats?.packets_sent ?? callerStats.packets_received, callerStats, session.localPort),
      ],
    };
    if (srtpMode !== 'off') {
      result.media.srtp = { mode: srtpMode, key_exchange: 'sdes', suite: negotiated.keys?.suite ?? null };
      const [there, back] = result.media.directions;
      if (there && far) there.srtp = directionSrtp(far.srtp?.());
      if (back) back.srtp = directionSrtp(srtp?.counters());
    }
    const [toCallee, toCaller] = result.media.directions;
    if (toCallee && heardByCallee && calleeStats) toCallee.audio = heardByCallee;
    if (toCaller && heardByCaller) toCaller.audio = heardByCaller;
    result.failures.push(
      ...audioFailures('caller_to_callee', toCallee?.audio, spec.audioLevelMinDbov),
      ...audioFailures('callee_to_caller', toCaller?.audio, spec.audioLevelMinDbov),
      ...oneWayByContent({ caller_to_callee: toCallee?.audio, callee_to_caller: toCaller?.audio }),
    );
    if (!calleeStats) {
      // Without the far end's own count, what it sent is unknown: we only know what arrived.
      const back = result.media.directions[1];
      if (back) back.packets_sent = null;
    }
    // A receiver that went silent for longer than the media timeout (the
    // one-way checks above already cover "nothing within it of answer").
    if (callerGot && calleeGot) {
      const timeouts = [
        calleeStats ? mediaTimeoutFailure('caller_to_callee', calleeStats, oneWayMs) : undefined,
        mediaTimeoutFailure('callee_to_caller', callerStats, oneWayMs),
      ];
      for (const f of timeouts) if (f) result.failures.push(f);
    }

    // ---- bye ----
    if (remoteHungUp) {
      result.failures.push({
        check: 'bye',
        phase: 'media',
        expected: spec.durationMs / 1000,
        actual: round(mediaS, 1),
        message: `the far end hung up after ${round(mediaS, 1)} s (BYE received; the call was to last ${spec.durationMs / 1000} s)`,
      });
      await unregisterAll();
    } else {
      progress({ phase: 'bye' });
      const byeAt = performance.now();
      const [bye] = await Promise.all([withinAbortGrace(dialog.bye(), ctx.signal), unregisterAll()]);
      result.sip.timings_ms.bye = round(performance.now() - byeAt);
      if (!bye) {
        result.failures.push({ check: 'bye', phase: 'bye', message: `BYE: no answer within ${ABORT_GRACE_MS} ms of the interrupt; gave up` });
      } else if (!bye.ok) {
        result.failures.push({
          check: 'bye',
          phase: 'bye',
          message: `BYE: ${bye.response ? `${bye.response.status} ` : ''}${bye.reason}`,
          ...(bye.response ? { actual: bye.response.status } : {}),
        });
      }
    }
    if (ctx.signal.aborted) return interrupted(result, 'media');
    // Thresholds (MOS, loss, jitter, PDD) are the runner's business: one place for every kind.
    result.success = result.failures.length === 0;
    progress({ phase: 'done' });
    return result;
  } finally {
    // Unregister what we registered (no stale bindings on the PBX), then release everything.
    await unregisterAll();
    registered = [];
    if (answerer && answerer !== spec.directAnswerer) await answerer.close();
    await Promise.all(sessions.map((s) => s.close()));
    await releaseCallerPorts();
    for (const ua of uas) ua.close();
    result.duration_s = round((performance.now() - started) / 1000, 3);
  }
}

function interrupted(result: CallResult, phase: Phase): CallResult {
  result.interrupted = true;
  result.success = false;
  result.failures.push({ check: 'interrupted', phase, message: 'interrupted by signal: hung up' });
  return result;
}
