// HTTP Digest for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760):
// MD5, SHA-256 and their -sess variants, qop=auth (and auth-int), nonce count.
import { createHash, randomBytes } from 'node:crypto';

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
  return createHash(hashName(alg)).update(data).digest('hex');
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
  cnonce: string = randomBytes(8).toString('hex'),
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
