// `probe answer`: an answering SIP UA without a registrar, the far end for
// agent-to-agent SIP tests through firewalls and SBCs (what `probe rtp echo`
// is for RTP). It answers every INVITE (180, 200 + SDP), streams the built-in
// audio back, and when a call ends prints what it received on that call:
// the caller→callee direction measured at its real receiver.
// Thin: parse flags, run the UA + Answerer (src/call/answerer.ts), render.
import type { Command } from 'commander';
import type { AnsweredCall } from '../call/answerer.js';
import { DEFAULT_MEDIA_TIMEOUT_MS, mediaTimeoutFailure } from '../call/media-timeout.js';
import type { Failure } from '../probes/result.js';
import type { AudioSource } from '../rtp/audio.js';
import type { AudioCodec } from '../rtp/codec.js';
import type { ReceiveFigures, RtpSessionStats } from '../rtp/session.js';
import type { PortSource } from '../rtp/ports.js';
import type { SharedPort } from '../rtp/shared-port.js';
import { EXIT, loadAudioFlag, parseCodecList, parseDuration, parseNumber, runCommand, UsageError } from './common.js';
import { parseHostPort } from './rtp.js';
import { directionSrtp, type DirectionSrtp } from '../call/media-report.js';
import { srtpSignallingError, type SrtpMode } from '../config/srtp-keys.js';
import { parseSrtpMode, renderSrtp } from './srtp-flag.js';
import { audioFailures, type AudioReport } from '../call/content.js';

/** How one answered call ended. */
export type CallEnd = 'remote' | 'local' | 'duration-max' | 'interrupt';

/** One answered call as `probe answer` reports it (one JSON line per call with --json). */
export interface AnsweredCallReport extends ReceiveFigures {
  call_id: string;
  /** From header of the INVITE. */
  from: string;
  codec: AudioCodec;
  /** What the caller heard from us: "echo" (its own audio back), the WAV's name, or "speech-like". */
  sent_audio: string;
  /** When media started (the ACK of our 200), ISO 8601. */
  answered_at: string;
  duration_s: number;
  ended_by: CallEnd;
  /** What we sent back (callee→caller). */
  packets_sent: number;
  /** Packets due from the caller over the whole call (RFC 3550 A.3 plus the tail missing before the BYE). */
  packets_expected: number;
  /** Longest stretch without RTP from the caller (ms). */
  longest_silence_ms: number;
  /** The received figures (caller→callee) come from ReceiveFigures. */
  rtt_ms: number | null;
  /** G.107 E-model of the received direction (delay = rtt/2 when known). */
  r_factor: number;
  mos: number;
  /** Media checks that did not hold: one_way_audio / rtp_timeout (silent longer than the media timeout). */
  failures: Failure[];
  /** With --srtp optional/required: what the SRTP receive side verified (null: the call was plain RTP). */
  srtp?: DirectionSrtp | null;
  /**
   * What we heard (caller→callee), from the decoded audio: the same section as a
   * `probe call` direction's `audio` (docs/quality.md). Absent with --no-audio-analysis.
   */
  audio?: AudioReport | null;
}

/** After --calls calls: time for the last BYE's 200 to leave before the UA closes (ms). */
const LINGER_MS = 300;

/** --play: an 8 or 16 kHz mono WAV as a prompt repeated after 2 s of silence. */
async function loadPromptFlag(path: string): Promise<AudioSource> {
  const { promptSource, readPcmWav } = await import('../rtp/audio.js');
  try {
    return promptSource(await readPcmWav(path));
  } catch (err) {
    throw new UsageError(`--play: ${(err as Error).message}`);
  }
}

/** "17000-17999" → [17000, 17999]. */
export function parsePortRange(text: string, flag: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  // the RTP port allocator keeps media inside 10000-20000 (src/rtp/ports.ts)
  if (!m || min < 10000 || max > 20000 || max < min + 1) {
    throw new UsageError(`--${flag}: "${text}" is not <min>-<max> inside 10000-20000 with room for one even/odd pair (example: 17000-17999)`);
  }
  return [min, max];
}

