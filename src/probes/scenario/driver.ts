// What each scenario step does on the wire: SIP through the UA facade, media
// through RtpSession, the answering side through the call probe's Answerer.
// One ScenarioDriver per run; close() hangs up whatever is still up,
// unregisters what it registered and releases every socket and port.
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Answerer } from '../../call/answerer.js';
import { DEFAULT_MEDIA_TIMEOUT_MS, mediaTimeoutFailure } from '../../call/media-timeout.js';
import { dialTarget } from '../../call/dial-target.js';
import { accountEndpoint } from '../../config/accounts.js';
import { acceptSrtpAnswer, srtpOffer } from '../../call/srtp.js';
import { srtpPair } from '../../rtp/srtp-socket.js';
import { snapshotCallMedia } from './media-snapshot.js';
import { buildOffer, isSdpError, parseMediaEndpoint } from '../../call/sdp.js';
import type { Phase } from '../result.js';
import type { AudioSource } from '../../rtp/audio.js';
import type { AudioCodec } from '../../rtp/codec.js';
import { PortAllocator, type PortPair } from '../../rtp/ports.js';
import { recordedPair } from '../../rtp/record.js';
import { RtpSession } from '../../rtp/session.js';
import { round } from '../../round.js';
import type { Dialog } from '../../sip/dialog.js';
import { UserAgent, type CallOutcome } from '../../sip/ua.js';
import { sleep, StepFailure, untilAborted, type StepDone, type StepDriver } from './executor.js';
import type { ActiveCall, DriverOptions, ScenarioCall } from './driver-types.js';
import { listensToAudio, PromptSteps, type ListenStep } from './prompt-steps.js';
import { describeStep, type Step, type StepKind, type StepOf } from './schema.js';

export type { DriverOptions, ScenarioAccount, ScenarioCall, ScenarioTarget } from './driver-types.js';

type StepResultOf = Promise<string | StepDone | undefined>;

/**
 * What a step of one kind is to the driver: the phase its time-outs and unexpected
 * errors are charged to, its time limit (`base`: the scenario's step_timeout,
 * the default) and what it does. One entry per kind (ScenarioDriver.STEPS).
 */
interface StepHandler<S> {
  phase: Phase;
  timeoutMs?: (d: ScenarioDriver, step: S, base: number) => number;
  run: (d: ScenarioDriver, step: S, signal: AbortSignal) => StepResultOf;
}


/** How long the far end may keep sending after a hold answer before it counts (packets in flight). */
const HOLD_SETTLE_MS = 300;
const HOLD_WINDOW_MS = 700;

export class ScenarioDriver implements StepDriver<Step> {
  private readonly uas = new Map<string, UserAgent>();
  private readonly registered = new Set<UserAgent>();
  private readonly answerers = new Map<string, Answerer>();
  private allocator?: PortAllocator;
  private mediaAddress?: string;

  /** What our SDP names (c=, o=): the public address behind a NAT, else where we listen. */
  private get sdpAddress(): string {
    return this.opts.network?.rtpExternalIp ?? this.mediaAddress ?? '127.0.0.1';
  }
  private call?: ActiveCall;
  private closing?: Promise<void>;
  private readonly prompts: PromptSteps;

  constructor(private readonly opts: DriverOptions) {
    this.prompts = new PromptSteps({ baseDir: opts.baseDir, enabled: listensToAudio(opts.scenario.steps), readPcm: opts.readPcm });
  }

  // ---- StepDriver ----------------------------------------------------------

  label(step: Step): string {
    if (step.kind === 'call' && step.to === undefined) return describeStep({ ...step, to: this.opts.scenario.to });
    return describeStep(step);
  }

  kindOf(step: Step): string {
    return step.kind;
  }

  phaseOf(step: Step): Phase {
    return ScenarioDriver.handlerOf(step).phase;
  }

  timeoutMs(step: Step): number {
    const base = this.opts.scenario.step_timeout;
    return ScenarioDriver.handlerOf(step).timeoutMs?.(this, step, base) ?? base;
  }

  run(step: Step, _index: number, signal: AbortSignal): StepResultOf {
    return ScenarioDriver.handlerOf(step).run(this, step, signal);
  }

