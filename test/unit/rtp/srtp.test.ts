// SRTP/SRTCP against the published vectors: RFC 3711 Appendix B.3 (key
// derivation) and libsrtp's srtp_driver packet vectors (AES_CM_128_HMAC_SHA1_80
// and _32, master key/salt of RFC 3711 B.3, SSRC 0xcafebabe, SEQ 0x1234).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deriveSessionKey,
  formatSdesCrypto,
  newSdesCrypto,
  parseSdesCrypto,
  SrtpContext,
} from '../../../src/rtp/srtp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');
const KEY = Buffer.concat([MASTER_KEY, MASTER_SALT]);
const RTP_PLAIN = hex('800f1234decafbadcafebabe abababababababababababababababab');
const SRTP_80 = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb');
const SRTP_32 = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc');
const RTCP_PLAIN = hex('81c8000bcafebabe abababababababababababababababab');
const SRTCP_80 = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');

function rtp(seq: number, ssrc = 0x11223344, payload = Buffer.alloc(160, 0xd5)): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 0;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE((seq * 160) >>> 0, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
}

describe('RFC 3711 B.3 key derivation', () => {
  it('derives the published cipher key, salt and auth key', () => {
    expect(deriveSessionKey(MASTER_KEY, MASTER_SALT, 0, 16).toString('hex')).toBe('c61e7a93744f39ee10734afe3ff7a087');
    expect(deriveSessionKey(MASTER_KEY, MASTER_SALT, 2, 14).toString('hex')).toBe('30cbbc08863d8c85d49db34a9ae1');
    expect(deriveSessionKey(MASTER_KEY, MASTER_SALT, 1, 20).toString('hex')).toBe('cebe321f6ff7716b6fd4ab49af256a156d38baa4');
  });
});

describe('SrtpContext', () => {
  it('protects RTP exactly as libsrtp does (_80 and _32)', () => {
    expect(new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY).protectRtp(RTP_PLAIN)).toEqual(SRTP_80);
    expect(new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY).protectRtp(RTP_PLAIN)).toEqual(SRTP_32);
  });

  it('unprotects the libsrtp vectors', () => {
    const r80 = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY).unprotectRtp(SRTP_80);
    expect(r80).toEqual({ ok: true, packet: RTP_PLAIN });
    const r32 = new SrtpContext('AES_CM_128_HMAC_SHA1_32', KEY).unprotectRtp(SRTP_32);
    expect(r32).toEqual({ ok: true, packet: RTP_PLAIN });
  });

  it('protects and unprotects SRTCP as libsrtp does (index 1, E set, 80-bit tag for both suites)', () => {
    for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const) {
      expect(new SrtpContext(suite, KEY).protectRtcp(RTCP_PLAIN)).toEqual(SRTCP_80);
      expect(new SrtpContext(suite, KEY).unprotectRtcp(SRTCP_80)).toEqual({ ok: true, packet: RTCP_PLAIN });
    }
  });

  it('refuses a tampered packet as an authentication failure and counts it', () => {
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    for (const pos of [1, 5, 12, 20, SRTP_80.length - 1]) {
      const bad = Buffer.from(SRTP_80);
      bad[pos] = (bad[pos] ?? 0) ^ 0x01;
      expect(rx.unprotectRtp(bad)).toEqual({ ok: false, reason: 'auth' });
    }
    expect(rx.counters.auth_failures).toBe(5);
    expect(rx.unprotectRtp(SRTP_80).ok).toBe(true);
    expect(rx.counters.unprotected).toBe(1);
  });

  it('refuses replays within and behind the 64-packet window, accepts reordering', () => {
    const key = newSdesCrypto(1, 'AES_CM_128_HMAC_SHA1_80').key;
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', key);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', key);
    const sent = Array.from({ length: 100 }, (_, i) => tx.protectRtp(rtp(1000 + i)));
    expect(rx.unprotectRtp(sent[0]!).ok).toBe(true);
    expect(rx.unprotectRtp(sent[0]!)).toEqual({ ok: false, reason: 'replay' });
    expect(rx.unprotectRtp(sent[5]!).ok).toBe(true);
    expect(rx.unprotectRtp(sent[3]!).ok).toBe(true); // late, inside the window
    expect(rx.unprotectRtp(sent[3]!)).toEqual({ ok: false, reason: 'replay' });
    expect(rx.unprotectRtp(sent[99]!).ok).toBe(true);
    expect(rx.unprotectRtp(sent[10]!)).toEqual({ ok: false, reason: 'replay' }); // 89 behind: outside
    expect(rx.counters.replays).toBe(3);
  });

  it('follows the rollover counter across a sequence wrap, both ends', () => {
    const key = newSdesCrypto(1, 'AES_CM_128_HMAC_SHA1_32').key;
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', key);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', key);
    for (let seq = 65500; seq < 65536 + 100; seq++) {
      const plain = rtp(seq);
      const r = rx.unprotectRtp(tx.protectRtp(plain));
      expect(r).toEqual({ ok: true, packet: plain });
    }
  });

  it('round-trips any RTP packet (CSRCs, extensions, padding bits) and never decrypts under a wrong key', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.boolean(),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffff }),
        (cc, ext, payload, seq) => {
          const parts = [Buffer.alloc(12 + 4 * cc)];
          parts[0]![0] = 0x80 | (ext ? 0x10 : 0) | cc;
          parts[0]!.writeUInt16BE(seq, 2);
          if (ext) parts.push(hex('bede0001 01020304'));
          parts.push(Buffer.from(payload));
          const plain = Buffer.concat(parts);
          const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
          const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
          const wrong = new SrtpContext('AES_CM_128_HMAC_SHA1_80', Buffer.alloc(30, 7));
          const wire = tx.protectRtp(plain);
          expect(wrong.unprotectRtp(wire).ok).toBe(false);
          expect(rx.unprotectRtp(wire)).toEqual({ ok: true, packet: plain });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('treats truncated and non-RTP input as malformed, never throws on receive', () => {
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', KEY);
    for (const junk of [Buffer.alloc(0), Buffer.alloc(11), hex('00'.repeat(30)), SRTP_80.subarray(0, 15)]) {
      expect(rx.unprotectRtp(junk).ok).toBe(false);
      expect(rx.unprotectRtcp(junk).ok).toBe(false);
    }
    expect(() => new SrtpContext('AES_CM_128_HMAC_SHA1_80', Buffer.alloc(16))).toThrow(/30 bytes/);
  });
});

describe('SDES a=crypto (RFC 4568)', () => {
  it('formats and parses an attribute', () => {
    const c = newSdesCrypto(1, 'AES_CM_128_HMAC_SHA1_80');
    const v = formatSdesCrypto(c);
    expect(v).toMatch(/^1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}$/);
    expect(parseSdesCrypto(v)).toEqual(c);
  });

  it('parses what baresip and rtpengine send, skips suites and key params it cannot use', () => {
    const k = KEY.toString('base64');
    expect(parseSdesCrypto(`2 AES_CM_128_HMAC_SHA1_32 inline:${k}`)?.suite).toBe('AES_CM_128_HMAC_SHA1_32');
    expect(parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${k}|2^31`)?.key).toEqual(KEY);
    expect(parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${k}|2^20|1:4`)).toBeNull(); // MKI
    expect(parseSdesCrypto(`1 AES_256_CM_HMAC_SHA1_80 inline:${k}`)).toBeNull();
    expect(parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY.subarray(0, 20).toString('base64')}`)).toBeNull();
    expect(parseSdesCrypto('garbage')).toBeNull();
  });
});
