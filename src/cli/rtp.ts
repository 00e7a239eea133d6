// `probe rtp listen|send|echo`: RTP-only tests between two agents, no SIP.
// Thin: parse flags, call src/rtp/listen-send.ts, render. rtp.js and the media
// engine load only inside the actions.
import type { Command } from 'commander';
import { EXIT, loadAudioFlag, parseCodecList, parseDuration, parseNumber, printJson, runCommand, UsageError } from './common.js';
import { AUDIO_CODECS, OPUS_PT, ptimesOf, type AudioCodec } from '../rtp/codec.js';
import type { PortPair } from '../rtp/ports.js';
import type { ListenResult, SendResult, StreamReport } from '../rtp/listen-send.js';

export interface HostPort {
  address: string;
  port: number;
}

/** Parses "127.0.0.1:16000" or "[::1]:16000". */
export function parseHostPort(text: string, flag: string): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--${flag}: "${text}" is not <ip>:<port> (examples: 127.0.0.1:16000, [::1]:16000)`);
  }
  return { address: m[1], port };
}

/** `--codec` of `probe rtp send`: one codec, and a ptime it can carry. */
export function parseSendCodec(text: string, ptimeMs: number): AudioCodec {
  const [codec] = parseCodecList(text, 'one codec');
  if (codec === undefined || text.includes(',')) throw new UsageError(`--codec: one of ${AUDIO_CODECS.join(', ')}`);
  const ptimes = ptimesOf(codec);
  if (!ptimes.includes(ptimeMs)) throw new UsageError(`--ptime: ${codec} takes ${ptimes.join(', ')} ms`);
  return codec;
}

/** SIGINT/SIGTERM abort the run (results are still printed); listeners removed afterwards. */
function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function bindOrExplain(address: string, port: number, flag: string): Promise<PortPair> {
  const { bindPair } = await import('../rtp/ports.js');
  try {
    return await bindPair(address, port);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new UsageError(`--${flag}: cannot bind ${address}:${port} and ${port + 1} (${String(code)})`);
    }
    throw err;
  }
}

const fmt = (n: number | null, d = 2): string => (n === null ? '-' : n.toFixed(d));

export function renderStreams(streams: StreamReport[]): string {
  if (streams.length === 0) return 'no RTP received\n';
  const head = 'SSRC        source                 PT  received  lost  loss%  dup  ooo  jitter  max    R      MOS\n';
  const rows = streams.map(
    (s) =>
      `${s.ssrc_hex}  ${s.source.padEnd(21)}  ${String(s.payload_type).padStart(3)} ${String(s.packets_received).padStart(9)} ` +
      `${String(s.packets_lost).padStart(5)} ${fmt(s.loss_percent).padStart(6)} ${String(s.duplicates).padStart(4)} ` +
      `${String(s.out_of_order).padStart(4)} ${fmt(s.jitter_ms, 3).padStart(7)} ${fmt(s.jitter_max_ms, 3).padStart(6)} ` +
      `${fmt(s.r_factor).padStart(6)} ${fmt(s.mos).padStart(5)}\n`,
  );
  return head + rows.join('');
}

function renderListen(r: ListenResult): string {
  const failures = r.failures.map((f) => `FAILED ${f.check}: ${f.message}\n`).join('');
  return `listened on ${r.local} for ${r.duration_s} s (stopped by ${r.stopped_by})\n${renderStreams(r.streams)}${failures}`;
}

function renderSend(r: SendResult): string {
  const lines = [
    `sent ${r.packets_sent} ${r.codec} packets (${r.ptime_ms} ms) from ${r.local} to ${r.to} in ${r.duration_s} s` +
      (r.send_skipped ? `, ${r.send_skipped} ticks skipped` : ''),
    `send lateness p50 ${fmt(r.send_lateness.p50_ms, 3)} ms, p99 ${fmt(r.send_lateness.p99_ms, 3)} ms, max ${fmt(r.send_lateness.max_ms, 3)} ms`,
    `RTCP round trip: ${r.rtt_ms === null ? 'unknown (no report from the far end)' : `${fmt(r.rtt_ms, 3)} ms`}`,
  ];
  if (r.forward) {
    lines.push(
      `far end received (RTCP): cumulative lost ${r.forward.cumulative_lost}, jitter ${fmt(r.forward.jitter_ms, 3)} ms`,
    );
  }
  if (r.round_trip) lines.push('echoed back (round trip):', renderStreams([r.round_trip]).trimEnd());
  return `${lines.join('\n')}\n`;
}

function listenJson(r: ListenResult): object {
  return { streams: r.streams, failures: r.failures, local: r.local, duration_s: r.duration_s, stopped_by: r.stopped_by };
}

type Progress = (text: string) => void;

function progressWriter(enabled: boolean): Progress | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return (text) => process.stderr.write(`\r${text}\x1b[K`);
}

/**
 * One listen/send/echo run: Ctrl-C / SIGTERM abort it through `signal` (the
 * result is still printed), and unless --json or --quiet a live progress line
 * on a terminal's stderr, ended by a newline when the run is over.
 */
async function liveRun<T>(
  opts: { json?: boolean; quiet?: boolean },
  run: (signal: AbortSignal, progress: Progress | undefined) => Promise<T>,
): Promise<T> {
  const progress = progressWriter(!opts.json && !opts.quiet);
  const stop = interruptSignal();
  try {
    const result = await run(stop.signal, progress);
    if (progress) process.stderr.write('\n');
    return result;
  } finally {
    stop.dispose();
  }
}

interface ListenOpts {
  bind: string;
  opusPt: string;
  duration: string;
  mediaTimeout: string;
  count?: string;
  idle?: string;
  json?: boolean;
  quiet?: boolean;
}

interface SendOpts {
  to: string;
  bind?: string;
  duration: string;
  codec: string;
  ptime: string;
  echo?: boolean;
  audio?: string;
  json?: boolean;
  quiet?: boolean;
}

interface EchoOpts {
  bind: string;
  duration?: string;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  const rtp = program
    .command('rtp')
    .description('RTP-only tests between two agents (no SIP): listen, send, echo')
    .addHelpText(
      'after',
      `
Examples:
  probe rtp listen --bind 127.0.0.1:16000 --duration 30s --json
  probe rtp send --to 127.0.0.1:16000 --duration 10s --codec PCMA
  probe rtp echo --bind 127.0.0.1:16100 &  probe rtp send --to 127.0.0.1:16100 --echo`,
    );

  rtp
    .command('listen')
    .description('receive RTP and report RFC 3550 loss, jitter and MOS per SSRC')
    .requiredOption('--bind <ip:port>', 'local address and RTP port (RTCP uses port + 1)')
    .option('--duration <d>', 'how long to listen', '10s')
    .option('--count <n>', 'stop after this many RTP packets')
    .option('--idle <d>', 'stop when no packet arrived for this long (after the first)')
    .option('--media-timeout <d>', 'a stream silent this long (a gap, or stopping early without RTCP BYE) fails', '2s')
    .option('--opus-pt <pt>', 'dynamic payload type to read as Opus (48 kHz RTP clock, wideband E-model)', String(OPUS_PT))
    .option('--json', 'one JSON object on stdout: { "streams": [ … ], "failures": [ … ] }')
    .option('--quiet', 'no live progress on stderr')
    .addHelpText(
      'after',
      `
Jitter is the RFC 3550 A.8 estimator (same as Wireshark/tshark), on each
stream's RTP clock: 8000 for PCMU/PCMA/G722 (PT 0/8/9), 48000 for Opus (the
dynamic PT --opus-pt, 111 by default). MOS uses the wideband E-model (G.107.1)
for G722 and Opus, G.107 for G.711, none for other payload types. Loss counts
sequence numbers never received, and for a stream that stopped before the end
of listening without an RTCP BYE also the packets due until the end (at its own
packet rate; at least the count of the sender's last RTCP SR). A stream silent
longer than --media-timeout fails (rtp_timeout). Stopping on --count or --idle
takes the stream's end as normal (no tail). A sender restart (new sequence and
timestamp, same SSRC) keeps counting; an SSRC change is a new row. Exit status:
0 when RTP arrived and no stream timed out, 1 otherwise, 2 usage error.

