/**
 * RTP-only test runs without SIP (`probe rtp listen|send|echo`): a receiver
 * that reports RFC 3550 statistics per SSRC, a sender, and a reflector. The
 * CLI only parses flags and renders what these return.
 */
import { computeQuality } from '../quality/emodel.js';
import { coverMediaPhase } from './activity.js';
import { monotonicClock } from './clock.js';
import type { AudioSource } from './audio.js';
import { codecOfPayloadType, OPUS_PT, type AudioCodec } from './codec.js';
import { sharedPacer, type LatenessSummary } from './pacer.js';
import type { PortPair } from './ports.js';
import { RtpSession, type ReceiveFigures, type ReceivedStream, type RemoteReport } from './session.js';
import { round } from '../round.js';

export interface StreamReport extends ReceiveFigures {
  ssrc: number;
  ssrc_hex: string;
  source: string;
  payload_type: number;
  codec: AudioCodec | null;
  /** RFC 3550 A.3 expected, plus the tail due until the end of listening when the stream stopped early, at least the sender's RTCP SR count. */
  packets_expected: number;
  /** Longest stretch without a packet of this stream (ms), a missing tail included. */
  longest_silence_ms: number;
  /** The sender ended the stream with RTCP BYE. */
  rtcp_bye: boolean;
  r_factor: number | null;
  mos: number | null;
}

/** A stream that was silent longer than the media timeout. */
export interface StreamFailure {
  check: 'rtp_timeout';
  ssrc_hex: string;
  expected: number;
  actual: number;
  message: string;
}

/**
 * Until when a stream's packets were due: the end of listening, unless the
 * listener stopped on count/idle, the sender said BYE, or a newer SSRC from
 * the same source replaced it (a sender that changed SSRC). Null: no tail.
 */
export interface StreamPhase {
  tailUntilMs: number | null;
}



/** Dynamic payload types `probe rtp listen` reads by default: 111 is Opus, as `probe rtp send --codec opus` sends it. */
export const LISTEN_CODECS: ReadonlyMap<number, AudioCodec> = new Map([[OPUS_PT, 'opus']]);

/**
 * One received SSRC as reported by `probe rtp listen` (E-model for the codecs
 * we know: static G.711/G.722 payload types and the `dynamic` ones, Opus on 111). With `phase`, loss covers the missing tail and the sender's SR
 * count (activity.ts); the packet interval is the stream's own mean.
 */
export function streamReport(stream: ReceivedStream, delayMs = 0, phase: StreamPhase = { tailUntilMs: null }, dynamic: ReadonlyMap<number, AudioCodec> = LISTEN_CODECS): StreamReport {
  const s = stream.stats;
  const codec = codecOfPayloadType(stream.payloadType) ?? dynamic.get(stream.payloadType) ?? null;
  const last = s.lastArrivalMs;
  const packetMs = s.expected > 1 && last !== null && s.firstArrivalMs !== null ? Math.max(1, (last - s.firstArrivalMs) / (s.expected - 1)) : 20;
  const tailUntil = phase.tailUntilMs !== null && last !== null ? Math.max(last, phase.tailUntilMs) : last;
  const covered = coverMediaPhase(s, { untilMs: tailUntil ?? 0, startMs: s.firstArrivalMs ?? 0, packetMs, lastArrivalMs: last, sent: stream.senderPackets });
  const tailMs = tailUntil !== null && last !== null ? tailUntil - last : 0;
  const quality = codec ? computeQuality({ codec, lossPercent: covered.lossPercent, burstRatio: covered.burstRatio, delayMs }) : null;
  return {
    ssrc: stream.ssrc,
    ssrc_hex: `0x${stream.ssrc.toString(16).toUpperCase().padStart(8, '0')}`,
    source: stream.source,
    payload_type: stream.payloadType,
    codec,
    packets_expected: covered.expected,
    packets_received: s.received,
    packets_lost: covered.lost,
    loss_percent: round(covered.lossPercent, 2),
    duplicates: s.duplicates,
    out_of_order: s.outOfOrder,
    jitter_ms: round(s.jitterMs, 3),
    jitter_max_ms: round(s.jitterMaxMs, 3),
    jitter_mean_ms: round(s.jitterMeanMs, 3),
    burst_ratio: round(covered.burstRatio, 3),
    longest_silence_ms: Math.round(Math.max(s.longestGapMs, tailMs)),
    rtcp_bye: stream.bye,
    r_factor: quality?.r_factor ?? null,
    mos: quality?.mos ?? null,
  };
}

