// HTTP Digest for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
// MD5, SHA-256 and their -sess variants, qop=auth (and auth-int), nonce count.
import { nodeCrypto, randomHex } from './random.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** qop options offered ("auth", "auth-int"); empty = RFC 2069 compatibility. */
  qop: string[];
  stale: boolean;
}

/** Parses `Digest realm="..", nonce="..", ...` auth-params (commas inside quotes allowed). Null if not Digest or unsupported. */
export function parseChallenge(header: string): DigestChallenge | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!m) return null;
  const params = parseAuthParams(m[1] ?? '');
  if (!params) return null;
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return null;
  const algRaw = params.get('algorithm') ?? 'MD5';
  const algorithm = normalizeAlgorithm(algRaw);
  if (!algorithm) return null;
  const qopRaw = params.get('qop');
  const challenge: DigestChallenge = {
    realm,
    nonce,
    algorithm,
    qop: qopRaw === undefined ? [] : qopRaw.split(',').map((q) => q.trim().toLowerCase()).filter(Boolean),
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
  const opaque = params.get('opaque');
  if (opaque !== undefined) challenge.opaque = opaque;
  return challenge;
}

function normalizeAlgorithm(text: string): DigestAlgorithm | null {
  const known: DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'];
  return known.find((k) => k.toLowerCase() === text.toLowerCase()) ?? null;
}

/** auth-param list: name=token / name="quoted", comma-separated. */
export function parseAuthParams(text: string): Map<string, string> | null {
  const out = new Map<string, string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /[\s,]/.test(text[i] as string)) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && /[A-Za-z0-9\-_.]/.test(text[i] as string)) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name === '') return null;
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (text[i] !== '=') return null;
    i++;
    while (i < n && /\s/.test(text[i] as string)) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      if (text[i] !== '"') return null;
      i++;
    } else {
      const vs = i;
      while (i < n && !/[\s,]/.test(text[i] as string)) i++;
      value = text.slice(vs, i);
    }
    out.set(name, value);
  }
  return out;
}

function hashName(alg: DigestAlgorithm): string {
  if (alg.startsWith('SHA-512-256')) return 'sha512-256';
  return alg.startsWith('SHA-256') ? 'sha256' : 'md5';
}

function h(alg: DigestAlgorithm, data: string | Buffer): string {
  return nodeCrypto().createHash(hashName(alg)).update(data).digest('hex');
}

export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  /** "auth", "auth-int" or undefined for RFC 2069 mode. */
  qop?: string;
  nc?: string;
  cnonce?: string;
  body?: Buffer;
}

/** RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1 request-digest. */
export function computeDigestResponse(d: DigestInput): string {
  let ha1 = h(d.algorithm, `${d.username}:${d.realm}:${d.password}`);
  if (d.algorithm.endsWith('-sess')) ha1 = h(d.algorithm, `${ha1}:${d.nonce}:${d.cnonce ?? ''}`);
  const a2 = d.qop === 'auth-int' ? `${d.method}:${d.uri}:${h(d.algorithm, d.body ?? Buffer.alloc(0))}` : `${d.method}:${d.uri}`;
  const ha2 = h(d.algorithm, a2);
  if (d.qop === 'auth' || d.qop === 'auth-int') return h(d.algorithm, `${ha1}:${d.nonce}:${d.nc ?? '00000001'}:${d.cnonce ?? ''}:${d.qop}:${ha2}`);
  return h(d.algorithm, `${ha1}:${d.nonce}:${ha2}`);
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Builds an Authorization / Proxy-Authorization value answering `challenge`.
 * `nc` is the nonce count for this nonce (1 for a fresh nonce).
 */
export function buildAuthorization(
  challenge: DigestChallenge,
  creds: Credentials,
  req: { method: string; uri: string; body?: Buffer },
  nc = 1,
  cnonce: string = randomHex(8),
): string {
  const qop = challenge.qop.includes('auth') ? 'auth' : challenge.qop.includes('auth-int') ? 'auth-int' : undefined;
  const ncText = nc.toString(16).padStart(8, '0');
  const input: DigestInput = {
    algorithm: challenge.algorithm,
    username: creds.username,
    realm: challenge.realm,
    password: creds.password,
    method: req.method,
    uri: req.uri,
    nonce: challenge.nonce,
  };
  if (qop) {
    input.qop = qop;
    input.nc = ncText;
    input.cnonce = cnonce;
  }
  if (req.body) input.body = req.body;
  const response = computeDigestResponse(input);
  const parts = [
    `username="${quote(creds.username)}"`,
    `realm="${quote(challenge.realm)}"`,
    `nonce="${quote(challenge.nonce)}"`,
    `uri="${quote(req.uri)}"`,
    `response="${response}"`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.opaque !== undefined) parts.push(`opaque="${quote(challenge.opaque)}"`);
  if (qop) parts.push(`qop=${qop}`, `nc=${ncText}`, `cnonce="${cnonce}"`);
  return `Digest ${parts.join(', ')}`;
}

function quote(s: string): string {
  return s.replace(/(["\\])/g, '\\$1');
}

/**
 * Picks the challenge to answer from several WWW-/Proxy-Authenticate values
 * (RFC 8760 §2.4: prefer the strongest algorithm we support).
 */
export function pickChallenge(values: string[]): DigestChallenge | null {
  const rank: Record<DigestAlgorithm, number> = { 'SHA-512-256': 6, 'SHA-512-256-sess': 5, 'SHA-256': 4, 'SHA-256-sess': 3, MD5: 2, 'MD5-sess': 1 };
  let best: DigestChallenge | null = null;
  for (const v of values) {
    const c = parseChallenge(v);
    if (c && (!best || rank[c.algorithm] > rank[best.algorithm])) best = c;
  }
  return best;
}

/** Which header answers which challenge (RFC 3261 §22.2 / §22.3). */
export type AuthHeaderName = 'Authorization' | 'Proxy-Authorization';

export type ChallengeVerdict =
  /** Answer every realm and send the request again. */
  | { retry: true }
  /** No Digest challenge we support: the 401/407 is final. */
  | { retry: false; reason: 'unsupported' }
  /** A realm we already answered challenged again (not stale, or stale twice): credentials rejected. */
  | { retry: false; reason: 'rejected'; realm: string };

/**
 * The credentials one request carries across challenges, kept per realm (RFC 3261
 * §22.3): a proxy's 407 (realm A) and then a registrar's 401 (realm B) are both
 * answered, the third request carrying Proxy-Authorization for A and Authorization
 * for B. A realm that challenges again after we answered it means the credentials
 * were rejected, unless it says stale=true (RFC 7616 §3.3: new nonce, same
 * credentials), which earns one more try per realm: never a loop.
 */
export class RealmCredentials {
  private readonly answers = new Map<string, { header: AuthHeaderName; challenge: DigestChallenge }>();
  private readonly staleRetried = new Set<string>();

  constructor(
    private readonly creds: Credentials,
    /** Next nonce count for a nonce (RFC 7616 §3.4: nc increases with each use of the nonce). */
    private readonly nextNc: (nonce: string) => number,
  ) {}

  /** Takes in the challenges of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate). */
  challenged(status: 401 | 407, values: readonly string[]): ChallengeVerdict {
    const header: AuthHeaderName = status === 401 ? 'Authorization' : 'Proxy-Authorization';
    // One challenge per realm (the strongest algorithm each, RFC 8760 §2.4).
    const byRealm = new Map<string, string[]>();
    for (const v of values) {
      const c = parseChallenge(v);
      if (c) byRealm.set(c.realm, [...(byRealm.get(c.realm) ?? []), v]);
    }
    if (byRealm.size === 0) return { retry: false, reason: 'unsupported' };
    for (const [realm, list] of byRealm) {
      const challenge = pickChallenge(list);
      if (!challenge) continue;
      const key = `${header}|${realm}`;
      if (this.answers.has(key)) {
        if (!challenge.stale || this.staleRetried.has(key)) return { retry: false, reason: 'rejected', realm };
        this.staleRetried.add(key);
      }
      this.answers.set(key, { header, challenge });
    }
    return { retry: true };
  }

  /** The Authorization / Proxy-Authorization fields for `req`, one per realm answered so far. */
  headers(req: { method: string; uri: string; body?: Buffer }): Array<[AuthHeaderName, string]> {
    return [...this.answers.values()].map(({ header, challenge }) => [header, buildAuthorization(challenge, this.creds, req, this.nextNc(challenge.nonce))]);
  }
}
