// The end of a call's measured media, shared by `probe call` and scenarios: both
// senders stop, and when both ends are ours each sends a short tail after its
// measured stream (RtpSession.stop({ tailFrames })) that the receiver discounts
// (stats({ phase })). Why: a transcoding relay holds the last frame it got until the
// next one arrives (rtpengine's resampler delay, lib/codeclib.c encoder_input_fifo),
// which read as one lost packet per transcoded direction. docs/decisions.md has the
// trade-off.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RtpSession } from '../rtp/session.js';

/** Frames sent after the measured stream when the receiver is ours. */
export const TAIL_FRAMES = 2;

/** Stops both senders (with tails when both ends are ours) and waits for packets in flight. */
export async function endMeasuredMedia(near: RtpSession, far: RtpSession | undefined): Promise<void> {
  const tail = far ? TAIL_FRAMES : 0;
  const nearTail = near.stop({ tailFrames: tail });
  const farTail = far?.stop({ tailFrames: tail });
  far?.expectTail(nearTail);
  near.expectTail(farTail);
  await sleep(Math.max(80, tail * Math.max(near.packetMs, far?.packetMs ?? 0) + 40));
}

/** What a receiver's loss covers: the measured count and tail of the sender, when that sender is ours. */
export function sentBy(sender: RtpSession | undefined): { sent: number | null; tail: number } {
  return sender ? { sent: sender.sentPackets, tail: TAIL_FRAMES } : { sent: null, tail: 0 };
}
