import { describe, expect, it } from 'vitest';
import { encodeG711 } from '../../../src/rtp/g711.js';
import { G722Encoder } from '../../../src/rtp/g722.js';
import { OpusEncoder } from '../../../src/rtp/opus.js';
import { createDecoder, registerDecoder } from '../../../src/rtp/decode.js';
import { ReceiveStreams, type TappedStream } from '../../../src/rtp/receive-streams.js';

function tone(n: number, rate: number, hz: number, amp = 8000): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

function rtp(seq: number, ts: number, pt: number, payload: Uint8Array, ssrc = 0x1234): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

describe('decoder registry', () => {
  it('PCMU/PCMA decode what G.711 encoded (within the companding step), G.722 at 16 kHz', () => {
    const pcm = tone(160, 8000, 1000);
    for (const codec of ['PCMU', 'PCMA'] as const) {
      const d = createDecoder(codec);
      expect(d?.sampleRate).toBe(8000);
      const out = d?.decode(encodeG711(codec, pcm)) ?? new Int16Array();
      expect(out.length).toBe(160);
      for (let i = 0; i < 160; i++) expect(Math.abs((out[i] ?? 0) - (pcm[i] ?? 0))).toBeLessThan(300);
    }
    const g722 = createDecoder('g722');
    expect(g722?.sampleRate).toBe(16000);
    const enc = new G722Encoder();
    const wide = tone(3200, 16000, 1000);
    let out: Int16Array = new Int16Array();
    for (let f = 0; f < 10; f++) out = g722?.decode(enc.encode(wide.subarray(f * 320, f * 320 + 320))) ?? out;
    expect(out.length).toBe(320);
    const rms = Math.sqrt(out.reduce((s, v) => s + v * v, 0) / out.length);
    expect(rms).toBeGreaterThan(8000 / Math.SQRT2 * 0.8);
    expect(createDecoder('L16')).toBeUndefined();
  });
  it('a registered codec (e.g. Opus later) is picked up by name', () => {
    registerDecoder('test-codec', () => ({ sampleRate: 48000, decode: (p) => new Int16Array(p.length) }));
    expect(createDecoder('TEST-CODEC')?.sampleRate).toBe(48000);
  });
});

/** ReceiveStreams with a tap that records every stream it is offered and every frame it gets. */
function tapped(codecOf: (pt: number) => string | undefined, clockRateOf?: (pt: number) => number) {
  const frames: Array<{ n: number; rate: number; ts: number; at: number }> = [];
  const seen: TappedStream[] = [];
  const rs = new ReceiveStreams(
    101,
    () => undefined,
    (s) => {
      seen.push(s);
      return { onFrame: (pcm, rate, ts, at) => frames.push({ n: pcm.length, rate, ts, at }) };
    },
    codecOf,
    clockRateOf,
  );
  return { rs, frames, seen };
}

describe('ReceiveStreams audio tap', () => {
  it('hands every new packet to the sink, by RTP timestamp; duplicates and telephone events are not decoded', () => {
    const { rs, frames, seen } = tapped((pt) => (pt === 8 ? 'PCMA' : undefined));
    const from = { address: '127.0.0.1', port: 4000 };
    const payload = encodeG711('PCMA', tone(160, 8000, 500));
    rs.update(rtp(1, 1000, 8, payload), 12, 10, from);
    rs.update(rtp(1, 1000, 8, payload), 12, 11, from); // duplicate
    rs.update(rtp(3, 1320, 8, payload), 12, 50, from); // seq 2 lost
    rs.update(rtp(4, 1480, 101, new Uint8Array([1, 0, 0, 160])), 12, 70, from); // event
    expect(seen).toEqual([{ ssrc: 0x1234, source: '127.0.0.1:4000', payloadType: 8, codec: 'PCMA', clockRate: 8000 }]);
    expect(frames).toEqual([
      { n: 160, rate: 8000, ts: 1000, at: 10 },
      { n: 160, rate: 8000, ts: 1320, at: 50 },
    ]);
  });
  it('Opus (PT 111, 48 kHz RTP clock) is tapped as 16 kHz PCM; a malformed Opus payload is left out, not thrown', () => {
    const { rs, frames, seen } = tapped(
      (pt) => (pt === 111 ? 'opus' : undefined),
      (pt) => (pt === 111 ? 48000 : 8000),
    );
    const from = { address: '127.0.0.1', port: 4000 };
    const enc = new OpusEncoder();
    const wide = tone(3200, 16000, 1000);
    for (let f = 0; f < 10; f++) rs.update(rtp(f + 1, f * 960, 111, enc.encode(wide.subarray(f * 320, f * 320 + 320))), 12, f * 20, from);
    enc.close();
    rs.update(rtp(11, 10 * 960, 111, new Uint8Array([0xff, 0xff, 0xff])), 12, 200, from); // malformed (code 3, no frame count)
    expect(seen).toEqual([{ ssrc: 0x1234, source: '127.0.0.1:4000', payloadType: 111, codec: 'opus', clockRate: 48000 }]);
    expect(frames).toHaveLength(10);
    expect(frames.every((f) => f.n === 320 && f.rate === 16000)).toBe(true);
    expect(frames[9]?.ts).toBe(9 * 960);
    expect(rs.totals().received).toBe(11);
  });
  it('no tap, or a payload type without a decoder: nothing is decoded', () => {
    let calls = 0;
    const untapped = new ReceiveStreams(101, () => undefined);
    untapped.update(rtp(1, 0, 0, new Uint8Array(160)), 12, 0, { address: 'a', port: 1 });
    const unknown = new ReceiveStreams(101, () => undefined, () => ({ onFrame: () => calls++ }), () => undefined);
    unknown.update(rtp(1, 0, 96, new Uint8Array(160)), 12, 0, { address: 'a', port: 1 });
    expect(calls).toBe(0);
    expect(untapped.totals().received).toBe(1);
  });
});