/** Resolves after `ms`, when `signal` aborts, or when `until` resolves; whichever is first. */
function waitUntil(ms: number, signal?: AbortSignal, until?: Promise<unknown>): Promise<'timeout' | 'aborted' | 'done'> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve('aborted');
    const timer = Number.isFinite(ms) ? setTimeout(() => finish('timeout'), ms) : undefined;
    const onAbort = (): void => finish('aborted');
    function finish(why: 'timeout' | 'aborted' | 'done'): void {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    until?.then(() => finish('done'), () => finish('done'));
  });
}

export interface ListenOptions {
  ports: PortPair;
  /** Stop after this long (ms). */
  durationMs: number;
  /** Stop after this many RTP packets (all SSRCs). */
  count?: number;
  /** Stop when no packet arrived for this long after the first one (ms). */
  idleMs?: number;
  /** Reflect packets back (echo server) instead of only counting them. */
  reflect?: boolean;
  /** A stream silent this long (a gap, or stopping before the end without RTCP BYE) fails. Default 2000. */
  mediaTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called about once a second with the streams so far (live progress). */
  onProgress?: (streams: StreamReport[]) => void;
  /** Dynamic payload type read as Opus (48 kHz RTP clock). Default 111 (what `probe rtp send --codec opus` sends). */
  opusPt?: number;
}

export interface ListenResult {
  local: string;
  duration_s: number;
  /** Why it stopped. */
  stopped_by: 'duration' | 'count' | 'idle' | 'interrupt';
  streams: StreamReport[];
  /** Streams silent longer than the media timeout. */
  failures: StreamFailure[];
}

const secs = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/**
 * Reports for every stream at the end of listening (`untilMs`, session
 * clock; null when the listener stopped on count or idle: no tail), with the
 * streams silent longer than `timeoutMs`.
 */
export function listenReports(
  streams: ReceivedStream[],
  untilMs: number | null,
  timeoutMs: number,
  delayMs = 0,
  dynamic: ReadonlyMap<number, AudioCodec> = LISTEN_CODECS,
): { streams: StreamReport[]; failures: StreamFailure[] } {
  const failures: StreamFailure[] = [];
  const reports = streams.map((stream) => {
    const last = stream.stats.lastArrivalMs ?? 0;
    const replaced = streams.some((o) => o !== stream && o.source === stream.source && (o.stats.lastArrivalMs ?? 0) > last);
    const tailUntilMs = untilMs !== null && !stream.bye && !replaced ? untilMs : null;
    const report = streamReport(stream, delayMs, { tailUntilMs }, dynamic);
    if (report.longest_silence_ms > timeoutMs) {
      const first = stream.stats.firstArrivalMs ?? 0;
      const tail = tailUntilMs !== null ? tailUntilMs - last : 0;
      const where =
        tail >= stream.stats.longestGapMs
          ? `stopped ${secs(last - first)} after its first packet and was silent for the last ${secs(tail)} (no RTCP BYE)`
          : `was silent for ${secs(stream.stats.longestGapMs)} from ${secs((stream.stats.longestGapFromMs ?? first) - first)} after its first packet`;
      failures.push({
        check: 'rtp_timeout',
        ssrc_hex: report.ssrc_hex,
        expected: timeoutMs,
        actual: report.longest_silence_ms,
        message: `stream ${report.ssrc_hex} from ${report.source} ${where} (media timeout ${secs(timeoutMs)})`,
      });
    }
    return report;
  });
  return { streams: reports, failures };
}

