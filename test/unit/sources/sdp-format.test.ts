import { describe, expect, it } from 'vitest';
import { sdpAudioFormat } from '../../../src/sources/sdp-format.js';

const sdp = (m: string, ...attrs: string[]): string => ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', m, ...attrs, ''].join('\r\n');

describe('sdpAudioFormat (the clock RTCP jitter of a call is in)', () => {
  it('Opus: dynamic PT, 48000 from a=rtpmap whatever the audio bandwidth (RFC 7587)', () => {
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/AVP 111 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:101 telephone-event/8000'))).toEqual({
      payloadType: 111,
      codec: 'opus',
      clockRate: 48000,
    });
  });
  it('G.722: 8000 (RFC 3551 §4.5.2), with or without a=rtpmap', () => {
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/AVP 9 0', 'a=rtpmap:9 G722/8000'))).toMatchObject({ codec: 'G722', clockRate: 8000 });
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/SAVP 9'))).toEqual({ payloadType: 9, codec: 'G722', clockRate: 8000 });
  });
  it('static G.711 without rtpmap; the first payload type decides', () => {
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/AVP 8 0'))).toMatchObject({ codec: 'PCMA', clockRate: 8000 });
  });
  it('a=rtpmap of another m= section does not count', () => {
    const two = sdp('m=audio 4000 RTP/AVP 96', 'm=video 5000 RTP/AVP 96', 'a=rtpmap:96 H264/90000');
    expect(sdpAudioFormat(two)).toBeUndefined();
  });
  it('nothing usable: no audio, unknown dynamic PT, garbage, absurd clock', () => {
    expect(sdpAudioFormat(sdp('m=video 5000 RTP/AVP 96'))).toBeUndefined();
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/AVP 97'))).toBeUndefined();
    expect(sdpAudioFormat('m=audio x')).toBeUndefined();
    expect(sdpAudioFormat(sdp('m=audio 4000 RTP/AVP 97', 'a=rtpmap:97 L16/0'))).toBeUndefined();
    expect(sdpAudioFormat('x'.repeat(20_000))).toBeUndefined();
  });
});
