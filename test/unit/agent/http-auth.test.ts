import { describe, expect, it } from 'vitest';
import { hashPassword, HttpAuthenticator } from '../../../src/agent/http-auth.js';
import { exposureIssue, isLoopbackHost, parseScryptHash } from '../../../src/config/http.js';

// Reference hashes made with Python's hashlib.scrypt (OpenSSL), an implementation independent of ours:
//   hashlib.scrypt(b'correct horse', salt=b'callprobe-salt16', n=2**14, r=8, p=1, dklen=32), standard base64;
//   hashlib.scrypt(b'p', salt=b'\xfb\xff\xfe'*6, n=2**10, r=8, p=1, dklen=32), passlib's "." for "+".
const PY_STD = '$scrypt$ln=14,r=8,p=1$Y2FsbHByb2JlLXNhbHQxNg$nqxt6+InysLEeme1K9xK8YGVSrNAanILGOydywGZ1PM';
const PY_AB64 = '$scrypt$ln=10,r=8,p=1$.//..//..//..//..//..//.$AR/qoU.luUws729KwEdUkKcvVO1dNLyNkeaC/ZePXik';

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

describe('HttpAuthenticator', () => {
  it('accepts a Basic password against scrypt hashes made elsewhere, and nothing near it', async () => {
    const auth = new HttpAuthenticator({ basic_auth_users: { prom: PY_STD, ab: PY_AB64 } });
    expect(await auth.check(basic('prom', 'correct horse'))).toBe(true);
    expect(await auth.check(basic('ab', 'p'))).toBe(true);
    expect(await auth.check(basic('prom', 'correct horsE'))).toBe(false);
    expect(await auth.check(basic('prom', 'correct horse '))).toBe(false);
    expect(await auth.check(basic('ab', 'correct horse'))).toBe(false);
    expect(await auth.check(basic('nobody', 'p'))).toBe(false);
    expect(await auth.check(undefined)).toBe(false);
    expect(await auth.check('Basic')).toBe(false);
    expect(await auth.check('Basic !!!')).toBe(false);
    expect(await auth.check(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBe(false);
    expect(await auth.check('Bearer correct horse')).toBe(false);
    expect(auth.challenges()).toEqual(['Basic realm="callprobe", charset="UTF-8"']);
  });

  it('hashes with hashPassword round-trip; a password containing ":" keeps everything after the first colon', async () => {
    const hash = await hashPassword('a:b:c', 10);
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const auth = new HttpAuthenticator({ basic_auth_users: { u: hash } });
    expect(await auth.check(basic('u', 'a:b:c'))).toBe(true);
    expect(await auth.check(basic('u', 'a'))).toBe(false);
    expect(await hashPassword('a:b:c', 10)).not.toBe(hash); // salted
  });

  it('accepts the bearer token only exactly; without settings everything passes', async () => {
    const auth = new HttpAuthenticator({ bearer_token: 'tok' });
    expect(await auth.check('Bearer tok')).toBe(true);
    expect(await auth.check('bearer tok')).toBe(true); // RFC 7235: the scheme is case-insensitive
    expect(await auth.check('Bearer to')).toBe(false);
    expect(await auth.check('Bearer tokk')).toBe(false);
    expect(await auth.check(basic('tok', 'tok'))).toBe(false);
    expect(auth.challenges()).toEqual(['Bearer realm="callprobe"']);
    const none = new HttpAuthenticator({});
    expect(none.enabled).toBe(false);
    expect(await none.check(undefined)).toBe(true);
  });
});

describe('scrypt hash strings', () => {
  it('refuses malformed hashes and parameters that would need more than 64 MiB, without echoing the value', () => {
    expect(parseScryptHash(PY_STD)).toMatchObject({ N: 16384, r: 8, p: 1 });
    for (const bad of ['', 'plain-password', '$2y$10$abcdefghijklmnopqrstuv', PY_STD.replace('ln=14', 'ln=9'), PY_STD.replace('ln=14', 'ln=21')]) {
      const r = parseScryptHash(bad);
      expect(typeof r, bad).toBe('string');
      if (bad !== '') expect(r).not.toContain(bad);
    }
    expect(parseScryptHash(PY_STD.replace('ln=14,r=8', 'ln=17,r=8'))).toMatch(/more than 64 MiB/);
    expect(parseScryptHash(PY_STD.replace('ln=14,r=8', 'ln=16,r=8'))).toMatchObject({ N: 65536 }); // passlib's default
  });
});

describe('exposure rule', () => {
  it('lets loopback listen without auth, and nothing else unless allowed or authenticated', () => {
    for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', '[::1]', '::1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.1', '198.18.0.1', 'probe.example.net', '127.0.0.1.example.net']) expect(isLoopbackHost(h), h).toBe(false);
    const off = { allow_unauthenticated: false };
    expect(exposureIssue('127.0.0.1:9464', off)).toBeUndefined();
    expect(exposureIssue('[::1]:9464', off)).toBeUndefined();
    expect(exposureIssue('0.0.0.0:9464', off)?.message).toMatch(/beyond loopback.*http\.allow_unauthenticated: true/);
    expect(exposureIssue('[::]:9464', off)?.path).toBe('listen.metrics');
    expect(exposureIssue('0.0.0.0:9464', { allow_unauthenticated: true })).toBeUndefined();
    expect(exposureIssue('0.0.0.0:9464', { ...off, bearer_token: 't' })).toBeUndefined();
    expect(exposureIssue('0.0.0.0:9464', { ...off, basic_auth_users: {} })).toBeDefined();
    expect(exposureIssue('0.0.0.0:9464', { ...off, basic_auth_users: { u: PY_STD } })).toBeUndefined();
  });
});