Examples:
  probe rtp listen --bind 127.0.0.1:16000
  probe rtp listen --bind 0.0.0.0:16000 --duration 1m --idle 3s --json
  probe rtp listen --bind 127.0.0.1:16000 --count 1500`,
    )
    .action(async (opts: ListenOpts) => {
      await runCommand(async () => {
        const bind = parseHostPort(opts.bind, 'bind');
        const durationMs = parseDuration(opts.duration, 'duration');
        const count = opts.count === undefined ? undefined : parseNumber(opts.count, 'count', 1, 1e9);
        const idleMs = opts.idle === undefined ? undefined : parseDuration(opts.idle, 'idle');
        const mediaTimeoutMs = parseDuration(opts.mediaTimeout, 'media-timeout');
        if (mediaTimeoutMs < 100) throw new UsageError('--media-timeout: at least 100ms');
        const opusPt = parseNumber(opts.opusPt, 'opus-pt', 96, 127);
        if (!Number.isInteger(opusPt)) throw new UsageError('--opus-pt: a whole number 96-127');
        // load the media engine before binding: a packet that arrives in between would be dropped
        const { runListen } = await import('../rtp/listen-send.js');
        const ports = await bindOrExplain(bind.address, bind.port, 'bind');
        const result = await liveRun(opts, (signal, progress) =>
          runListen({
            ports,
            durationMs,
            mediaTimeoutMs,
            opusPt,
            signal,
            ...(count !== undefined ? { count } : {}),
            ...(idleMs !== undefined ? { idleMs } : {}),
            ...(progress
              ? {
                  onProgress: (streams: StreamReport[]) =>
                    progress(
                      streams
                        .map((s) => `${s.ssrc_hex} ${s.packets_received} pkts, lost ${s.packets_lost}, jitter ${fmt(s.jitter_ms, 3)} ms`)
                        .join(' | ') || 'waiting for RTP…',
                    ),
                }
              : {}),
          }),
        );
        if (opts.json) printJson(listenJson(result));
        else process.stdout.write(renderListen(result));
        if (result.stopped_by === 'interrupt') return EXIT.INTERRUPTED;
        return result.streams.length > 0 && result.failures.length === 0 ? EXIT.OK : EXIT.PROBE_FAILED;
      }, {});
    });

  rtp
    .command('send')
    .description('send a G.711, G.722 or Opus stream (built-in speech-like signal or a WAV file)')
    .requiredOption('--to <ip:port>', 'where to send RTP (RTCP goes to port + 1)')
    .option('--bind <ip:port>', 'local address and RTP port (default: a free pair from 16000-16999)')
    .option('--duration <d>', 'how long to send', '10s')
    .option('--codec <name>', `PCMU, PCMA, G722 or opus (payload type ${OPUS_PT}, 48 kHz RTP clock)`, 'PCMU')
    .option('--ptime <ms>', 'packetisation time: 10, 20, 30, 40, 50 or 60 ms (opus: 10, 20, 40, 60)', '20')
    .option('--audio <file.wav>', '8 kHz mono 16-bit PCM WAV to send instead of the built-in signal')
    .option('--echo', 'the far end is `probe rtp echo`: measure the stream that comes back (round trip)')
    .option('--json', 'one JSON object on stdout')
    .option('--quiet', 'no live progress on stderr')
    .addHelpText(
      'after',
      `