  /** record, expect_prompt, expect_echo: PromptSteps' work on the answered call's received audio. */
  private static readonly LISTEN_STEP: StepHandler<ListenStep> = {
    phase: 'media',
    timeoutMs: (d, step, base) => d.prompts.timeoutMs(step, base),
    run: (d, step, signal) => d.answered(signal).then(({ session }) => d.prompts.run(step, signal, session)),
  };

  /** What each step kind does (adding a kind: its schema in schema.ts and one entry here). */
  private static readonly STEPS: { readonly [K in StepKind]: StepHandler<StepOf<K>> } = {
    register: { phase: 'register', run: (d, step, signal) => d.register(step, signal) },
    call: { phase: 'invite', timeoutMs: (_d, step) => step.ring_timeout + 2000, run: (d, step, signal) => d.placeCall(step, signal) },
    expect: {
      phase: 'invite',
      timeoutMs: (d, _step, base) => (d.call?.ringTimeoutMs ?? base) + base,
      run: (d, step, signal) => d.expect(step, signal),
    },
    wait: { phase: 'media', timeoutMs: (_d, step) => step.ms + 1000, run: (d, step, signal) => d.wait(step, signal) },
    cancel_after: { phase: 'invite', timeoutMs: (_d, step, base) => step.ms + base, run: (d, step, signal) => d.cancelAfter(step, signal) },
    hold: {
      phase: 'invite',
      timeoutMs: (_d, _step, base) => base + HOLD_SETTLE_MS + HOLD_WINDOW_MS + 2000,
      run: (d, step, signal) => d.reinvite('sendonly', step.check_rtp, signal),
    },
    resume: {
      phase: 'invite',
      timeoutMs: (_d, _step, base) => base + HOLD_SETTLE_MS + HOLD_WINDOW_MS + 2000,
      run: (d, step, signal) => d.reinvite('sendrecv', step.check_rtp, signal),
    },
    send_dtmf: {
      phase: 'media',
      timeoutMs: (_d, step, base) => step.digits.length * (step.duration + step.pause + 100) + base,
      run: (d, step, signal) => d.sendDtmf(step, signal),
    },
    expect_dtmf: { phase: 'media', timeoutMs: (_d, step) => step.timeout + 1000, run: (d, step, signal) => d.expectDtmf(step, signal) },
    bye: { phase: 'bye', run: (d, step, signal) => d.bye(step, signal) },
    options: { phase: 'options', run: (d, step, signal) => d.options(step, signal) },
    record: ScenarioDriver.LISTEN_STEP,
    expect_prompt: ScenarioDriver.LISTEN_STEP,
    expect_echo: ScenarioDriver.LISTEN_STEP,
  };

  /** The handler of this step's kind (STEPS holds one per kind, so it takes this step). */
  private static handlerOf(step: Step): StepHandler<Step> {
    return ScenarioDriver.STEPS[step.kind] as StepHandler<Step>;
  }

  // ---- resources -----------------------------------------------------------

  private async uaFor(account: string): Promise<UserAgent> {
    const known = this.uas.get(account);
    if (known) return known;
    const creds = this.opts.accounts[account];
    if (creds === undefined) throw new StepFailure('config', `no credentials for account "${account}" in the config`);
    const explicit = this.opts.serverExplicit === true ? { server: this.opts.server, transport: this.opts.transport } : {};
    const hop = accountEndpoint(creds, explicit, { uri: this.opts.server, ...(this.opts.transport ? { transport: this.opts.transport } : {}) });
    const ua = await UserAgent.create({
      server: hop.server,
      ...(hop.transport !== undefined ? { transport: hop.transport } : {}),
      ...(hop.domain !== undefined ? { domain: hop.domain } : {}),
      ...(this.opts.network?.sipExternalIp !== undefined ? { externalAddress: this.opts.network.sipExternalIp } : {}),
      ...(this.opts.network?.sipDscp !== undefined ? { dscp: this.opts.network.sipDscp } : {}),
      user: account,
      password: creds.password,
      ...(creds.auth_user !== undefined ? { authUser: creds.auth_user } : {}),
      ...(this.opts.localAddress !== undefined ? { localAddress: this.opts.localAddress } : {}),
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      timeoutMs: this.opts.sipTimeoutMs ?? Math.max(500, Math.floor(this.opts.scenario.step_timeout * 0.9)),
      logger: this.opts.logger,
      ...(this.opts.recorder ? { recorder: this.opts.recorder } : {}),
    });
    if (this.closing) {
      ua.close();
      throw new StepFailure('internal', 'scenario closed');
    }
    this.uas.set(account, ua);
    return ua;
  }

