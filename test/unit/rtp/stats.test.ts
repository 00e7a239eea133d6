import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DROPOUT, RtpReceiverStats } from '../../../src/rtp/stats.js';

interface Ref {
  vectors: [
    { seq: number[]; expected: number; received: number; cumulative_lost: number; fraction_lost: number },
    { arrival_offsets_ms: number[]; jitter_ts_after_each: number[] },
  ];
}
const ref = JSON.parse(readFileSync(new URL('./fixtures/rfc3550.json', import.meta.url), 'utf8')) as Ref;

/** Feeds packets sent every 20 ms with +160 timestamps, arriving at their send time + extra. */
function feed(stats: RtpReceiverStats, seqs: number[], extraMs: (i: number) => number = () => 0): void {
  seqs.forEach((seq, i) => stats.update(seq, 1000 + i * 160, 5000 + i * 20 + extraMs(i)));
}

describe('RFC 3550 reference vectors (copy of /work/shared/reference/rfc3550.json)', () => {
  it('sequence wrap with one loss: A.1 extended seq, A.3 expected/lost/fraction', () => {
    const v = ref.vectors[0];
    const s = new RtpReceiverStats({ clockRate: 8000 });
    for (const seq of v.seq) s.update(seq, 0, 0);
    const snap = s.snapshot();
    expect(snap.expected).toBe(v.expected);
    expect(snap.received).toBe(v.received);
    expect(snap.cumulativeLost).toBe(v.cumulative_lost);
    expect(snap.lost).toBe(v.cumulative_lost);
    expect(snap.extendedHighestSeq).toBe(65536 + 2);
    const block = s.takeReportBlock();
    expect(block.fractionLost).toBe(v.fraction_lost);
    expect(block.cumulativeLost).toBe(v.cumulative_lost);
    expect(block.extendedHighestSeq).toBe(65538);
  });

  it('A.8 jitter after each packet (one packet 10 ms late)', () => {
    const v = ref.vectors[1];
    const s = new RtpReceiverStats({ clockRate: 8000 });
    const after: number[] = [];
    v.arrival_offsets_ms.forEach((off, i) => {
      s.update(100 + i, 160 * i, 20 * i + off);
      after.push(s.snapshot().jitterTs);
    });
    expect(after).toEqual(v.jitter_ts_after_each);
    const last = v.jitter_ts_after_each.at(-1) ?? NaN;
    expect(s.snapshot().jitterMs).toBeCloseTo(last / 8, 12);
    expect(s.snapshot().jitterMaxMs).toBeCloseTo(Math.max(...v.jitter_ts_after_each) / 8, 12);
    const mean = v.jitter_ts_after_each.reduce((a, b) => a + b, 0) / v.jitter_ts_after_each.length;
    expect(s.snapshot().jitterMeanMs).toBeCloseTo(mean / 8, 12);
  });
});

