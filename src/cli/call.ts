// `probe call <from> <to>` and `probe demo`. Thin: flags → CallSpec → probeCall
// → thresholds → render. SIGINT/SIGTERM during a call hang up (BYE or CANCEL)
// and exit 130.
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import type { CallProgress, CallResult, CallSpec } from '../probes/call/probe.js';
import { EXIT, loadAudioFlag, parseCodecList, parseDuration, parseNumber, printJson, runCommand, UsageError, type CommonOptions } from './common.js';
import { parseSrtpMode } from './srtp-flag.js';
import { EVIDENCE_HELP, evidenceOptions, startEvidence, type EvidenceFlags } from './evidence.js';
import { maybeLoadConfig } from './load-config.js';
import { allowInsecureKeysFlag, configFlag } from './flags.js';

interface CallFlags extends CommonOptions, EvidenceFlags {
  duration: string;
  ringTimeout: string;
  sipT1?: string;
  server?: string;
  transport?: string;
  codec?: string;
  direct?: string;
  dial?: string;
  audio?: string;
  localAddress?: string;
  insecure?: boolean;
  mosMin?: string;
  lossMax?: string;
  pddMax?: string;
  mediaTimeout?: string;
  srtp?: string;
  allowInsecureKeys?: boolean;
  /** false with --no-audio-analysis. */
  audioAnalysis?: boolean;
  /** --expect-echo. */
  expectEcho?: boolean;
}

function parseMediaTimeout(text: string): number {
  const ms = parseDuration(text, 'media-timeout');
  if (ms < 100 || ms > 60_000) throw new UsageError('--media-timeout: between 100ms and 60s');
  return ms;
}

function parseTransport(text: string | undefined): 'udp' | 'tcp' | 'tls' | undefined {
  if (text === undefined) return undefined;
  const t = text.toLowerCase();
  if (t !== 'udp' && t !== 'tcp' && t !== 'tls') throw new UsageError(`--transport: "${text}" is not udp, tcp or tls`);
  return t;
}

function parseT1(text: string): number {
  const ms = parseDuration(text, 'sip-t1');
  if (ms < 10 || ms > 10_000) throw new UsageError('--sip-t1: between 10ms and 10s');
  return ms;
}

/** Longest time from the first SIGINT/SIGTERM to the exit (hang-up attempts get ABORT_GRACE_MS each). */
const SIGNAL_EXIT_MS = 4000;