  private async ports(ua: UserAgent): Promise<{ allocator: PortAllocator; address: string }> {
    if (!this.allocator || this.mediaAddress === undefined) {
      this.mediaAddress = this.opts.localAddress ?? (await ua.transport.localAddressFor(ua.serverDest.host));
      const rec = this.opts.recorder;
      const wrap = rec ? { wrap: (pair: PortPair) => recordedPair(pair, rec) } : {};
      const dscp = this.opts.network?.rtpDscp !== undefined ? { dscp: this.opts.network.rtpDscp } : {};
      this.allocator = new PortAllocator({ min: this.opts.rtpPortMin, max: this.opts.rtpPortMax, address: this.mediaAddress, ...dscp, logger: this.opts.logger, ...wrap });
    }
    return { allocator: this.allocator, address: this.sdpAddress };
  }

  private requireCall(): ActiveCall {
    if (!this.call) throw new StepFailure('invite', 'no call was placed');
    return this.call;
  }

  /** The answered call with its dialog and media, or a failure naming why there is none. */
  private async answered(signal: AbortSignal): Promise<{ call: ActiveCall; dialog: Dialog; session: RtpSession }> {
    const call = this.requireCall();
    const outcome = await untilAborted(call.settled, signal, 'invite');
    if (!outcome.ok || !outcome.dialog) {
      call.statusChecked = true;
      throw new StepFailure('invite', `the call was not answered: ${outcome.status ?? ''} ${outcome.reason}`.trim(), 200, outcome.status ?? null);
    }
    if (call.sdpError !== undefined) throw new StepFailure('invite', call.sdpError);
    if (call.remoteHungUp) throw new StepFailure('media', 'the far end hung up');
    if (call.hungUp || !call.session) throw new StepFailure('bye', 'the call is already over');
    return { call, dialog: outcome.dialog, session: call.session };
  }

  // ---- steps ---------------------------------------------------------------

  private async register(step: StepOf<'register'>, signal: AbortSignal): Promise<string> {
    const ua = await untilAborted(this.uaFor(step.account), signal, 'register');
    // Answer calls to this account ourselves (the caller's own UA never answers).
    if (step.account !== this.opts.scenario.from && !this.answerers.has(step.account)) {
      const { allocator, address } = await this.ports(ua);
      this.answerers.set(
        step.account,
        new Answerer({
          ua, ports: allocator, mediaAddress: address, codecs: this.opts.codecs, neverAnswer: step.answer === 'never', logger: this.opts.logger, audioTap: this.prompts.tap('callee'),
          ...(this.opts.srtp !== undefined ? { srtp: this.opts.srtp } : {}),
        }),
      );
    }
    const t0 = performance.now();
    const reg = await untilAborted(ua.register({ expires: Math.round(step.expires / 1000) }), signal, 'register');
    if (reg.ok) this.registered.add(ua);
    if (!reg.ok) {
      const phase: Phase = reg.failure && ['dns', 'connect', 'tls'].includes(reg.failure.phase) ? (reg.failure.phase as Phase) : 'register';
      throw new StepFailure(phase, `REGISTER ${step.account}: ${reg.failure?.message ?? `${reg.status} ${reg.reason}`}`, 200, reg.status ?? null);
    }
    return `${reg.status} ${reg.reason} in ${Math.round(performance.now() - t0)} ms${reg.attempts > 1 ? ' (after digest challenge)' : ''}`;
  }

