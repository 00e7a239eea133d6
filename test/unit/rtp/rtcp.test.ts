import { describe, expect, it } from 'vitest';
import { buildReport, compactNtp, msToCompact, ntpFromMs, parseRtcp, roundTripMs } from '../../../src/rtp/rtcp.js';

describe('NTP time (RFC 3550 §4)', () => {
  it('converts Unix ms to NTP and to the compact middle 32 bits', () => {
    const ntp = ntpFromMs(0);
    expect(ntp).toEqual({ seconds: 2_208_988_800, fraction: 0 });
    const half = ntpFromMs(1500);
    expect(half.seconds).toBe(2_208_988_801);
    expect(half.fraction).toBe(2 ** 31);
    expect(compactNtp(half)).toBe(((2_208_988_801 & 0xffff) << 16) | 0x8000);
    expect(msToCompact(1000)).toBe(65536);
  });
});

describe('SR/RR build and parse (rtp.js)', () => {
  const block = { ssrc: 0xcafe, fractionLost: 51, cumulativeLost: 5000, extendedHighestSeq: 65538, jitter: 12, lsr: 0x12345678, dlsr: 65536 };

  it('round-trips an SR with a report block, SDES and BYE', () => {
    const buf = buildReport({
      ssrc: 0xabc,
      cname: 'probe@test',
      sender: { ntp: { seconds: 3_900_000_000, fraction: 123456 }, rtpTimestamp: 160_000, packetCount: 500, octetCount: 80_000 },
      blocks: [block],
      bye: true,
    });
    const parsed = parseRtcp(buf);
    expect(parsed.byes).toEqual([0xabc]);
    expect(parsed.reports).toHaveLength(1);
    const sr = parsed.reports[0];
    expect(sr?.type).toBe('SR');
    expect(sr?.ssrc).toBe(0xabc);
    expect(sr?.sender).toEqual({
      ntpCompact: compactNtp({ seconds: 3_900_000_000, fraction: 123456 }),
      rtpTimestamp: 160_000,
      packetCount: 500,
      octetCount: 80_000,
    });
    // cumulative lost above 4095 survives (rtp.js reads it with a 12-bit mask; we do not)
    expect(sr?.blocks).toEqual([block]);
  });

  it('builds an RR when we did not send', () => {
    const parsed = parseRtcp(buildReport({ ssrc: 7, cname: 'x', blocks: [block, { ...block, ssrc: 9 }] }));
    expect(parsed.reports[0]?.type).toBe('RR');
    expect(parsed.reports[0]?.blocks.map((b) => b.ssrc)).toEqual([0xcafe, 9]);
  });

  it('reads a negative cumulative lost (24-bit two\'s complement)', () => {
    const buf = buildReport({ ssrc: 7, cname: 'x', blocks: [block] });
    // RR header 8 bytes, block: ssrc(4) then fraction(1) + cumulative(3)
    buf.writeUIntBE(0xfffffe, 8 + 5, 3); // -2
    expect(parseRtcp(buf).reports[0]?.blocks[0]?.cumulativeLost).toBe(-2);
  });

  it('throws on garbage', () => {
    expect(() => parseRtcp(Buffer.from([0x80, 0xc8, 0x00, 0x09]))).toThrow();
  });
});

describe('round-trip time (RFC 3550 §6.4.1)', () => {
  it('is A − LSR − DLSR', () => {
    // example of the RFC: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s)
    expect(roundTripMs(0xb7108000, 0xb7052000, 0x00054000)).toBeCloseTo(6125, 6);
  });
  it('is null without an SR or when negative', () => {
    expect(roundTripMs(0xb7108000, 0, 0)).toBeNull();
    expect(roundTripMs(0x00010000, 0x00020000, 0)).toBeNull();
  });
  it('survives the 32-bit wrap', () => {
    expect(roundTripMs(0x00000100, 0xffffff00, 0)).toBeCloseTo((0x200 / 65536) * 1000, 9);
  });
});
