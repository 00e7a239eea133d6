import { describe, expect, it } from 'vitest';
import { buildAudioSdp, parseAudioSdp } from '../../../src/sip/sdp.js';

describe('sdp', () => {
  it('builds an offer that parses back', () => {
    const sdp = buildAudioSdp({ address: '127.0.0.1', port: 16000, codecs: ['PCMA', 'PCMU'], telephoneEventPt: 101, sessionId: 42 });
    expect(sdp).toContain('m=audio 16000 RTP/AVP 8 0 101\r\n');
    expect(sdp).toContain('c=IN IP4 127.0.0.1\r\n');
    expect(sdp).toContain('a=rtpmap:101 telephone-event/8000\r\n');
    expect(parseAudioSdp(sdp)).toEqual({
      address: '127.0.0.1',
      port: 16000,
      payloads: [
        { pt: 8, codec: 'PCMA', rate: 8000 },
        { pt: 0, codec: 'PCMU', rate: 8000 },
        { pt: 101, codec: 'telephone-event', rate: 8000 },
      ],
      codec: 'PCMA',
      telephoneEventPt: 101,
      ptimeMs: 20,
      direction: 'sendrecv',
    });
  });

  it('reads static payloads without rtpmap, media-level c= and IPv6', () => {
    const r = parseAudioSdp('v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 10008 RTP/AVP 0\r\nc=IN IP6 ::1\r\na=sendonly\r\n');
    expect(r).toMatchObject({ address: '::1', port: 10008, codec: 'PCMU', direction: 'sendonly' });
    expect(parseAudioSdp('v=0\r\ns=-\r\n')).toBeNull();
    expect(buildAudioSdp({ address: '::1', port: 16002, codecs: ['PCMU'] })).toContain('c=IN IP6 ::1');
  });
});