/** The report for one call from its session's numbers. Pure. */
export function callReport(
  call: Pick<AnsweredCall, 'callId' | 'answeredAt' | 'srtp' | 'content'>,
  from: string,
  stats: RtpSessionStats,
  endedBy: CallEnd,
  endedAt: number,
  mediaTimeoutMs = DEFAULT_MEDIA_TIMEOUT_MS,
  sentAudio = 'speech-like',
  srtpMode: SrtpMode = 'off',
): AnsweredCallReport {
  const timeout = mediaTimeoutFailure('caller_to_callee', stats, mediaTimeoutMs);
  // the caller is another process: its markers name this call, but its send times are not ours
  const audio = call.content?.report(undefined);
  return {
    call_id: call.callId,
    from,
    codec: stats.codec,
    sent_audio: sentAudio,
    answered_at: new Date(call.answeredAt).toISOString(),
    duration_s: Math.round((endedAt - call.answeredAt) / 10) / 100,
    ended_by: endedBy,
    packets_sent: stats.packets_sent,
    packets_expected: stats.packets_expected,
    longest_silence_ms: stats.longest_silence_ms,
    packets_received: stats.packets_received,
    packets_lost: stats.packets_lost,
    loss_percent: stats.loss_percent,
    duplicates: stats.duplicates,
    out_of_order: stats.out_of_order,
    jitter_ms: stats.jitter_ms,
    jitter_mean_ms: stats.jitter_mean_ms,
    jitter_max_ms: stats.jitter_max_ms,
    burst_ratio: stats.burst_ratio,
    rtt_ms: stats.rtt_ms,
    r_factor: stats.r_factor,
    mos: stats.mos,
    failures: [...(timeout ? [timeout] : []), ...audioFailures('caller_to_callee', audio)],
    ...(srtpMode !== 'off' ? { srtp: directionSrtp(call.srtp?.()) } : {}),
    ...(audio !== undefined ? { audio } : {}),
  };
}

export function renderCallReport(r: AnsweredCallReport): string {
  return (
    `call ${r.call_id} from ${r.from} ended (${r.ended_by}) after ${r.duration_s} s, ${r.codec}: ` +
    `received ${r.packets_received}, lost ${r.packets_lost} (${r.loss_percent.toFixed(2)} %), ` +
    `jitter ${r.jitter_ms.toFixed(3)} ms (mean ${r.jitter_mean_ms.toFixed(3)}), burst ratio ${r.burst_ratio}, ` +
    `R ${r.r_factor.toFixed(2)}, MOS ${r.mos.toFixed(2)}; sent back ${r.packets_sent} (${r.sent_audio})\n` +
    (r.srtp !== undefined ? `  ${renderSrtp(r.srtp)}\n` : '') +
    (r.audio ? `  ${renderHeard(r.audio)}\n` : '') +
    r.failures.map((f) => `  FAILED ${f.check}: ${f.message ?? ''}\n`).join('')
  );
}

/** One line of what we heard (the audio section). */
function renderHeard(a: AudioReport): string {
  const level = a.active_level_dbov === null ? 'no speech level' : `level ${a.active_level_dbov.toFixed(1)} dBov`;
  const match = a.marker_match === null ? 'not known' : a.marker_match ? 'this call' : 'NOT this call';
  return `heard: ${level}${a.present ? '' : ' (silent)'}, silence ${Math.round(a.silence_ratio * 100)} %, markers ${a.markers_heard} of this call, ${a.markers_foreign} foreign, ${a.markers_echoed} ours back (match: ${match})`;
}

interface AnswerOpts {
  bind: string;
  codec: string;
  calls?: string;
  durationMax: string;
  rtpPorts: string;
  sharedPort?: boolean;
  mediaTimeout: string;
  audio?: string;
  play?: string;
  echo?: boolean;
  /** false with --no-audio-analysis. */
  audioAnalysis?: boolean;
  json?: boolean;
  quiet?: boolean;
  logLevel?: string;
  srtp?: string;
  allowInsecureKeys?: boolean;
}