The far end's RTCP receiver reports give the round-trip time and what it
received (forward direction). Exit status: 0 sent (with --echo: and packets
came back), 1 nothing came back with --echo, 2 usage error.

Examples:
  probe rtp send --to 127.0.0.1:16000
  probe rtp send --to 127.0.0.1:16100 --echo --duration 30s --json
  probe rtp send --to 10.0.0.5:16000 --codec PCMA --ptime 30 --audio prompt.wav
  probe rtp send --to 127.0.0.1:16000 --codec opus    # listen reads PT ${OPUS_PT} as Opus`,
    )
    .action(async (opts: SendOpts) => {
      await runCommand(async () => {
        const to = parseHostPort(opts.to, 'to');
        const durationMs = parseDuration(opts.duration, 'duration');
        const ptimeMs = parseNumber(opts.ptime, 'ptime', 10, 60);
        if (!Number.isInteger(ptimeMs) || ptimeMs % 10 !== 0) throw new UsageError('--ptime: must be 10, 20, 30, 40, 50 or 60');
        const codec = parseSendCodec(opts.codec, ptimeMs);
        const audio = await loadAudioFlag(opts.audio);
        let ports: PortPair;
        if (opts.bind) {
          const bind = parseHostPort(opts.bind, 'bind');
          ports = await bindOrExplain(bind.address, bind.port, 'bind');
        } else {
          const { PortAllocator } = await import('../rtp/ports.js');
          ports = await new PortAllocator({ address: to.address.includes(':') ? '::' : '0.0.0.0' }).allocate();
        }
        const { runSend } = await import('../rtp/listen-send.js');
        const result = await liveRun(opts, (signal, progress) =>
          runSend({
            ports,
            to,
            durationMs,
            codec,
            ptimeMs,
            echo: opts.echo ?? false,
            signal,
            ...(audio ? { audio } : {}),
            ...(progress
              ? { onProgress: (sent: number, received: number) => progress(`sent ${sent}${opts.echo ? `, echoed ${received}` : ''}`) }
              : {}),
          }),
        );
        if (opts.json) printJson(result);
        else process.stdout.write(renderSend(result));
        if (result.interrupted) return EXIT.INTERRUPTED;
        if (opts.echo && (result.round_trip?.packets_received ?? 0) === 0) return EXIT.PROBE_FAILED;
        return EXIT.OK;
      }, {});
    });

  rtp
    .command('echo')
    .description('reflect every RTP packet back to its sender (peer for `probe rtp send --echo`)')
    .requiredOption('--bind <ip:port>', 'local address and RTP port (RTCP uses port + 1)')
    .option('--duration <d>', 'stop after this long (default: until Ctrl-C / SIGTERM)')
    .option('--json', 'on exit, one JSON object on stdout: { "streams": [ … ] } as received')
    .option('--quiet', 'no live progress on stderr')
    .addHelpText(
      'after',
      `
Echoed packets keep their sequence numbers and timestamps and carry the echo's
own SSRC; its RTCP reports tell the sender what arrived (forward direction).

Examples:
  probe rtp echo --bind 127.0.0.1:16100
  probe rtp echo --bind 0.0.0.0:16100 --duration 10m --json`,
    )
    .action(async (opts: EchoOpts) => {
      await runCommand(async () => {
        const bind = parseHostPort(opts.bind, 'bind');
        const durationMs = opts.duration === undefined ? Infinity : parseDuration(opts.duration, 'duration');
        const { runListen } = await import('../rtp/listen-send.js');
        const ports = await bindOrExplain(bind.address, bind.port, 'bind');
        if (!opts.quiet && !opts.json) process.stderr.write(`echoing RTP on ${bind.address}:${bind.port} (Ctrl-C to stop)\n`);
        const result = await liveRun(opts, (signal, progress) =>
          runListen({
            ports,
            durationMs,
            reflect: true,
            signal,
            ...(progress
              ? { onProgress: (streams: StreamReport[]) => progress(`echoed ${streams.reduce((n, s) => n + s.packets_received, 0)} packets`) }
              : {}),
          }),
        );
        if (opts.json) printJson(listenJson(result));
        else process.stdout.write(renderListen(result));
        return EXIT.OK; // stopping an echo server is its normal end
      }, {});
    });
}
