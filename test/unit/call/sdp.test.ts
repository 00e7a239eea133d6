import { describe, expect, it } from 'vitest';
import { answerReoffer, buildAnswer, buildOffer, isSdpError, parseMediaEndpoint, type MediaEndpoint } from '../../../src/call/sdp.js';

describe('call SDP', () => {
  it('offer round-trips through the parser with preference order', () => {
    const offer = buildOffer('127.0.0.1', 16000, ['PCMA', 'PCMU']);
    expect(offer).toMatch(/m=audio 16000 RTP\/AVP 8 0 101/);
    expect(offer).toMatch(/a=rtpmap:101 telephone-event\/8000/);
    const ep = parseMediaEndpoint(offer);
    expect(isSdpError(ep)).toBe(false);
    expect(ep).toMatchObject({ address: '127.0.0.1', port: 16000, codec: 'PCMA', payloadType: 8, telephoneEventPt: 101, ptimeMs: 20 });
  });
  it('answer carries the one chosen codec', () => {
    const answer = buildAnswer('127.0.0.1', 16002, { address: '', port: 0, codec: 'PCMU', payloadType: 0, ptimeMs: 20, direction: 'sendrecv' });
    expect(answer).toMatch(/m=audio 16002 RTP\/AVP 0\r?\n/);
    expect(parseMediaEndpoint(answer)).toMatchObject({ codec: 'PCMU', port: 16002 });
  });
  it('accepts static payload types without rtpmap and media-level c=', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 8\r\nc=IN IP4 127.0.0.5\r\n';
    expect(parseMediaEndpoint(sdp)).toMatchObject({ address: '127.0.0.5', port: 4000, codec: 'PCMA', payloadType: 8 });
  });
  it('reports missing common codec and missing audio', () => {
    const g729 = 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n';
    const r = parseMediaEndpoint(g729);
    expect(isSdpError(r) && r.message).toMatch(/no common codec: offered G729/);
    const noAudio = 'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n';
    expect(isSdpError(parseMediaEndpoint(noAudio))).toBe(true);
    expect(parseMediaEndpoint(g729, ['PCMU'])).toMatchObject({ code: 'E_SDP' });
  });
  it('refuses an m=audio port outside 1-65535 and a stream without c=', () => {
    const at = (port: string, c = 'c=IN IP4 127.0.0.1\r\n') => `v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n${c}t=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;
    expect(parseMediaEndpoint(at('70000'))).toMatchObject({ code: 'E_SDP', message: expect.stringMatching(/port 70000/) });
    expect(parseMediaEndpoint(at('4000', ''))).toMatchObject({ code: 'E_SDP', message: expect.stringMatching(/c=/) });
    expect(parseMediaEndpoint(at('4000'))).toMatchObject({ port: 4000, codec: 'PCMU' });
  });
});

describe('answerReoffer (RFC 3264 §8)', () => {
  const ours = buildOffer('127.0.0.1', 16000, ['PCMU']);
  const version = (sdp: string) => Number(/^o=\S+ \S+ (\d+)/m.exec(sdp)?.[1]);
  it('a refresh gets the same SDP back; hold answers recvonly with a new version; unhold goes back to sendrecv', () => {
    expect(answerReoffer(ours, 'sendrecv')).toBe(ours);
    const held = answerReoffer(ours, 'sendonly');
    expect(held).toMatch(/a=recvonly/);
    expect(held).not.toMatch(/a=sendrecv/);
    expect(version(held)).toBe(version(ours) + 1);
    const resumed = answerReoffer(held, 'sendrecv');
    expect(resumed).toMatch(/a=sendrecv/);
    expect(version(resumed)).toBe(version(held) + 1);
    expect(answerReoffer(ours, 'inactive')).toMatch(/a=inactive/);
  });
});

describe('call SDP with G.722', () => {
  it('offers G722 as static payload type 9 with an 8000 Hz RTP clock (RFC 3551 §4.5.2)', () => {
    const offer = buildOffer('127.0.0.1', 20000, ['G722', 'PCMU']);
    expect(offer).toMatch(/^m=audio 20000 RTP\/AVP 9 0 101\r?$/m);
    expect(offer).toMatch(/^a=rtpmap:9 G722\/8000\r?$/m);
  });
  it('the answerer picks G722 when offered first and accepted, and answers it as PT 9', () => {
    const offer = buildOffer('127.0.0.1', 20000, ['G722', 'PCMU']);
    const chosen = parseMediaEndpoint(offer, ['PCMU', 'PCMA', 'G722']);
    if (isSdpError(chosen)) throw new Error(chosen.message);
    expect(chosen.codec).toBe('G722');
    expect(chosen.payloadType).toBe(9);
    const answer = buildAnswer('127.0.0.2', 30000, chosen);
    expect(answer).toMatch(/^m=audio 30000 RTP\/AVP 9 101\r?$/m);
    const back = parseMediaEndpoint(answer, ['G722', 'PCMU']);
    expect(isSdpError(back) ? back.message : back.codec).toBe('G722');
  });
  it('reads a bare static PT 9 without rtpmap as G722, and refuses it when G722 is not accepted', () => {
    const bare = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n';
    const ok = parseMediaEndpoint(bare, ['G722']);
    expect(isSdpError(ok) ? ok.message : ok.codec).toBe('G722');
    const refused = parseMediaEndpoint(bare, ['PCMU', 'PCMA']);
    expect(isSdpError(refused)).toBe(true);
  });
});

describe('call SDP: Opus (RFC 7587)', () => {
  it('offers opus/48000/2 on dynamic PT 111 with telephone-event at 8000 and at 48000', () => {
    const offer = buildOffer('127.0.0.1', 20000, ['opus', 'PCMU']);
    expect(offer).toMatch(/^m=audio 20000 RTP\/AVP 111 0 101 110\r?$/m);
    expect(offer).toMatch(/^a=rtpmap:111 opus\/48000\/2\r?$/m);
    expect(offer).toMatch(/^a=fmtp:111 useinbandfec=0; stereo=0; sprop-stereo=0\r?$/m);
    expect(offer).toMatch(/^a=rtpmap:110 telephone-event\/48000\r?$/m);
    expect(offer).toMatch(/^a=rtpmap:101 telephone-event\/8000\r?$/m);
  });
  it('takes the peer\'s dynamic payload type and the telephone-event on the Opus clock', () => {
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96 0 101 97\r\n' +
      'a=rtpmap:96 OPUS/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtpmap:97 telephone-event/48000\r\na=ptime:30\r\n';
    const ep = parseMediaEndpoint(sdp, ['PCMU', 'opus']);
    // 30 ms is no Opus frame size: the preference falls back to 20
    expect(ep).toMatchObject({ codec: 'opus', payloadType: 96, telephoneEventPt: 97, ptimeMs: 20 });
    const answer = buildAnswer('127.0.0.1', 16002, ep as MediaEndpoint);
    expect(answer).toMatch(/^m=audio 16002 RTP\/AVP 96 97\r?$/m);
    expect(answer).toMatch(/^a=rtpmap:96 opus\/48000\/2\r?$/m);
    expect(answer).toMatch(/^a=rtpmap:97 telephone-event\/48000\r?$/m);
  });
  it('does not take a dynamic payload type without rtpmap, nor opus at another clock rate, nor events at 8000 for Opus', () => {
    const base = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n';
    expect(isSdpError(parseMediaEndpoint(`${base}m=audio 4000 RTP/AVP 111\r\n`, ['opus']))).toBe(true);
    expect(isSdpError(parseMediaEndpoint(`${base}m=audio 4000 RTP/AVP 111\r\na=rtpmap:111 opus/16000\r\n`, ['opus']))).toBe(true);
    const ep = parseMediaEndpoint(`${base}m=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n`, ['opus']);
    expect(ep).toMatchObject({ codec: 'opus', payloadType: 111 });
    expect((ep as MediaEndpoint).telephoneEventPt).toBeUndefined();
  });
});