interface RunAnswerOptions {
  address: string;
  port: number;
  codecs: readonly AudioCodec[];
  rtpPorts: [number, number];
  /** Every call on one RTP port pair (the first of rtpPorts), streams told apart by SSRC and source. */
  sharedPort: boolean;
  /** Stop after this many calls ended; undefined = until the signal. */
  calls?: number;
  durationMaxMs: number;
  mediaTimeoutMs: number;
  srtp: SrtpMode;
  audio?: AudioSource;
  echo?: boolean;
  audioAnalysis: boolean;
  logLevel?: string;
  signal: AbortSignal;
  onReady(uri: string): void;
  onCall(report: AnsweredCallReport): void;
}

/** Runs the answering UA until `calls` calls ended or the signal fires; returns how many calls were reported and how many failed. */
async function runAnswer(o: RunAnswerOptions): Promise<{ reported: number; failed: number }> {
  const { UserAgent, UaError } = await import('../sip/ua.js');
  const { Answerer } = await import('../call/answerer.js');
  const { PortAllocator } = await import('../rtp/ports.js');
  const { createLogger } = await import('../log.js');
  const logger = createLogger(o.logLevel);
  let ua;
  try {
    ua = await UserAgent.create({
      // No registrar: out-of-dialog requests are never sent; the server is only our own address.
      server: `sip:${o.address}:${o.port}`,
      transport: 'udp',
      localAddress: o.address,
      localPort: o.port,
      user: 'answer',
      logger,
    });
  } catch (err) {
    if (err instanceof UaError) throw new UsageError(`--bind: cannot listen on ${o.address}:${o.port} (${err.message})`);
    throw err;
  }
  let ports: PortSource;
  let shared: SharedPort | undefined;
  try {
    if (o.sharedPort) {
      const { SharedPort } = await import('../rtp/shared-port.js');
      const port = o.rtpPorts[0] % 2 === 0 ? o.rtpPorts[0] : o.rtpPorts[0] + 1;
      shared = await SharedPort.open({ address: o.address, port, logger }).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`--shared-port: cannot bind RTP ${o.address}:${port}-${port + 1} (${err.code ?? err.message})`);
      });
      ports = shared;
    } else {
      ports = new PortAllocator({ min: o.rtpPorts[0], max: o.rtpPorts[1], address: o.address });
    }
  } catch (err) {
    await ua.close();
    throw err;
  }

  const active = new Map<string, { call: AnsweredCall; from: string; timer: NodeJS.Timeout }>();
  let reported = 0;
  let failed = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const report = (callId: string, endedBy: CallEnd): void => {
    const entry = active.get(callId);
    if (!entry) return;
    active.delete(callId);
    clearTimeout(entry.timer);
    entry.call.session.stop();
    // loss over the whole call: what the caller's rate says was due until the BYE
    const sent = o.echo ? 'echo' : (o.audio?.name ?? 'speech-like');
    const r = callReport(entry.call, entry.from, entry.call.session.stats({ phase: {} }), endedBy, Date.now(), o.mediaTimeoutMs, sent, o.srtp);
    o.onCall(r);
    reported++;
    if (r.failures.length > 0) failed++;
    if (o.calls !== undefined && reported >= o.calls) finish();
  };

  const onAnswered = (call: AnsweredCall): void => {
    if (o.signal.aborted) return;
    const timer = setTimeout(() => {
      // a forgotten call must not stream for ever: hang up ourselves
      if (!active.has(call.callId)) return;
      report(call.callId, 'duration-max');
      void call.dialog.bye();
    }, o.durationMaxMs);
    active.set(call.callId, { call, from: call.from, timer });
    if (call.dialog.ended) report(call.callId, 'remote');
    else call.dialog.on('ended', ({ by }) => report(call.callId, by));
  };
  const answerer = new Answerer({ ua, ports, mediaAddress: o.address, codecs: o.codecs, srtp: o.srtp, logger, onAnswered, content: { enabled: o.audioAnalysis }, ...(o.audio ? { audio: o.audio } : {}), ...(o.echo ? { echo: true } : {}) });

  const onAbort = (): void => finish();
  o.signal.addEventListener('abort', onAbort, { once: true });
  o.onReady(`sip:answer@${o.address}:${ua.localPort}`);
  try {
    await finished;
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    // calls still up at the end: report what they received so far, then hang up
    for (const [callId, { call }] of [...active]) {
      report(callId, 'interrupt');
      await call.dialog.bye().catch(() => undefined);
    }
    // The 200 to the last call's BYE is still on its way out (and a
    // retransmitted BYE should find us): linger briefly before closing.
    if (!o.signal.aborted) await new Promise((r) => setTimeout(r, LINGER_MS));
    await answerer.close();
    await shared?.close();
    await ua.close();
  }
  return { reported, failed };
}