/** `probe rtp listen` / `probe rtp echo`: receive until duration, count, idle timeout or abort. */
export async function runListen(opts: ListenOptions): Promise<ListenResult> {
  // Reports every ~1 s (not 5 s) so that a short `send` still learns RTT and forward loss.
  const dynamic: ReadonlyMap<number, AudioCodec> = opts.opusPt === undefined ? LISTEN_CODECS : new Map([[opts.opusPt, 'opus']]);
  const session = new RtpSession({ ports: opts.ports, reflect: opts.reflect ?? false, rtcpIntervalMs: 1000, payloadCodecs: dynamic });
  const started = performance.now();
  let stoppedBy: ListenResult['stopped_by'] = 'duration';
  let packets = 0;
  let lastPacketAt = 0;
  let stopEarly!: (why: 'count' | 'idle') => void;
  const early = new Promise<'count' | 'idle'>((resolve) => (stopEarly = resolve));
  const countPackets = (): void => {
    packets++;
    lastPacketAt = performance.now();
    if (opts.count !== undefined && packets >= opts.count) stopEarly('count');
  };
  opts.ports.rtp.on('message', countPackets);
  const ticker = setInterval(() => {
    if (opts.idleMs !== undefined && lastPacketAt > 0 && performance.now() - lastPacketAt >= opts.idleMs) stopEarly('idle');
    opts.onProgress?.(session.receivedStreams().map((s) => streamReport(s, 0, undefined, dynamic)));
  }, Math.min(1000, opts.idleMs ?? 1000));
  let earlyWhy: 'count' | 'idle' | undefined;
  const why = await waitUntil(opts.durationMs, opts.signal, early.then((w) => (earlyWhy = w)));
  clearInterval(ticker);
  opts.ports.rtp.off('message', countPackets);
  if (why === 'aborted') stoppedBy = 'interrupt';
  else if (why === 'done' && earlyWhy) stoppedBy = earlyWhy;
  const rtt = session.stats().rtt_ms;
  // A stream that stopped before the end of listening (without BYE) was cut off;
  // stopping on count or idle means the user took its end as normal.
  const untilMs = stoppedBy === 'duration' || stoppedBy === 'interrupt' ? monotonicClock.now() : null;
  const { streams, failures } = listenReports(session.receivedStreams(), untilMs, opts.mediaTimeoutMs ?? 2000, rtt === null ? 0 : rtt / 2, dynamic);
  await session.close();
  return {
    local: `${opts.ports.address}:${opts.ports.rtpPort}`,
    duration_s: round((performance.now() - started) / 1000, 3),
    stopped_by: stoppedBy,
    streams,
    failures,
  };
}

export interface SendOptions {
  ports: PortPair;
  to: { address: string; port: number };
  durationMs: number;
  codec: AudioCodec;
  ptimeMs: number;
  audio?: AudioSource;
  /** Expect the packets back from `probe rtp echo` and report the round trip. */
  echo: boolean;
  signal?: AbortSignal;
  onProgress?: (sent: number, received: number) => void;
}

export interface SendResult {
  local: string;
  to: string;
  codec: AudioCodec;
  ptime_ms: number;
  duration_s: number;
  packets_sent: number;
  send_skipped: number;
  /** Process-wide pacer send lateness during the run. */
  send_lateness: LatenessSummary;
  rtt_ms: number | null;
  /** What the far end reported about our stream in RTCP (forward direction), if it reports. */
  forward: RemoteReport | null;
  /** With --echo: the packets that came back (round trip: both directions' loss and jitter). */
  round_trip: StreamReport | null;
  interrupted: boolean;
}

/** `probe rtp send [--echo]`. */
export async function runSend(opts: SendOptions): Promise<SendResult> {
  const pacer = sharedPacer();
  pacer.resetLateness();
  const session = new RtpSession({
    ports: opts.ports,
    codec: opts.codec,
    ptimeMs: opts.ptimeMs,
    remote: opts.to,
    rtcpIntervalMs: Math.min(5000, Math.max(500, opts.durationMs / 4)),
    // Send to the address given, even if replies come from elsewhere.
    latch: false,
    ...(opts.audio ? { audio: opts.audio } : {}),
  });
  const started = performance.now();
  const ticker = opts.onProgress
    ? setInterval(() => {
        const s = session.stats();
        opts.onProgress?.(s.packets_sent, s.packets_received);
      }, 1000)
    : undefined;
  session.start();
  const why = await waitUntil(opts.durationMs, opts.signal);
  session.stop();
  if (ticker) clearInterval(ticker);
  const durationS = round((performance.now() - started) / 1000, 3);
  // Let the last echoes and a final RTCP report arrive.
  if (opts.echo && why !== 'aborted') await waitUntil(300 + 2 * opts.ptimeMs, opts.signal);
  const stats = session.stats();
  const echoed = session.receivedStreams().sort((a, b) => b.stats.received - a.stats.received)[0];
  const result: SendResult = {
    local: `${opts.ports.address}:${opts.ports.rtpPort}`,
    to: `${opts.to.address}:${opts.to.port}`,
    codec: opts.codec,
    ptime_ms: opts.ptimeMs,
    duration_s: durationS,
    packets_sent: stats.packets_sent,
    send_skipped: stats.send_skipped,
    send_lateness: pacer.lateness(),
    rtt_ms: stats.rtt_ms,
    forward: stats.remote_report,
    // the round trip is due every packet we sent
    round_trip: opts.echo && echoed ? streamReport({ ...echoed, senderPackets: stats.packets_sent }, 0, undefined, new Map([[session.payloadType, opts.codec]])) : null,
    interrupted: why === 'aborted',
  };
  await session.close();
  return result;
}
