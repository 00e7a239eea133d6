import { describe, expect, it } from 'vitest';
import { ActivityTracker, coverMediaPhase, withoutTail } from '../../../src/rtp/activity.js';
import { emptyTransitions } from '../../../src/quality/burst.js';
import { mediaTimeoutFailure } from '../../../src/call/media-timeout.js';

/** Notes one packet every 20 ms in [fromMs, toMs). */
function packets(t: ActivityTracker, fromMs: number, toMs: number): void {
  for (let ms = fromMs; ms < toMs; ms += 20) t.note(ms);
}

describe('ActivityTracker', () => {
  it('a steady stream has no silence beyond one packet interval, tail included', () => {
    const t = new ActivityTracker(0);
    packets(t, 30, 10_000);
    expect(t.silence(10_000)).toMatchObject({ longestMs: 30, where: 'start' });
  });

  it('a stream that stops reports the tail from its last packet to the end', () => {
    const t = new ActivityTracker(0);
    packets(t, 20, 4000);
    expect(t.silence(12_000)).toEqual({ longestMs: 12_000 - 3980, fromMs: 3980, where: 'end' });
  });

  it('a pause in the middle is a gap; nothing at all is "none"', () => {
    const t = new ActivityTracker(100);
    packets(t, 120, 2000);
    packets(t, 5000, 8000);
    expect(t.silence(8000)).toEqual({ longestMs: 5000 - 1980, fromMs: 1980, where: 'gap' });
    expect(new ActivityTracker(100).silence(3100)).toEqual({ longestMs: 3000, fromMs: 100, where: 'none' });
  });

  it('silence while suspended (hold) does not count', () => {
    const t = new ActivityTracker(0);
    packets(t, 20, 2000);
    t.suspend(2000);
    t.resume(9000);
    packets(t, 9010, 10_000);
    expect(t.silence(10_000).longestMs).toBeLessThan(100);
    t.suspend(10_000);
    expect(t.silence(30_000).longestMs).toBeLessThan(100);
  });
});

describe('coverMediaPhase', () => {
  const counted = { expected: 200, received: 200, duplicates: 0, lost: 0, transitions: { ...emptyTransitions(), receivedToReceived: 199 } };

  it('counts the packets due after the last arrival as a lost burst (RFC 3550 A.3 alone would say 0 %)', () => {
    const c = coverMediaPhase(counted, { untilMs: 12_000, startMs: 0, packetMs: 20, lastArrivalMs: 4000, sent: null });
    expect(c.missingTail).toBe(399);
    expect(c.expected).toBe(599);
    expect(c.lossPercent).toBeCloseTo((399 / 599) * 100, 10);
    expect(c.burstRatio).toBeGreaterThan(10);
  });

  it('never expects fewer than the sender says it sent; a stream that ran to the end adds nothing', () => {
    expect(coverMediaPhase(counted, { untilMs: 4010, startMs: 0, packetMs: 20, lastArrivalMs: 4000, sent: 203 })).toMatchObject({ expected: 203, lost: 3 });
    expect(coverMediaPhase(counted, { untilMs: 4030, startMs: 0, packetMs: 20, lastArrivalMs: 4000 })).toMatchObject({ expected: 200, lost: 0, burstRatio: 1 });
  });

  it('nothing received: the whole phase was due', () => {
    const none = { expected: 0, received: 0, duplicates: 0, lost: 0, transitions: emptyTransitions() };
    expect(coverMediaPhase(none, { untilMs: 2000, startMs: 0, packetMs: 20, lastArrivalMs: null })).toMatchObject({ expected: 99, lost: 99, lossPercent: 100 });
  });
});

describe('mediaTimeoutFailure', () => {
  it('names the direction, where the silence was and the timeout', () => {
    expect(mediaTimeoutFailure('caller_to_callee', { longest_silence_ms: 1999, silence: { where: 'end', from_s: 4 } }, 2000)).toBeUndefined();
    expect(mediaTimeoutFailure('caller_to_callee', { longest_silence_ms: 8000, silence: { where: 'end', from_s: 4.05 } }, 2000)).toEqual({
      check: 'rtp_timeout',
      phase: 'media',
      expected: 2000,
      actual: 8000,
      message: 'RTP caller→callee stopped 4.05 s into the media phase and was silent for the last 8 s (media timeout 2 s)',
    });
    expect(mediaTimeoutFailure('callee_to_caller', { longest_silence_ms: 3000, silence: { where: 'gap', from_s: 1 } }, 2000)?.message).toBe(
      'RTP callee→caller was silent for 3 s from 1 s into the media phase (media timeout 2 s)',
    );
    expect(mediaTimeoutFailure('callee_to_caller', { longest_silence_ms: 2500, silence: { where: 'none', from_s: 0 } }, 2000)?.check).toBe('one_way_audio');
  });
});

describe('withoutTail', () => {
  const counted = (expected: number, received: number) => ({ expected, received, lost: expected - received });
  it('takes the tail that arrived off expected and received, never more than the tail', () => {
    expect(withoutTail(counted(102, 102), 100, 2)).toMatchObject({ expected: 100, received: 100, lost: 0 });
    expect(withoutTail(counted(101, 101), 100, 2)).toMatchObject({ expected: 100, received: 100 });
    expect(withoutTail(counted(105, 105), 100, 2)).toMatchObject({ expected: 103, received: 103 });
  });
  it('leaves a stream that ended at or before the measured count alone (a cut end stays loss)', () => {
    expect(withoutTail(counted(90, 90), 100, 2)).toEqual(counted(90, 90));
    expect(withoutTail(counted(100, 97), 100, 2)).toEqual(counted(100, 97));
  });
  it('does nothing without a sender count or a tail', () => {
    expect(withoutTail(counted(102, 102), null, 2)).toEqual(counted(102, 102));
    expect(withoutTail(counted(102, 102), 100, 0)).toEqual(counted(102, 102));
  });
  it('a direct path that lost packets in the middle keeps them as loss', () => {
    const c = withoutTail(counted(102, 99), 100, 2);
    expect(c.expected - c.received).toBe(3);
  });
});
