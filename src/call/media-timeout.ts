// The media timeout: a direction whose receiver heard nothing for longer than
// this during the media phase failed (rtpengine died, a NAT binding expired,
// the far end stopped sending). One rule for the call probe, scenarios and
// `probe answer`.
import type { RtpSessionStats } from '../rtp/session.js';

/** A Failure of the probe result (probes/result.ts), at phase media. */
export interface MediaTimeoutFailure {
  check: 'one_way_audio' | 'rtp_timeout';
  phase: 'media';
  expected: number;
  actual: number;
  message: string;
}

/** Default media timeout (ms): config rtp.media_timeout, --media-timeout. */
export const DEFAULT_MEDIA_TIMEOUT_MS = 2000;

const ARROW = { caller_to_callee: 'caller→callee', callee_to_caller: 'callee→caller' } as const;

const secs = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/**
 * The failure for a receive direction that was silent longer than
 * `timeoutMs`, if it was: `one_way_audio` when no RTP arrived at all,
 * `rtp_timeout` when the stream started late, paused, or stopped.
 */
export function mediaTimeoutFailure(
  direction: keyof typeof ARROW,
  rx: Pick<RtpSessionStats, 'longest_silence_ms' | 'silence'>,
  timeoutMs: number,
): MediaTimeoutFailure | undefined {
  if (rx.longest_silence_ms <= timeoutMs) return undefined;
  const dir = ARROW[direction];
  const long = secs(rx.longest_silence_ms);
  const at = `${rx.silence.from_s} s into the media phase`;
  const limit = `(media timeout ${secs(timeoutMs)})`;
  const base = { phase: 'media' as const, expected: timeoutMs, actual: rx.longest_silence_ms };
  switch (rx.silence.where) {
    case 'none':
      return { ...base, check: 'one_way_audio', message: `no RTP ${dir} in ${long} since media started (one-way audio) ${limit}` };
    case 'start':
      return { ...base, check: 'rtp_timeout', message: `first RTP ${dir} only ${long} after media started ${limit}` };
    case 'gap':
      return { ...base, check: 'rtp_timeout', message: `RTP ${dir} was silent for ${long} from ${at} ${limit}` };
    case 'end':
      return { ...base, check: 'rtp_timeout', message: `RTP ${dir} stopped ${at} and was silent for the last ${long} ${limit}` };
  }
}
