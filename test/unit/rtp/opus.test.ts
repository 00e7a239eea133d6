// Opus through opusscript (libopus in WebAssembly): what we send is wideband Opus at
// about the bitrate the E-model row assumes, and it decodes back to the signal.
import { describe, expect, it } from 'vitest';
import { encodedFrames, speechLikeSignal, upsampleTo16k } from '../../../src/rtp/audio.js';
import { OPUS_BITRATE, OpusDecoder, opusBandwidth } from '../../../src/rtp/opus.js';
import { clockRateOf, codecOfName, codecOfPayloadType, codecOfRtpmap, payloadTypeOf } from '../../../src/rtp/codec.js';

describe('Opus frames', () => {
  const src = speechLikeSignal(2);
  const frames = encodedFrames(src, 'opus', 160);

  it('one packet per 20 ms, every one coded wideband (TOC, RFC 6716 §3.1), near the target bitrate', () => {
    expect(frames).toHaveLength(100);
    for (const f of frames) expect(opusBandwidth(f)).toBe('WB');
    const bits = frames.reduce((n, f) => n + 8 * f.length, 0);
    const bitrate = bits / 2;
    // VBR: the encoder spends less on pauses; never far above the target.
    expect(bitrate).toBeGreaterThan(0.5 * OPUS_BITRATE);
    expect(bitrate).toBeLessThan(1.2 * OPUS_BITRATE);
  });

  it('decodes back to the 16 kHz signal (best-lag correlation over the talk)', () => {
    const decoder = new OpusDecoder();
    const out: number[] = [];
    for (const f of frames) out.push(...decoder.decode(f));
    decoder.close();
    expect(out).toHaveLength(frames.length * 320);
    const wide = upsampleTo16k(src.samples);
    let best = 0;
    for (let lag = 0; lag < 400; lag++) {
      let xy = 0;
      let xx = 0;
      let yy = 0;
      for (let i = 0; i + lag < out.length && i < wide.length; i++) {
        const x = wide[i] ?? 0;
        const y = out[i + lag] ?? 0;
        xy += x * y;
        xx += x * x;
        yy += y * y;
      }
      best = Math.max(best, xy / Math.sqrt(xx * yy));
    }
    expect(best).toBeGreaterThan(0.6);
  });

  it('a malformed packet is an error, not audio', () => {
    const decoder = new OpusDecoder();
    expect(() => decoder.decode(Uint8Array.from([0xff, 0xff, 0xff]))).toThrow();
    decoder.close();
  });
});

describe('codec table', () => {
  it('Opus: dynamic PT 111 offered, 48 kHz clock, known by rtpmap only', () => {
    expect(payloadTypeOf('opus')).toBe(111);
    expect(clockRateOf('opus')).toBe(48000);
    expect(clockRateOf('G722')).toBe(8000);
    expect(codecOfPayloadType(111)).toBeUndefined();
    expect(codecOfPayloadType(9)).toBe('G722');
    expect(codecOfName('OPUS')).toBe('opus');
    expect(codecOfName('pcmu')).toBe('PCMU');
    expect(codecOfRtpmap('opus', 48000)).toBe('opus');
    expect(codecOfRtpmap('opus', 16000)).toBeUndefined();
  });
});