describe('RtpReceiverStats', () => {
  it('counts a clean stream with no loss and zero jitter', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    feed(s, Array.from({ length: 50 }, (_, i) => i));
    const snap = s.snapshot();
    expect(snap).toMatchObject({ received: 50, expected: 50, lost: 0, duplicates: 0, outOfOrder: 0, jitterTs: 0, burstRatio: 1 });
    expect(snap.firstArrivalMs).toBe(5000);
    expect(snap.lastArrivalMs).toBe(5000 + 49 * 20);
  });

  it('detects duplicates without counting them as received-unique', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    expect(s.update(10, 0, 0)).toBe('in_order');
    expect(s.update(11, 160, 20)).toBe('in_order');
    expect(s.update(11, 160, 21)).toBe('duplicate');
    expect(s.update(10, 0, 22)).toBe('duplicate');
    expect(s.update(12, 320, 40)).toBe('in_order');
    const snap = s.snapshot();
    expect(snap.duplicates).toBe(2);
    expect(snap.received).toBe(5); // RFC counts them
    expect(snap.cumulativeLost).toBe(-2); // RFC: may go negative
    expect(snap.lost).toBe(0);
    expect(snap.outOfOrder).toBe(0);
  });

  it('counts a late packet as out of order and fills the gap', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    s.update(1, 160, 20);
    s.update(3, 480, 60);
    s.update(2, 320, 61);
    s.update(4, 640, 80);
    const snap = s.snapshot();
    expect(snap.outOfOrder).toBe(1);
    expect(snap.lost).toBe(0);
    expect(snap.expected).toBe(4);
  });

  it('handles reordering across the wrap', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    s.update(65534, 0, 0);
    s.update(0, 320, 40);
    expect(s.update(65535, 160, 41)).toBe('out_of_order');
    expect(s.update(65535, 160, 42)).toBe('duplicate');
    const snap = s.snapshot();
    expect(snap.expected).toBe(3);
    expect(snap.lost).toBe(0);
  });

  it('ignores one jump beyond MAX_DROPOUT, re-syncs on two sequential packets (A.1) and keeps the first segment', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    feed(s, [1, 2, 3]);
    expect(s.update(3 + MAX_DROPOUT + 10, 0, 100)).toBe('bad_seq');
    expect(s.snapshot().received).toBe(3);
    expect(s.update(3 + MAX_DROPOUT + 11, 160, 120)).toBe('restart');
    const snap = s.snapshot();
    // the new segment starts at the packet that was held back, which really arrived
    expect(snap.baseSeq).toBe(3 + MAX_DROPOUT + 10);
    expect(snap).toMatchObject({ received: 5, expected: 5, lost: 0, restarts: 1 });
  });

  describe('sender restart mid-stream (same SSRC, new sequence and timestamp base)', () => {
    /** 20 ms G.711 packets: `n` of them from (seq0, ts0), arriving every 20 ms from `t0`. */
    function stream(s: RtpReceiverStats, seq0: number, ts0: number, t0: number, n: number, skip: (i: number) => boolean = () => false): void {
      for (let i = 0; i < n; i++) if (!skip(i)) s.update((seq0 + i) & 0xffff, (ts0 + i * 160) >>> 0, t0 + i * 20);
    }

    it('far jump: loss and jitter stay right (A.1 re-sync resets the transit reference)', () => {
      const s = new RtpReceiverStats({ clockRate: 8000 });
      stream(s, 1000, 123_456, 0, 200, (i) => i === 50); // 1 lost before the restart
      stream(s, 40_000, 3_900_000_000, 4000, 300, (i) => i === 100 || i === 101); // 2 lost after
      const snap = s.snapshot();
      expect(snap).toMatchObject({ received: 497, expected: 500, lost: 3, restarts: 1 });
      expect(snap.lossPercent).toBeCloseTo(0.6, 10);
      // today's bug read ~456,744 ms here: the new timestamp base entered the estimate
      expect(snap.jitterMs).toBeLessThan(0.001);
      expect(snap.jitterMaxMs).toBeLessThan(0.001);
    });

    it('jump inside MAX_DROPOUT is recognised by the timestamp, not counted as a gap of lost packets', () => {
      const s = new RtpReceiverStats({ clockRate: 8000 });
      stream(s, 1000, 500, 0, 100);
      // restarted sender whose random sequence lands 1500 ahead; its timestamp is unrelated
      stream(s, 2600, 2_000_000_000, 2000, 100);
      const snap = s.snapshot();
      expect(snap).toMatchObject({ received: 200, expected: 200, lost: 0, restarts: 1 });
      expect(snap.jitterMaxMs).toBeLessThan(0.001);
    });

    it('a real outage (timestamps in step with the clock) is still loss, not a restart', () => {
      const s = new RtpReceiverStats({ clockRate: 8000 });
      stream(s, 1000, 500, 0, 300, (i) => i >= 100 && i < 250); // 3 s without packets
      const snap = s.snapshot();
      expect(snap).toMatchObject({ received: 150, expected: 300, lost: 150, restarts: 0 });
      expect(snap.burstRatio).toBeGreaterThan(10);
    });

    it('timestamp reset with consecutive sequence numbers moves the jitter reference only', () => {
      const s = new RtpReceiverStats({ clockRate: 8000 });
      stream(s, 10, 0, 0, 50);
      stream(s, 60, 1_234_567_890, 1000, 50);
      const snap = s.snapshot();
      expect(snap).toMatchObject({ received: 100, expected: 100, lost: 0 });
      expect(snap.jitterMaxMs).toBeLessThan(0.001);
    });

    it('RTCP cumulative lost covers both segments', () => {
      const s = new RtpReceiverStats({ clockRate: 8000 });
      stream(s, 100, 0, 0, 10, (i) => i === 5);
      stream(s, 50_000, 9_999_999, 1000, 10, (i) => i === 5);
      expect(s.takeReportBlock().cumulativeLost).toBe(2);
    });
  });

  it('computes fraction lost per interval (A.3)', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    feed(s, [0, 1, 2, 3]);
    expect(s.takeReportBlock().fractionLost).toBe(0);
    feed(s, [6, 7]); // 4 expected in the interval (4..7), 2 received
    expect(s.takeReportBlock()).toMatchObject({ fractionLost: 128, cumulativeLost: 2, extendedHighestSeq: 7 });
    expect(s.takeReportBlock().fractionLost).toBe(0); // empty interval
  });

  it('supports RFC probation (MIN_SEQUENTIAL) when asked', () => {
    const s = new RtpReceiverStats({ clockRate: 8000, probation: 2 });
    expect(s.update(100, 0, 0)).toBe('probation');
    expect(s.hasPackets).toBe(false);
    expect(s.update(101, 160, 20)).toBe('in_order');
    s.update(102, 320, 40);
    expect(s.snapshot()).toMatchObject({ received: 2, expected: 2, baseSeq: 101 });
  });

  it('measures bursty loss as burst ratio > 1', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    const seqs = Array.from({ length: 100 }, (_, i) => i).filter((i) => i < 40 || i >= 45);
    feed(s, seqs);
    const snap = s.snapshot();
    expect(snap.lost).toBe(5);
    expect(snap.lossPercent).toBeCloseTo(5, 10);
    expect(snap.burstRatio).toBeGreaterThan(4);
  });

  it('jitter is wrap-safe on the 32-bit timestamp and skips packets marked jitter:false', () => {
    const s = new RtpReceiverStats({ clockRate: 8000 });
    const base = 2 ** 32 - 320;
    for (let i = 0; i < 5; i++) s.update(i, (base + i * 160) >>> 0, i * 20);
    expect(s.snapshot().jitterTs).toBe(0);
    s.update(5, 12345, 100, { jitter: false }); // an RFC 4733 event packet
    s.update(6, (base + 6 * 160) >>> 0, 120);
    expect(s.snapshot().jitterTs).toBe(0);
  });

  it('property: lost + unique received = expected for any in-window permutation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 80 }),
        (start, offsets) => {
          const s = new RtpReceiverStats({ clockRate: 8000 });
          // First packet defines the base; offsets are relative to it.
          s.update(start, 0, 0);
          offsets.forEach((o, i) => s.update((start + o) & 0xffff, o * 160, i));
          const snap = s.snapshot();
          const unique = new Set([0, ...offsets]).size;
          return snap.received - snap.duplicates === unique && snap.lost === snap.expected - unique;
        },
      ),
    );
  });
});
