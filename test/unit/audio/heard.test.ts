import { describe, expect, it } from 'vitest';
import { atFingerprintRate, HeardAudio } from '../../../src/audio/heard.js';

const frame = (value: number, n = 160): Int16Array => new Int16Array(n).fill(value);

describe('HeardAudio', () => {
  it('places frames by RTP timestamp: a lost packet is a gap marked not heard', () => {
    const h = new HeardAudio();
    h.add(1, frame(100), 8000, 1000, 10_000);
    // packet 2 (ts 1160) lost; packet 3 arrives late (jitter) but lands at its timestamp
    h.add(1, frame(300), 8000, 1320, 10_070);
    const s = h.snapshot();
    expect(s.rate).toBe(8000);
    expect(s.samples.length).toBe(480);
    expect(s.samples[0]).toBe(100);
    expect(s.samples[200]).toBe(0);
    expect(s.heard[200]).toBe(0);
    expect(s.samples[400]).toBe(300);
    expect(s.heard[400]).toBe(1);
    expect(h.seconds).toBeCloseTo(0.06, 6);
    // time of sample 0: the least delayed packet (the first, at 10 000 ms)
    expect(s.startMs).toBe(10_000);
    expect(h.indexAt(10_040)).toBe(320);
  });

  it('handles RTP timestamp wrap-around and drops packets older than the first', () => {
    const h = new HeardAudio();
    h.add(7, frame(1), 8000, 0xffffff60, 0);
    h.add(7, frame(2), 8000, 0x00000000, 20); // 160 later, across the wrap
    h.add(7, frame(3), 8000, 0xffffff00, 25); // before the first: dropped
    const s = h.snapshot();
    expect(s.samples.length).toBe(320);
    expect(s.samples[170]).toBe(2);
  });

  it('places a new SSRC by its arrival time', () => {
    const h = new HeardAudio();
    h.add(1, frame(1), 8000, 5000, 1000);
    h.add(2, frame(9), 8000, 123456, 1500); // announcement stream starts 500 ms later
    const s = h.snapshot();
    expect(s.samples[4000]).toBe(9);
    expect(s.heard[3000]).toBe(0);
  });

  it('keeps a wideband timeline and gives it at 8 kHz for the fingerprint', () => {
    const h = new HeardAudio();
    h.add(1, frame(1000, 320), 16000, 0, 0);
    h.add(1, frame(1000, 160), 8000, 160, 20); // a narrowband frame is upsampled onto it
    const s = h.snapshot();
    expect(s.rate).toBe(16000);
    expect(s.samples.length).toBe(640);
    const n = atFingerprintRate(s);
    expect(n.samples.length).toBe(320);
    expect(n.samples[100]).toBe(1000);
    expect(n.heard.every((v) => v === 1)).toBe(true);
    expect(() => h.add(1, frame(1), 44100, 320, 40)).toThrow(RangeError);
  });

  it('keeps at most maxSeconds and cuts a snapshot by time', () => {
    const h = new HeardAudio({ maxSeconds: 1 });
    for (let i = 0; i < 100; i++) h.add(1, frame(i), 8000, i * 160, i * 20);
    expect(h.seconds).toBe(1);
    const part = h.snapshot({ fromMs: 200, toMs: 400 });
    expect(part.samples.length).toBe(1600);
    expect(part.samples[0]).toBe(10);
    expect(part.startMs).toBe(200);
    expect(new HeardAudio().snapshot().samples.length).toBe(0);
  });
});
