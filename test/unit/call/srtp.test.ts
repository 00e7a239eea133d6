// SDES offer/answer for test calls (RFC 4568) per media.srtp mode, and the
// keys-only-over-TLS rule.
import { describe, expect, it } from 'vitest';
import { buildAnswer, buildOffer, isSdpError, parseMediaEndpoint, type MediaEndpoint } from '../../../src/call/sdp.js';
import { acceptSrtpAnswer, answerSrtpOffer, srtpOffer } from '../../../src/call/srtp.js';
import { signallingOf, srtpSignallingError } from '../../../src/config/srtp-keys.js';

function parse(sdp: string): MediaEndpoint {
  const ep = parseMediaEndpoint(sdp);
  if (isSdpError(ep)) throw new Error(ep.message);
  return ep;
}

const KEY_A = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';
const BARESIP_OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 10010 RTP/SAVP 0 8',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=crypto:1 AEAD_AES_256_GCM inline:aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllll',
  `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} UNENCRYPTED_SRTCP`,
  `a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:${KEY_A}`,
  'a=sendrecv',
  '',
].join('\r\n');

describe('SDES offer/answer', () => {
  it('required: RTP/SAVP with one fresh key per suite; the answer picks one and both ends hold the same pair of keys', () => {
    const offered = srtpOffer('required');
    expect(offered?.profile).toBe('RTP/SAVP');
    const offerSdp = buildOffer('127.0.0.1', 16000, ['PCMU'], 20, 'sendrecv', offered);
    expect(offerSdp).toMatch(/^m=audio 16000 RTP\/SAVP 0 101\r$/m);
    expect(offerSdp).toMatch(/^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}\r$/m);
    expect(offerSdp).toMatch(/^a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:[A-Za-z0-9+/]{40}\r$/m);

    const atCallee = parse(offerSdp);
    const answered = answerSrtpOffer('required', atCallee);
    if (!answered.ok || !answered.keys) throw new Error('not answered');
    const answerSdp = buildAnswer('127.0.0.1', 16002, atCallee, 'sendrecv', answered.security);
    expect(answerSdp).toMatch(/^m=audio 16002 RTP\/SAVP 0 101\r$/m);
    expect(answerSdp.match(/a=crypto:/g)).toHaveLength(1);

    const atCaller = acceptSrtpAnswer('required', offered, parse(answerSdp));
    if (!atCaller.ok || !atCaller.keys) throw new Error('not accepted');
    expect(atCaller.keys.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    // what one sends with, the other receives with
    expect(atCaller.keys.local.equals(answered.keys.remote)).toBe(true);
    expect(atCaller.keys.remote.equals(answered.keys.local)).toBe(true);
    expect(atCaller.keys.local.equals(atCaller.keys.remote)).toBe(false);
  });

  it('answers the first usable line of a foreign offer, skipping suites and session parameters we do not implement', () => {
    const r = answerSrtpOffer('required', parse(BARESIP_OFFER));
    if (!r.ok) throw new Error(r.message);
    expect(r.keys?.suite).toBe('AES_CM_128_HMAC_SHA1_32');
    expect(r.security?.crypto[0]?.tag).toBe(3);
    expect(r.keys?.remote.toString('base64')).toBe(KEY_A);
  });

  it('optional: RTP/AVP offer with a=crypto; a plain answer gives plain RTP, a keyed one SRTP', () => {
    const offered = srtpOffer('optional');
    expect(offered?.profile).toBe('RTP/AVP');
    const plainAnswer = parse(buildAnswer('127.0.0.1', 4000, { address: '127.0.0.1', port: 4000, ptimeMs: 20, direction: 'sendrecv', codec: 'PCMU', payloadType: 0 }));
    expect(acceptSrtpAnswer('optional', offered, plainAnswer)).toEqual({ ok: true });
    const offer = parse(buildOffer('127.0.0.1', 16000, ['PCMU'], 20, 'sendrecv', offered));
    const answered = answerSrtpOffer('optional', offer);
    if (!answered.ok) throw new Error(answered.message);
    expect(answered.security?.profile).toBe('RTP/AVP');
    const keyed = acceptSrtpAnswer('optional', offered, parse(buildAnswer('127.0.0.1', 4000, offer, 'sendrecv', answered.security)));
    expect(keyed.ok && keyed.keys?.suite).toBe('AES_CM_128_HMAC_SHA1_80');
  });

  it('required: an answer without a key we offered fails and names what was offered', () => {
    const offered = srtpOffer('required');
    const plain = parse(buildAnswer('127.0.0.1', 4000, { address: '127.0.0.1', port: 4000, ptimeMs: 20, direction: 'sendrecv', codec: 'PCMU', payloadType: 0 }));
    const r = acceptSrtpAnswer('required', offered, plain);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/srtp required.*1 AES_CM_128_HMAC_SHA1_80, 2 AES_CM_128_HMAC_SHA1_32/);
    // a key under a tag we never offered is no agreement either
    const forged = parse(BARESIP_OFFER);
    expect(acceptSrtpAnswer('required', offered, forged).ok).toBe(false);
  });

  it('answerer: required refuses a plain offer, off refuses RTP/SAVP and ignores a=crypto in RTP/AVP', () => {
    const plain = parse(buildOffer('127.0.0.1', 16000, ['PCMU']));
    expect(answerSrtpOffer('required', plain).ok).toBe(false);
    expect(answerSrtpOffer('optional', plain)).toEqual({ ok: true });
    expect(answerSrtpOffer('off', parse(BARESIP_OFFER)).ok).toBe(false);
    const bestEffort = parse(buildOffer('127.0.0.1', 16000, ['PCMU'], 20, 'sendrecv', srtpOffer('optional')));
    expect(answerSrtpOffer('off', bestEffort)).toEqual({ ok: true });
  });
});

