// Authentication of the agent's HTTP listener (http.basic_auth_users,
// http.bearer_token): RFC 7617 Basic against scrypt hashes, RFC 6750 Bearer.
// Every comparison is constant-time; a failure is a 401 with WWW-Authenticate
// naming what is accepted.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { parseScryptHash, SCRYPT_LIMITS, type ScryptParams } from '../config/http.js';

export interface HttpAuthSettings {
  basic_auth_users?: Readonly<Record<string, string>> | undefined;
  bearer_token?: string | undefined;
}

const REALM = 'callprobe';

function sha256(text: string | Buffer): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Equal-length digests, so neither the length nor the first differing byte leaks through timing. */
function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function scryptAsync(password: string, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, p.salt, p.hash.length, { N: p.N, r: p.r, p: p.p, maxmem: SCRYPT_LIMITS.maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A PHC scrypt string for `password` (`probe config hash-password`). ln=15: ~50-100 ms per verification. */
export function hashPassword(password: string, ln = 15): Promise<string> {
  const salt = randomBytes(16);
  const params: ScryptParams = { N: 2 ** ln, r: 8, p: 1, salt, hash: Buffer.alloc(32) };
  const b = (buf: Buffer) => buf.toString('base64').replace(/=+$/, '');
  return scryptAsync(password, params).then((key) => `$scrypt$ln=${ln},r=8,p=1$${b(salt)}$${b(key)}`);
}

export class HttpAuthenticator {
  readonly #users = new Map<string, ScryptParams>();
  readonly #bearer: string | undefined;
  /**
   * user → sha256 of the last password that verified. Like exporter-toolkit's cache:
   * Prometheus sends the same credentials every scrape, and scrypt is meant to be slow.
   */
  readonly #verified = new Map<string, Buffer>();

  constructor(settings: HttpAuthSettings) {
    for (const [user, hash] of Object.entries(settings.basic_auth_users ?? {})) {
      const parsed = parseScryptHash(hash);
      if (typeof parsed === 'string') throw new Error(`http.basic_auth_users.${user}: ${parsed}`);
      this.#users.set(user, parsed);
    }
    this.#bearer = settings.bearer_token;
  }

  get enabled(): boolean {
    return this.#users.size > 0 || this.#bearer !== undefined;
  }

  /** The WWW-Authenticate values of a 401 (one per accepted scheme). */
  challenges(): string[] {
    const out: string[] = [];
    if (this.#users.size > 0) out.push(`Basic realm="${REALM}", charset="UTF-8"`);
    if (this.#bearer !== undefined) out.push(`Bearer realm="${REALM}"`);
    return out;
  }

  /** Whether the Authorization header carries accepted credentials. Never throws. */
  async check(authorization: string | undefined): Promise<boolean> {
    if (!this.enabled) return true;
    if (authorization === undefined) return false;
    const m = /^([A-Za-z]+) +([^\s]+) *$/.exec(authorization);
    if (!m) return false;
    const scheme = (m[1] ?? '').toLowerCase();
    const value = m[2] ?? '';
    if (scheme === 'bearer') return this.#bearer !== undefined && sameSecret(value, this.#bearer);
    if (scheme !== 'basic' || this.#users.size === 0) return false;
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    return this.#checkBasic(decoded.slice(0, colon), decoded.slice(colon + 1));
  }

  async #checkBasic(user: string, password: string): Promise<boolean> {
    const params = this.#users.get(user);
    // An unknown user costs a hash like a known one (no user enumeration by timing).
    const p = params ?? this.#users.values().next().value;
    if (p === undefined) return false;
    const digest = sha256(password);
    const cached = this.#verified.get(user);
    if (params !== undefined && cached !== undefined && timingSafeEqual(cached, digest)) return true;
    let key: Buffer;
    try {
      key = await scryptAsync(password, p);
    } catch {
      return false;
    }
    const ok = params !== undefined && key.length === p.hash.length && timingSafeEqual(key, p.hash);
    if (ok) this.#verified.set(user, digest);
    return ok;
  }
}