/** Runs the call with live progress, thresholds and rendering; returns the exit code. */
async function executeCall(spec: CallSpec, flags: CallFlags, config: Config | undefined, cleanup?: () => Promise<void>): Promise<number> {
  const { probeCall } = await import('../probes/call/probe.js');
  const { baseThresholds, evaluateThresholds, overlayThresholds } = await import('../probes/thresholds.js');
  const { createLogger } = await import('../log.js');
  const { renderCall, renderProgress } = await import('./render-call.js');
  const evidence = await startEvidence(flags);
  const audio = await loadAudioFlag(flags.audio);
  if (audio) spec.audio = audio;
  const live = process.stderr.isTTY && !flags.json && !flags.quiet;
  if (live) {
    spec.onProgress = (p: CallProgress) => process.stderr.write(`\r\x1b[2K${renderProgress(p)}`);
  }
  const controller = new AbortController();
  // First SIGINT/SIGTERM: hang up (CANCEL or BYE, un-REGISTER), each attempt bounded
  // (ABORT_GRACE_MS), then print the result. Whatever the far end does, the process
  // ends within SIGNAL_EXIT_MS; a second signal ends it at once.
  let exitTimer: NodeJS.Timeout | undefined;
  const onSignal = (): void => {
    if (controller.signal.aborted) {
      process.stderr.write('probe: interrupted again: exiting without hanging up\n');
      process.exit(EXIT.INTERRUPTED);
    }
    controller.abort(new Error('signal'));
    exitTimer = setTimeout(() => {
      process.stderr.write(`probe: hang-up did not finish within ${SIGNAL_EXIT_MS} ms: exiting\n`);
      process.exit(EXIT.INTERRUPTED);
    }, SIGNAL_EXIT_MS);
    exitTimer.unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: CallResult;
  try {
    const ctx = { logger: createLogger(flags.logLevel), signal: controller.signal };
    result = await probeCall(evidence ? { ...ctx, recorder: evidence.recorder } : ctx, spec);
  } finally {
    clearTimeout(exitTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (live) process.stderr.write('\r\x1b[2K');
    await cleanup?.();
  }
  if (!result.interrupted) {
    const thresholds = overlayThresholds(baseThresholds(config), {
      mos_min: flags.mosMin !== undefined ? parseNumber(flags.mosMin, 'mos-min', 1, 5) : undefined,
      loss_max_percent: flags.lossMax !== undefined ? parseNumber(flags.lossMax, 'loss-max', 0, 100) : undefined,
      pdd_max_ms: flags.pddMax !== undefined ? parseDuration(flags.pddMax, 'pdd-max') : undefined,
    });
    result.failures.push(...evaluateThresholds(result, thresholds));
    result.success = result.success && result.failures.length === 0;
  }
  if (flags.junit) {
    const { junitXml } = await import('../report/junit.js');
    const { writeFile } = await import('node:fs/promises');
    const suite = `probe call ${result.from} ${result.to}`;
    await writeFile(flags.junit, junitXml([{ ...result, probe: suite }], { suite }));
  }
  if (flags.json) printJson(result);
  else if (!flags.quiet) process.stdout.write(renderCall(result));
  await evidence?.finish();
  if (result.interrupted) return EXIT.INTERRUPTED;
  return result.success ? EXIT.OK : EXIT.PROBE_FAILED;
}

function commonCallOptions(cmd: Command): Command {
  return evidenceOptions(cmd)
    .option('--duration <d>', 'media duration after answer (e.g. 10s, 1m)', '10s')
    .option('--codec <list>', 'codecs to offer, in order: PCMU, PCMA, G722, opus or "opus,G722,PCMU"')
    .option('--audio <file.wav>', 'send this 8 kHz mono 16-bit WAV instead of the built-in speech-like signal (sent as is: no markers)')
    .option('--no-audio-analysis', 'do not decode received audio (no audio section, no marker in the signal, no audio_silent / audio_crossed checks)')
    .option('--expect-echo', 'the far end echoes our audio (probe answer --echo, an echo test number): our own markers coming back are what we should hear, not a loop')
    .option('--mos-min <mos>', 'fail when a direction\'s MOS is below (default: config thresholds.mos_min, 3.5)')
    .option('--loss-max <percent>', 'fail when a direction loses more (default: config, 1 %)')
    .option('--pdd-max <d>', 'fail when post-dial delay is longer (default: config, 3s)')
    .option('--media-timeout <d>', 'fail when a direction gets no RTP for this long during the call (default: config rtp.media_timeout, 2s)')
    .option('--json', 'one JSON object on stdout (logs on stderr)')
    .option('--junit <file>', 'also write a JUnit XML report (one testcase, failures name the phase)')
    .option('--quiet', 'no output; only the exit code')
    .option('--log-level <level>', 'log level on stderr: error, warn, info, debug', 'warn');
}

export function register(program: Command): void {
  commonCallOptions(
    program
      .command('call')
      .description('place one test call and measure audio both ways (loss, jitter, MOS per direction)')
      .argument('<from>', 'calling extension (credentials from the config or CALLPROBE_<EXT>_PASSWORD)')
      .argument('<to>', 'extension, number or SIP URI to call'),
  )
    .addOption(configFlag())
    .option('--server <uri>', "next hop: registrar/outbound proxy, or the PBX behind it (default: the account's registrar, else config pbx.uri, else sip:127.0.0.1:5060)")
    .option('--transport <t>', 'udp, tcp or tls (default: from --server, else config pbx.transport, else udp)')
    .option('--ring-timeout <d>', 'CANCEL when not answered within this time', '30s')
    .option('--sip-t1 <d>', 'SIP timer T1 (RFC 3261 §17.1.1.1, default 500ms): an unanswered request, and an INVITE whose CANCEL gets no final response, are given up after 64·T1')
    .option('--dial <number>', 'dial this (a DID, prefix or feature code that reaches <to>) and answer as <to>; must match allowed_destinations')
    .option('--direct <uri>', 'call this SIP URI peer-to-peer, without registering (e.g. sip:1002@10.0.0.5:5060)')
    .option('--local-address <ip>', 'local address for SIP and RTP (default: the route towards the server)')
    .option('--insecure', 'TLS: accept self-signed certificates')
    .option('--srtp <mode>', 'off, optional or required: SDES-SRTP media (RFC 4568, AES_CM_128_HMAC_SHA1_80/_32); keys only over TLS', 'off')
    .addOption(allowInsecureKeysFlag())
    .addHelpText(
      'after',
      `
When the agent holds credentials for both extensions it registers both, answers
on the callee side itself and streams audio both ways, so each direction is
measured at its receiver. Other numbers are dialled only when they match the
config's allowed_destinations (a probe must never become a toll-fraud vector).

Examples:
  CALLPROBE_1001_PASSWORD=s3cret CALLPROBE_1002_PASSWORD=s3cret probe call 1001 1002
  probe call 1001 1002 --config /etc/callprobe/callprobe.yaml --duration 30s --json
  probe call 1001 9155501234 --codec PCMA          # trunk: needs allowed_destinations: ["9*"]
  probe call 1001 '*97'                            # feature code: needs allowed_destinations: ["\\*97"]
  probe call 1001 1002 --server sip:127.0.0.1:5160 # the PBX behind the proxy, directly
  probe call 1001 1002 --codec G722                # wideband; MOS from the G.107.1 E-model
  probe call 1001 1002 --dial +15550102           # DID routed to 1002; needs allowed_destinations
  probe call 1001 1002 --transport tls --srtp required  # SRTP, keys over TLS only
  probe call 1001 1002 --codec opus                # Opus (RFC 7587, 48 kHz RTP clock), wideband model too
  probe call me x --direct sip:1002@127.0.0.1:5070  # no registrar
  probe call 1001 1002 --pcap /tmp/call.pcap --trace  # ladder on screen, pcap for Wireshark
${EVIDENCE_HELP}

Exit codes: 0 passed, 1 the call failed or crossed a threshold (the failure names
the phase: dns, connect, register, invite, media, bye), 2 usage/config error,
3 internal error, 130 interrupted (the call was hung up first).`,
    )
    .action(async (from: string, to: string, flags: CallFlags) => {
      await runCommand(async () => {
        const config = await maybeLoadConfig(flags.config);
        const { buildCallSpec } = await import('../probes/call/spec.js');
        const transport = parseTransport(flags.transport);
        const built = buildCallSpec(
          {
            from,
            to,
            durationMs: parseDuration(flags.duration, 'duration'),
            ringTimeoutMs: parseDuration(flags.ringTimeout, 'ring-timeout'),
            ...(flags.server !== undefined ? { server: flags.server } : {}),
            ...(transport !== undefined ? { transport } : {}),
            ...(flags.codec !== undefined ? { codecs: parseCodecList(flags.codec, 'comma-separated for an offer order') } : {}),
            ...(flags.direct !== undefined ? { direct: flags.direct } : {}),
            ...(flags.dial !== undefined ? { dial: flags.dial } : {}),
            ...(flags.localAddress !== undefined ? { localAddress: flags.localAddress } : {}),
            ...(flags.insecure ? { insecure: true } : {}),
            ...(flags.sipT1 !== undefined ? { t1Ms: parseT1(flags.sipT1) } : {}),
            ...(flags.mediaTimeout !== undefined ? { mediaTimeoutMs: parseMediaTimeout(flags.mediaTimeout) } : {}),
            srtp: parseSrtpMode(flags.srtp),
            ...(flags.allowInsecureKeys ? { allowInsecureKeys: true } : {}),
            ...(flags.audioAnalysis === false ? { audioAnalysis: false } : {}),
            ...(flags.expectEcho ? { expectEcho: true } : {}),
          },
          config,
          process.env,
        );
        if (!built.ok) throw new UsageError(built.message);
        return executeCall(built.spec, flags, config);
      }, flags);
    });

  commonCallOptions(
    program
      .command('demo')
      .description('a real SIP call with two-way RTP against an answering peer callprobe starts on 127.0.0.1 (no PBX needed)'),
  )
    .addHelpText(
      'after',
      `
Starts an embedded user agent on 127.0.0.1 that answers and streams audio back,
calls it with a real INVITE, streams G.711 both ways, hangs up, and prints what
each receiver measured. Nothing leaves the machine.

Examples:
  probe demo
  probe demo --duration 3s --codec PCMA --json`,
    )
    .action(async (flags: CallFlags) => {
      await runCommand(async () => {
        const durationMs = parseDuration(flags.duration, 'duration');
        if (durationMs < 1000 || durationMs > 120_000) throw new UsageError('--duration: between 1s and 120s for the demo');
        const { startDemoPeer } = await import('../probes/call/demo.js');
        const peer = await startDemoPeer({ audioAnalysis: flags.audioAnalysis !== false });
        const spec: CallSpec = {
          from: { user: 'callprobe' },
          to: 'demo',
          direct: peer.uri,
          directAnswerer: peer.answerer,
          localAddress: '127.0.0.1',
          durationMs,
          ringTimeoutMs: 5000,
          codecs: flags.codec !== undefined ? parseCodecList(flags.codec, 'comma-separated for an offer order') : ['PCMU', 'PCMA'],
          ...(flags.mediaTimeout !== undefined ? { mediaTimeoutMs: parseMediaTimeout(flags.mediaTimeout) } : {}),
          ...(flags.audioAnalysis === false ? { audioAnalysis: false } : {}),
        };
        return executeCall(spec, flags, undefined, () => peer.close());
      }, flags);
    });
}