describe('keys only over TLS', () => {
  it('refuses SRTP over UDP/TCP unless allowed; TLS and sips: are fine; off never complains', () => {
    expect(srtpSignallingError('required', 'udp', 'sip:127.0.0.1:5060', false)).toMatch(/SDES keys would be sent in clear over UDP.*--allow-insecure-keys/);
    expect(srtpSignallingError('optional', 'tcp', 'sip:pbx', false)).toMatch(/over TCP/);
    expect(srtpSignallingError('required', 'udp', 'sip:127.0.0.1:5060', true)).toBeUndefined();
    expect(srtpSignallingError('required', 'tls', 'sip:127.0.0.1:5061', false)).toBeUndefined();
    expect(srtpSignallingError('required', 'udp', 'sips:pbx.example:5061', false)).toBeUndefined();
    expect(srtpSignallingError('off', 'udp', 'sip:x', false)).toBeUndefined();
  });

  it('judges the transport the UA will use: explicit, else a named server\'s own, else pbx.transport', () => {
    const pbx = { uri: 'sip:pbx:5060', transport: 'udp' };
    expect(signallingOf(undefined, undefined, { uri: 'sip:pbx:5061', transport: 'tls' })).toEqual({ target: 'sip:pbx:5061', transport: 'tls' });
    expect(signallingOf(undefined, 'sip:proxy:5061;transport=tls', pbx)).toEqual({ target: 'sip:proxy:5061;transport=tls', transport: 'tls' });
    expect(signallingOf(undefined, 'sip:proxy:5060', { uri: 'sip:pbx', transport: 'tls' }).transport).toBe('udp');
    expect(signallingOf('tcp', 'sip:proxy;transport=tls', pbx).transport).toBe('tcp');
    const { target, transport } = signallingOf(undefined, 'sips:proxy', pbx);
    expect(srtpSignallingError('required', transport, target, false)).toBeUndefined();
  });
});
