// The per-direction media report of a call (`media.directions` of a call or scenario
// result): what the receiver of each direction measured, or what the far end said in RTCP,
// or that nobody measured it. Shared by the call probe and scenarios.
import { computeQuality } from '../quality/emodel.js';
import type { AudioCodec } from '../rtp/codec.js';
import type { SrtpReceiveCounters } from '../rtp/srtp-socket.js';
import type { RtpSessionStats } from '../rtp/session.js';
import { round } from '../round.js';
import type { AudioReport } from './content.js';

export interface DirectionResult {
  direction: 'caller_to_callee' | 'callee_to_caller';
  /** "receiver": measured where the packets arrived; "rtcp": from the far end's RTCP report; "none": unknown. */
  measured_by: 'receiver' | 'rtcp' | 'none';
  /** Local RTP port of the agent's socket at this direction's end (receiver, or sender for RTCP/none). */
  local_rtp_port: number;
  packets_sent: number | null;
  /** Packets due over the whole media phase (the sender's count when known; RFC 3550 A.3 plus the missing tail otherwise). */
  packets_expected: number | null;
  packets_received: number | null;
  /** Unmeasured tail packets of our own far sender that arrived (src/call/media-end.ts); on the wire, not in packets_received. */
  tail_packets?: number;
  packets_lost: number | null;
  loss_percent: number | null;
  duplicates: number | null;
  out_of_order: number | null;
  jitter_ms: number | null;
  jitter_max_ms: number | null;
  /** Mean of the RFC 3550 estimate over the call (tshark's "Mean Jitter"); jitter_ms is its final value. */
  jitter_mean_ms: number | null;
  burst_ratio: number | null;
  /** Longest stretch without RTP at the receiver during the media phase (ms). */
  longest_silence_ms: number | null;
  /** R on the model's scale: 0–100 for G.107 (G.711), 0–129 for G.107.1 (G.722). */
  r_factor: number | null;
  mos: number | null;
  /** The E-model that gave r_factor and mos (null when not measured). */
  emodel: 'G.107' | 'G.107.1' | null;
  /**
   * Only on calls with media.srtp optional/required: what this direction's
   * receiver (ours) verified. null: it received plain RTP; absent: not our receiver.
   * Packets failing authentication or replaying are dropped, so they are loss too.
   */
  srtp?: DirectionSrtp | null;
  /** What the receiver heard, from the decoded audio (absent when analysis is off or nobody of ours received). */
  audio?: AudioReport;
}

export interface DirectionSrtp {
  suite: SrtpReceiveCounters['suite'];
  packets_authenticated: number;
  auth_failures: number;
  replays: number;
  malformed: number;
}

/** The receive side's SRTP counters as a direction reports them (undefined: no SRTP on that leg). */
export function directionSrtp(c: SrtpReceiveCounters | undefined): DirectionSrtp | null {
  if (!c) return null;
  return { suite: c.suite, packets_authenticated: c.packets_authenticated, auth_failures: c.auth_failures, replays: c.replays, malformed: c.malformed };
}

/** A direction nobody measured: only what was sent (if known). */
export function unmeasured(direction: DirectionResult['direction'], sent: number | null, port: number): DirectionResult {
  return {
    direction,
    measured_by: 'none',
    local_rtp_port: port,
    packets_sent: sent,
    packets_expected: null,
    packets_received: null,
    packets_lost: null,
    loss_percent: null,
    duplicates: null,
    out_of_order: null,
    jitter_ms: null,
    jitter_max_ms: null,
    jitter_mean_ms: null,
    burst_ratio: null,
    longest_silence_ms: null,
    r_factor: null,
    mos: null,
    emodel: null,
  };
}

/** A direction as its receiving session measured it (RFC 3550 statistics, E-model). */
export function fromReceiver(direction: DirectionResult['direction'], sent: number | null, rx: RtpSessionStats, port: number): DirectionResult {
  return {
    direction,
    measured_by: 'receiver',
    local_rtp_port: port,
    packets_sent: sent,
    packets_expected: rx.packets_expected,
    packets_received: rx.packets_received,
    ...(rx.tail_packets > 0 ? { tail_packets: rx.tail_packets } : {}),
    packets_lost: rx.packets_lost,
    loss_percent: rx.loss_percent,
    duplicates: rx.duplicates,
    out_of_order: rx.out_of_order,
    jitter_ms: rx.jitter_ms,
    jitter_max_ms: rx.jitter_max_ms,
    jitter_mean_ms: rx.jitter_mean_ms,
    burst_ratio: rx.burst_ratio,
    longest_silence_ms: rx.longest_silence_ms,
    r_factor: rx.r_factor,
    mos: rx.mos,
    emodel: rx.emodel,
  };
}

/** Our outgoing direction as the far end reported it in RTCP (trunk calls), else unknown. */
export function fromRemoteReport(direction: DirectionResult['direction'], codec: AudioCodec, tx: RtpSessionStats, delayMs: number, port: number): DirectionResult {
  const base = unmeasured(direction, tx.packets_sent, port);
  const rr = tx.remote_report;
  if (!rr) return base;
  const lossPercent = tx.packets_sent > 0 ? Math.min(100, (Math.max(0, rr.cumulative_lost) / tx.packets_sent) * 100) : 0;
  const q = computeQuality({ codec, lossPercent, burstRatio: 1, delayMs });
  return {
    ...base,
    measured_by: 'rtcp',
    packets_lost: rr.cumulative_lost,
    loss_percent: round(lossPercent),
    jitter_ms: round(rr.jitter_ms, 3),
    r_factor: q.r_factor,
    mos: q.mos,
    emodel: q.emodel,
  };
}