export function register(program: Command): void {
  program
    .command('answer')
    .description('answer SIP calls without a registrar and report what each call received (far end for agent-to-agent tests)')
    .requiredOption('--bind <ip:port>', 'local SIP address and UDP port; RTP uses the same address')
    .option('--codec <list>', 'codecs to accept, preferred first: PCMU, PCMA, G722, opus or "opus,PCMA"', 'PCMU,PCMA,G722,opus')
    .option('--calls <n>', 'exit after this many calls ended (default: run until Ctrl-C / SIGTERM)')
    .option('--duration-max <d>', 'hang up a call that lasts longer than this', '10m')
    .option('--rtp-ports <min-max>', 'RTP port range (even RTP / odd RTCP pairs), for firewall pinholes; full → 503', '17000-17999')
    .option('--shared-port', 'answer every call on ONE RTP/RTCP port pair (the first even port of --rtp-ports): the SDP names the same port for every call, streams are told apart by SSRC and source address')
    .option('--media-timeout <d>', 'a call whose caller sent no RTP for this long fails (one_way_audio / rtp_timeout)', '2s')
    .option('--audio <file.wav>', 'stream this 8 kHz mono 16-bit WAV instead of the built-in speech-like signal')
    .option('--play <file.wav>', 'IVR stand-in: every answered call hears this prompt (8 or 16 kHz mono 16-bit WAV) from the answer on, repeated after 2 s of silence')
    .option('--echo', 'echo: send every RTP packet received straight back, so the caller hears itself one round trip later')
    .option('--no-audio-analysis', 'do not decode what callers send (no audio section, no markers in our signal, no audio_silent / audio_crossed checks)')
    .option('--srtp <mode>', 'off, optional or required: SDES-SRTP (RFC 4568) on answered calls; needs --allow-insecure-keys (answer speaks UDP only)', 'off')
    .option('--allow-insecure-keys', 'with --srtp: accept and send SDES keys over plain UDP signalling')
    .option('--json', 'one JSON object per ended call, one per line (JSON Lines) on stdout')
    .option('--quiet', 'no start-up line on stderr')
    .option('--log-level <level>', 'log level on stderr: error, warn, info, debug', 'warn')
    .addHelpText(
      'after',
      `
Answers every INVITE with 180 and 200 (SDP answer for the first offered codec
it accepts), streams audio back until the caller hangs up, and then prints the
caller→callee direction as measured here: packets received/lost, RFC 3550 jitter
(final and mean), burst ratio, R-factor and MOS. Loss covers the whole call: a
caller whose RTP stops before its BYE has the missing tail counted as lost, and
a silence longer than --media-timeout is reported as a failure. The caller
(probe call --direct) measures the other direction. No REGISTER is sent; nothing
is dialled. Each ended call releases its RTP ports; with every pair of
--rtp-ports busy, new INVITEs get 503 with Retry-After: 5.
--shared-port answers every call on one RTP/RTCP pair (the first even port of
--rtp-ports, one firewall pinhole): each call's packets are recognised by their
SSRC and source address (docs/decisions.md).

--play greeting.wav makes it an IVR stand-in: a scenario's expect_prompt step
(docs/scenarios.md) checks that callers hear the greeting through the PBX.
--echo sends back every RTP packet as it arrives (our SSRC, payload untouched:
the caller's own audio, no re-encoding, no jitter buffer), so a single-ended
probe measures the round trip of audio through any PBX with a scenario's
expect_echo step. The report's sent_audio says which of the three was sent.
Unless --no-audio-analysis, what the caller sent is decoded too: the report's
audio section (level, silence, the test-signal markers of a callprobe caller)
fails audio_silent or audio_crossed (another call's markers) like probe call.

Examples:
  probe answer --bind 10.0.0.5:5080
  probe answer --bind 10.0.0.5:5080 --calls 1 --json
  probe call me demo --direct sip:demo@10.0.0.5:5080 --json     # on the other agent
  probe answer --bind 10.0.0.5:5080 --play greeting.wav         # IVR stand-in
  probe answer --bind 10.0.0.5:5080 --echo                      # round-trip reflector

Exit status: 0 after --calls calls or on Ctrl-C / SIGTERM (calls still up are
reported and hung up), 1 with --calls when a reported call failed a media check,
2 usage error (bad flag, address not local or port busy).`,
    )
    .action(async (opts: AnswerOpts) => {
      await runCommand(async () => {
        const bind = parseHostPort(opts.bind, 'bind');
        if (bind.address === '0.0.0.0' || bind.address === '::') {
          throw new UsageError('--bind: give the address callers reach (it is written into the SDP), not a wildcard');
        }
        if (bind.address.includes(':')) throw new UsageError('--bind: IPv4 only for now');
        const codecs = parseCodecList(opts.codec, 'comma-separated, preferred first');
        const calls = opts.calls === undefined ? undefined : parseNumber(opts.calls, 'calls', 1, 1e6);
        if (calls !== undefined && !Number.isInteger(calls)) throw new UsageError('--calls: a whole number');
        const durationMaxMs = parseDuration(opts.durationMax, 'duration-max');
        if (durationMaxMs < 1000) throw new UsageError('--duration-max: at least 1s');
        const rtpPorts = parsePortRange(opts.rtpPorts, 'rtp-ports');
        const mediaTimeoutMs = parseDuration(opts.mediaTimeout, 'media-timeout');
        if (mediaTimeoutMs < 100) throw new UsageError('--media-timeout: at least 100ms');
        if ([opts.audio !== undefined, opts.play !== undefined, opts.echo === true].filter(Boolean).length > 1) {
          throw new UsageError('--audio, --play and --echo each say what callers hear: give one of them');
        }
        const srtp = parseSrtpMode(opts.srtp);
        const keysError = srtpSignallingError(srtp, 'udp', `sip:${bind.address}:${bind.port}`, opts.allowInsecureKeys === true);
        if (keysError !== undefined) throw new UsageError(keysError);
        const audio = opts.play !== undefined ? await loadPromptFlag(opts.play) : await loadAudioFlag(opts.audio);
        const controller = new AbortController();
        const onSignal = (): void => controller.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let outcome: { reported: number; failed: number };
        try {
          outcome = await runAnswer({
            address: bind.address,
            port: bind.port,
            codecs,
            rtpPorts,
            sharedPort: opts.sharedPort === true,
            durationMaxMs,
            mediaTimeoutMs,
            srtp,
            signal: controller.signal,
            ...(calls !== undefined ? { calls } : {}),
            ...(audio ? { audio } : {}),
            ...(opts.echo === true ? { echo: true } : {}),
            audioAnalysis: opts.audioAnalysis !== false,
            ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
            onReady: (uri) => {
              const rtp = opts.sharedPort === true ? `RTP ${rtpPorts[0] + (rtpPorts[0] % 2)} shared by every call` : `RTP ${rtpPorts[0]}-${rtpPorts[1]}`;
              if (!opts.quiet) process.stderr.write(`answering calls to ${uri} (${rtp})\n`);
            },
            onCall: (r) => process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : renderCallReport(r)),
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        // stopping an answering peer is its normal end; a fixed number of calls is a test
        return calls !== undefined && outcome.failed > 0 ? EXIT.PROBE_FAILED : EXIT.OK;
      }, opts);
    });
}