  private async placeCall(step: StepOf<'call'>, signal: AbortSignal): Promise<string> {
    const to = step.to ?? this.opts.scenario.to;
    if (to === undefined) throw new StepFailure('config', 'no destination');
    const ua = await untilAborted(this.uaFor(this.opts.scenario.from), signal, 'invite');
    const codecs: readonly AudioCodec[] = step.codec === undefined ? this.opts.codecs : Array.isArray(step.codec) ? step.codec : [step.codec];
    let audio: AudioSource | undefined;
    if (step.audio !== undefined) {
      const path = resolve(this.opts.baseDir, step.audio);
      try {
        audio = await (this.opts.readAudio ?? (async (p: string) => (await import('../../rtp/audio.js')).readWav(p)))(path);
      } catch (err) {
        throw new StepFailure('config', `audio ${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const { allocator, address } = await this.ports(ua);
    const pair = await allocator.allocate();
    let ringing: () => void = () => undefined;
    const rang = new Promise<void>((r) => (ringing = r));
    const security = srtpOffer(this.opts.srtp ?? 'off');
    const outgoing = ua.invite(dialTarget(to, ua), {
      sdp: buildOffer(address, pair.rtpPort, codecs, 20, 'sendrecv', security),
      onProvisional: (res) => {
        if (res.status === 180 || res.status === 183) ringing();
      },
    });
    const call: ActiveCall = {
      to,
      ua,
      outgoing,
      codecs,
      startedAt: performance.now(),
      ringTimeoutMs: step.ring_timeout,
      ringTimedOut: false,
      settled: Promise.resolve(undefined as never),
      statusChecked: false,
      pair,
      remoteHungUp: false,
      hungUp: false,
      onHold: false,
      consumed: { caller: 0, callee: 0 },
      ...(security ? { security } : {}),
      report: { from: this.opts.scenario.from, to, call_id: outgoing.callId, final_status: null, reason: '', timings_ms: {}, media: null },
    };
    this.call = call;
    call.ringTimer = setTimeout(() => {
      call.ringTimedOut = true;
      outgoing.cancel();
    }, step.ring_timeout);
    call.settled = outgoing.outcome
      .then((o) => this.onOutcome(call, o, audio))
      .catch((err: unknown) => {
        const failed: CallOutcome = {
          ok: false,
          reason: err instanceof Error ? err.message : String(err),
          cancelled: false,
          attempts: 0,
          failure: { phase: 'request', code: 'EINTERNAL', message: err instanceof Error ? err.message : String(err) },
          timings: { dns_ms: 0, connect_ms: 0 },
        };
        call.outcome = failed;
        return failed;
      });
    await untilAborted(Promise.race([rang, call.settled]), signal, 'invite');
    const o = call.outcome;
    if (o === undefined) return `ringing after ${Math.round(performance.now() - call.startedAt)} ms`;
    if (o.status === undefined) {
      const p = o.failure?.phase;
      throw new StepFailure(p === 'dns' || p === 'connect' || p === 'tls' ? p : 'invite', `INVITE ${to}: ${o.reason}`);
    }
    return `${o.status} ${o.reason}`;
  }

  /** Final answer in: record it; when answered, start media both ways. */
  private async onOutcome(call: ActiveCall, o: CallOutcome, audio: AudioSource | undefined): Promise<CallOutcome> {
    clearTimeout(call.ringTimer);
    call.outcome = o;
    const r = call.report;
    r.final_status = o.status ?? null;
    r.reason = o.reason;
    if (o.timings.pdd_ms !== undefined) r.timings_ms.pdd = round(o.timings.pdd_ms);
    if (o.timings.answer_ms !== undefined) r.timings_ms.answer = round(o.timings.answer_ms);
    if (!o.ok || !o.dialog) {
      await call.pair?.release();
      call.pair = undefined;
      return o;
    }
    r.timings_ms.setup = round(performance.now() - call.startedAt);
    const dialog = o.dialog;
    dialog.on('ended', ({ by }) => {
      if (by === 'remote') call.remoteHungUp = true;
    });
    const answer = o.remoteSdp ? parseMediaEndpoint(o.remoteSdp, call.codecs) : undefined;
    if (!answer || isSdpError(answer) || !call.pair || this.closing) {
      // Answered while the run was closing (or without usable SDP): hang up at once.
      if (!this.closing) call.sdpError = `answer SDP: ${answer && isSdpError(answer) ? answer.message : 'the 200 OK carried no SDP'}`;
      call.hungUp = true;
      await dialog.bye();
      await call.pair?.release();
      call.pair = undefined;
      return o;
    }
    const negotiated = acceptSrtpAnswer(this.opts.srtp ?? 'off', call.security, answer);
    if (!negotiated.ok) {
      call.sdpError = negotiated.message; // the expect step reports it (check srtp in the message)
      call.hungUp = true;
      await dialog.bye();
      await call.pair.release();
      call.pair = undefined;
      return o;
    }
    call.answer = answer;
    if (negotiated.keys) call.srtp = { pair: srtpPair(call.pair, negotiated.keys), suite: negotiated.keys.suite };
    const session = new RtpSession({
      ports: call.srtp?.pair.pair ?? call.pair,
      codec: answer.codec ?? 'PCMU',
      ...(answer.payloadType !== undefined ? { payloadType: answer.payloadType } : {}),
      ptimeMs: answer.ptimeMs,
      ...(answer.telephoneEventPt !== undefined ? { telephoneEventPt: answer.telephoneEventPt } : {}),
      ...(audio ? { audio } : {}),
      audioTap: this.prompts.tap('caller'),
    });
    call.pair = undefined;
    call.session = session;
    session.setRemote({ address: answer.address, port: answer.port });
    session.start();
    call.answeredAt = Date.now();
    this.prompts.answered('caller', call.answeredAt);
    const answerer = this.answerers.get(call.to);
    if (answerer) {
      const far = await Promise.race([answerer.waitFor(call.outgoing.callId), sleep(2000).then(() => undefined)]);
      if (far) {
        call.far = far; // its re-INVITEs are answered by the Answerer (call/reinvite.ts)
        this.prompts.answered('callee', far.answeredAt);
      }
    }
    return o;
  }

  private async expect(step: StepOf<'expect'>, signal: AbortSignal): Promise<string> {
    const call = this.requireCall();
    const o = await untilAborted(call.settled, signal, 'invite');
    call.statusChecked = true;
    if (o.status === undefined) {
      throw new StepFailure('invite', `no final answer: ${o.reason}`, step.status, null);
    }
    if (o.status !== step.status) {
      const why = call.ringTimedOut ? ` (not answered within ${call.ringTimeoutMs} ms: CANCEL sent)` : '';
      throw new StepFailure('invite', `expected ${step.status}, got ${o.status} ${o.reason}${why}`, step.status, o.status);
    }
    if (call.sdpError !== undefined) throw new StepFailure('invite', call.sdpError);
    const pdd = o.timings.pdd_ms ?? o.timings.answer_ms;
    if (step.max_pdd !== undefined && pdd !== undefined && pdd > step.max_pdd) {
      throw new StepFailure('invite', `post-dial delay ${Math.round(pdd)} ms > ${step.max_pdd} ms`, step.max_pdd, round(pdd));
    }
    const setup = o.timings.answer_ms;
    if (step.max_setup !== undefined && setup !== undefined && setup > step.max_setup) {
      throw new StepFailure('invite', `setup ${Math.round(setup)} ms > ${step.max_setup} ms`, step.max_setup, round(setup));
    }
    return `${o.status} ${o.reason}${pdd !== undefined ? `, pdd ${Math.round(pdd)} ms` : ''}`;
  }

  private async wait(step: StepOf<'wait'>, signal: AbortSignal): Promise<string | undefined> {
    await sleep(step.ms, signal);
    if (signal.aborted) throw new StepFailure('media', 'interrupted');
    const call = this.call;
    if (call?.remoteHungUp) throw new StepFailure('media', 'the far end hung up during the wait');
    const session = call?.session;
    if (!call || !session || call.hungUp) return undefined;
    // One-way audio, or a stream that stopped: a receiver we own heard nothing for longer than the media timeout.
    this.checkMediaTimeout(call, session);
    const s = session.stats();
    return `rx ${s.packets_received} pkts, loss ${s.loss_percent}%`;
  }

  private checkMediaTimeout(call: ActiveCall, session: RtpSession): void {
    const limit = this.opts.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    const f =
      mediaTimeoutFailure('callee_to_caller', session.stats(), limit) ??
      (call.far ? mediaTimeoutFailure('caller_to_callee', call.far.session.stats(), limit) : undefined);
    if (f) throw new StepFailure('media', f.message, f.expected, f.actual);
  }

  private async cancelAfter(step: StepOf<'cancel_after'>, signal: AbortSignal): Promise<string> {
    const call = this.requireCall();
    await sleep(step.ms, signal);
    if (signal.aborted) throw new StepFailure('invite', 'interrupted');
    if (call.outcome !== undefined) {
      call.statusChecked = true;
      throw new StepFailure('invite', `the call ended before CANCEL: ${call.outcome.status ?? ''} ${call.outcome.reason}`.trim(), 487, call.outcome.status ?? null);
    }
    call.outgoing.cancel();
    const o = await untilAborted(call.settled, signal, 'invite');
    call.statusChecked = true;
    if (o.status !== 487) {
      throw new StepFailure('invite', `CANCEL: expected 487, got ${o.status ?? 'nothing'} ${o.reason}`.trim(), 487, o.status ?? null);
    }
    return `${o.status} ${o.reason}`;
  }

  private async reinvite(direction: 'sendonly' | 'sendrecv', checkRtp: boolean, signal: AbortSignal): Promise<string> {
    const { call, dialog, session } = await this.answered(signal);
    const what = direction === 'sendonly' ? 'hold' : 'resume';
    const offer = buildOffer(this.sdpAddress, session.localPort, [session.codec], session.ptimeMs, direction);
    const res = await untilAborted(dialog.reinvite(offer), signal, 'invite');
    if (!res.ok) throw new StepFailure('invite', `re-INVITE (${what}): ${res.reason}`, 200, res.response?.status ?? null);
    const answer = res.remoteSdp !== undefined ? parseMediaEndpoint(res.remoteSdp, [session.codec]) : undefined;
    if (answer && isSdpError(answer)) throw new StepFailure('invite', `re-INVITE (${what}) answer: ${answer.message}`);
    const got = answer?.direction ?? 'sendrecv';
    const wanted = direction === 'sendonly' ? ['recvonly', 'inactive'] : ['sendrecv', 'sendonly'];
    if (!wanted.includes(got)) {
      throw new StepFailure('invite', `re-INVITE (${what}) answered a=${got}, expected a=${wanted.join(' or a=')}`, wanted.join('|'), got);
    }
    call.onHold = direction === 'sendonly';
    // on hold the far end's silence towards us is expected, not a media timeout
    if (call.onHold) session.expectSilence();
    else session.expectMedia();
    if (!checkRtp) return `a=${got}`;
    const received = () => session.stats().packets_received;
    if (direction === 'sendonly') {
      await sleep(HOLD_SETTLE_MS, signal);
      const before = received();
      await sleep(HOLD_WINDOW_MS, signal);
      const n = received() - before;
      if (n > 2) throw new StepFailure('media', `on hold the far end still sends RTP: ${n} packets in ${HOLD_WINDOW_MS} ms`, 0, n);
      return `a=${got}, far end silent (${n} packets in ${HOLD_WINDOW_MS} ms)`;
    }
    const before = received();
    const deadline = performance.now() + 2000;
    while (received() - before < 5 && performance.now() < deadline && !signal.aborted) await sleep(20, signal);
    const n = received() - before;
    if (n < 5) throw new StepFailure('media', `RTP did not resume within 2000 ms (${n} packets)`, '>=5', n);
    return `a=${got}, RTP flowing again`;
  }

  /** The leg's session: the caller's own, or the callee's when the agent answered. */
  private legSession(call: ActiveCall, leg: 'caller' | 'callee', session: RtpSession, kind: string): RtpSession {
    if (leg === 'caller') return session;
    if (!call.far) {
      throw new StepFailure('config', `${kind} on the callee leg needs the agent to answer the call: add "register: { account: \\"${call.to}\\" }" before the call`);
    }
    return call.far.session;
  }

  private async sendDtmf(step: StepOf<'send_dtmf'>, signal: AbortSignal): Promise<string> {
    const { call, session } = await this.answered(signal);
    const sender = this.legSession(call, step.leg, session, 'send_dtmf');
    const negotiated = step.leg === 'caller' ? call.answer?.telephoneEventPt !== undefined : true;
    if (!negotiated) throw new StepFailure('media', 'the answer did not accept telephone-event (RFC 4733)');
    const t0 = performance.now();
    try {
      await untilAborted(sender.sendDtmf(step.digits, { durationMs: step.duration, pauseMs: step.pause }), signal, 'media');
    } catch (err) {
      if (err instanceof StepFailure) throw err;
      throw new StepFailure('media', `DTMF: ${err instanceof Error ? err.message : String(err)}`);
    }
    return `${step.digits.length} digit${step.digits.length === 1 ? '' : 's'} (RFC 4733) in ${Math.round(performance.now() - t0)} ms`;
  }

  private async expectDtmf(step: StepOf<'expect_dtmf'>, signal: AbortSignal): Promise<string> {
    const { call, session } = await this.answered(signal);
    const receiver = this.legSession(call, step.leg, session, 'expect_dtmf');
    const fresh = () => receiver.receivedDigits.slice(call.consumed[step.leg]);
    const deadline = performance.now() + step.timeout;
    while (fresh().length < step.digits.length && performance.now() < deadline && !signal.aborted) await sleep(20, signal);
    const got = fresh().slice(0, step.digits.length);
    if (got !== step.digits) {
      const what = got.length < step.digits.length ? `got "${got}" within ${step.timeout} ms` : `got "${got}"`;
      throw new StepFailure('media', `expected DTMF "${step.digits}" on the ${step.leg} leg, ${what}`, step.digits, got);
    }
    call.consumed[step.leg] += got.length;
    return `"${got}" detected on the ${step.leg} leg`;
  }

  private async bye(step: StepOf<'bye'>, signal: AbortSignal): Promise<string> {
    const { call, dialog } = await this.answered(signal);
    let target = dialog;
    if (step.by === 'callee') {
      if (!call.far) throw new StepFailure('config', `bye by the callee needs the agent to answer the call (register ${call.to} in the scenario)`);
      target = call.far.dialog;
    }
    await this.snapshotMedia(call);
    const t0 = performance.now();
    call.hungUp = true;
    const res = await untilAborted(target.bye(), signal, 'bye');
    call.report.timings_ms.bye = round(performance.now() - t0);
    if (!res.ok) throw new StepFailure('bye', `BYE: ${res.response ? `${res.response.status} ` : ''}${res.reason}`, 200, res.response?.status ?? null);
    return `${res.response.status} ${res.response.reason}`;
  }

  private async options(step: StepOf<'options'>, signal: AbortSignal): Promise<string> {
    const ua = await untilAborted(this.uaFor(step.account ?? this.opts.scenario.from), signal, 'options');
    const res = await untilAborted(ua.options(step.uri), signal, 'options');
    if (res.status !== step.status) {
      const p = res.ok ? undefined : res.failure.phase;
      const phase: Phase = p === 'dns' || p === 'connect' || p === 'tls' ? p : 'options';
      throw new StepFailure(phase, `OPTIONS: expected ${step.status}, got ${res.status ?? 'nothing'} ${res.reason}`.trim(), step.status, res.status ?? null);
    }
    return `${res.status} ${res.reason} in ${Math.round(res.timings.request_ms ?? 0)} ms`;
  }

  // ---- media report --------------------------------------------------------

  /** Stops both senders, lets packets in flight land, and records both directions. Once. */
  private async snapshotMedia(call: ActiveCall): Promise<void> {
    call.snapshot ??= snapshotCallMedia(call, this.opts.srtp ?? 'off').then((media) => {
      call.report.media = media;
    });
    await call.snapshot;
  }

  /** What the run leaves for the result: the call as seen so far. */
  callReport(): ScenarioCall | undefined {
    return this.call?.report;
  }

  /** A call whose non-2xx final status no `expect` looked at. */
  uncheckedFinal(): ScenarioCall | undefined {
    const c = this.call;
    if (!c || c.statusChecked || c.outcome === undefined || c.outcome.ok) return undefined;
    return c.report;
  }

  /**
   * Hangs up (BYE or CANCEL) whatever is still up, records media, unregisters
   * and releases every UA, session and port. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const call = this.call;
    if (call) {
      clearTimeout(call.ringTimer);
      if (call.outcome === undefined) {
        call.outgoing.cancel();
        await Promise.race([call.settled, sleep(3000)]);
      }
      const dialog = call.outcome?.dialog;
      if (dialog && !call.hungUp && !call.remoteHungUp) {
        await this.snapshotMedia(call);
        call.hungUp = true;
        await Promise.race([dialog.bye(), sleep(2000)]);
      } else {
        await this.snapshotMedia(call);
      }
      await call.session?.close();
      await call.pair?.release();
    }
    await Promise.all([...this.registered].map((ua) => Promise.race([ua.unregister().catch(() => undefined), sleep(2000)])));
    this.registered.clear();
    await Promise.all([...this.answerers.values()].map((a) => a.close()));
    this.answerers.clear();
    for (const ua of this.uas.values()) ua.close();
    this.uas.clear();
  }

  /** RTP port pairs still bound (0 after close: the leak check in tests). */
  get portsInUse(): number {
    return this.allocator?.allocated ?? 0;
  }
}
