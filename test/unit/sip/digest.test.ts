import { describe, expect, it } from 'vitest';
import { buildAuthorization, computeDigestResponse, parseAuthParams, parseChallenge, pickChallenge, RealmCredentials } from '../../../src/sip/digest.js';

describe('digest', () => {
  it('RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    expect(
      computeDigestResponse({
        algorithm: 'MD5',
        username: 'Mufasa',
        realm: 'testrealm@host.com',
        password: 'Circle Of Life',
        method: 'GET',
        uri: '/dir/index.html',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };

  it('RFC 7616 §3.9.1 example, MD5', () => {
    expect(computeDigestResponse({ ...rfc7616, algorithm: 'MD5' })).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('RFC 7616 §3.9.1 example, SHA-256', () => {
    expect(computeDigestResponse({ ...rfc7616, algorithm: 'SHA-256' })).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('-sess variants change HA1 with nonce and cnonce', () => {
    const a = computeDigestResponse({ ...rfc7616, algorithm: 'SHA-256-sess' });
    const b = computeDigestResponse({ ...rfc7616, algorithm: 'SHA-256-sess', cnonce: 'other' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
    expect(a).not.toBe(computeDigestResponse({ ...rfc7616, algorithm: 'SHA-256' }));
  });

  it('parses a Kamailio-style challenge with stale and qop list', () => {
    const c = parseChallenge('Digest realm="127.0.0.1", nonce="Z2x1Y2s=,abc", qop="auth,auth-int", algorithm=SHA-256, stale=TRUE, opaque="o"');
    expect(c).toEqual({ realm: '127.0.0.1', nonce: 'Z2x1Y2s=,abc', qop: ['auth', 'auth-int'], algorithm: 'SHA-256', stale: true, opaque: 'o' });
    expect(parseChallenge('Basic realm="x"')).toBeNull();
    expect(parseChallenge('Digest realm="x", algorithm=FOO, nonce="n"')).toBeNull();
  });

  it('prefers SHA-256 over MD5 (RFC 8760)', () => {
    expect(pickChallenge(['Digest realm="r", nonce="1"', 'Digest realm="r", nonce="2", algorithm=SHA-256'])?.nonce).toBe('2');
  });

  it('builds an Authorization header whose response verifies', () => {
    const c = parseChallenge('Digest realm="127.0.0.1", nonce="abc", qop="auth"');
    if (!c) throw new Error('challenge');
    const value = buildAuthorization(c, { username: '1001', password: 'lab1001pw' }, { method: 'REGISTER', uri: 'sip:127.0.0.1' }, 2, 'cn');
    const p = parseAuthParams(value.replace(/^Digest /, ''));
    expect(p?.get('nc')).toBe('00000002');
    expect(p?.get('response')).toBe(
      computeDigestResponse({ algorithm: 'MD5', username: '1001', realm: '127.0.0.1', password: 'lab1001pw', method: 'REGISTER', uri: 'sip:127.0.0.1', nonce: 'abc', qop: 'auth', nc: '00000002', cnonce: 'cn' }),
    );
    // RFC 2069 mode without qop: no nc/cnonce.
    const legacy = buildAuthorization({ ...c, qop: [] }, { username: 'u', password: 'p' }, { method: 'INVITE', uri: 'sip:x' });
    expect(legacy).not.toContain('nc=');
  });
});

describe('RealmCredentials (RFC 3261 §22.3)', () => {
  const creds = { username: '1001', password: 'pw' };
  const counter = () => {
    const counts = new Map<string, number>();
    return (nonce: string) => {
      const n = (counts.get(nonce) ?? 0) + 1;
      counts.set(nonce, n);
      return n;
    };
  };
  const req = { method: 'REGISTER', uri: 'sip:example.org' };

  it('answers a proxy realm and then a registrar realm, keeping both', () => {
    const rc = new RealmCredentials(creds, counter());
    expect(rc.challenged(407, ['Digest realm="A", nonce="na", qop="auth"'])).toEqual({ retry: true });
    expect(rc.headers(req).map(([h]) => h)).toEqual(['Proxy-Authorization']);
    expect(rc.challenged(401, ['Digest realm="B", nonce="nb", qop="auth"'])).toEqual({ retry: true });
    const h = rc.headers(req);
    expect(h.map(([name]) => name)).toEqual(['Proxy-Authorization', 'Authorization']);
    expect(h[0]?.[1]).toMatch(/realm="A".*nc=00000002/);
    expect(h[1]?.[1]).toMatch(/realm="B".*nc=00000001/);
  });

  it('the same realm challenging again is a rejection; stale=true earns exactly one more try', () => {
    const rc = new RealmCredentials(creds, counter());
    expect(rc.challenged(401, ['Digest realm="B", nonce="1"'])).toEqual({ retry: true });
    expect(rc.challenged(401, ['Digest realm="B", nonce="2", stale=true'])).toEqual({ retry: true });
    expect(rc.headers(req)[0]?.[1]).toContain('nonce="2"');
    expect(rc.challenged(401, ['Digest realm="B", nonce="3", stale=true'])).toEqual({ retry: false, reason: 'rejected', realm: 'B' });
    const plain = new RealmCredentials(creds, counter());
    plain.challenged(401, ['Digest realm="B", nonce="1"']);
    expect(plain.challenged(401, ['Digest realm="B", nonce="2"'])).toEqual({ retry: false, reason: 'rejected', realm: 'B' });
  });

  it('a challenge with no supported scheme is final', () => {
    const rc = new RealmCredentials(creds, counter());
    expect(rc.challenged(401, ['Basic realm="x"', 'Digest realm="y", nonce="1", algorithm=AKAv1-MD5'])).toEqual({ retry: false, reason: 'unsupported' });
  });
});
