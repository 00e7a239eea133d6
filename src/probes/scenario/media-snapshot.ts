// The media section of a scenario's call: both senders stopped (with the unmeasured
// tail when both ends are ours, call/media-end.ts) and each direction as its receiver
// measured it, SRTP counters included when the call was SRTP. Same shape as the call
// probe's.
import { endMeasuredMedia, sentBy } from '../../call/media-end.js';
import { directionSrtp, fromReceiver, unmeasured } from '../../call/media-report.js';
import { round } from '../../round.js';
import type { ActiveCall, ScenarioCall } from './driver-types.js';
import type { SrtpMode } from '../../config/srtp-keys.js';

/** Stops both senders, lets packets in flight land, and reports both directions (null without media). */
export async function snapshotCallMedia(call: ActiveCall, srtpMode: SrtpMode): Promise<ScenarioCall['media']> {
  const session = call.session;
  if (!session || call.answer === undefined) return null;
  const stoppedAt = Date.now();
  await endMeasuredMedia(session, call.far?.session);
  const mine = session.stats({ phase: sentBy(call.far?.session) });
  const theirs = call.far?.session.stats({ phase: sentBy(session) });
  const media: NonNullable<ScenarioCall['media']> = {
    codec: call.answer.codec ?? 'PCMU',
    duration_s: round((call.answeredAt !== undefined ? stoppedAt - call.answeredAt : 0) / 1000),
    rtt_ms: mine.rtt_ms,
    directions: [
      theirs
        ? fromReceiver('caller_to_callee', mine.packets_sent, theirs, call.far?.session.localPort ?? 0)
        : unmeasured('caller_to_callee', mine.packets_sent, session.localPort),
      fromReceiver('callee_to_caller', theirs ? theirs.packets_sent : null, mine, session.localPort),
    ],
  };
  if (srtpMode !== 'off') {
    media.srtp = { mode: srtpMode, key_exchange: 'sdes', suite: call.srtp?.suite ?? null };
    const [there, back] = media.directions;
    if (there && call.far) there.srtp = directionSrtp(call.far.srtp?.());
    if (back) back.srtp = directionSrtp(call.srtp?.pair.counters());
  }
  return media;
}
