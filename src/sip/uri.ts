// URI, name-addr and generic-param parsing (RFC 3261 §19.1, §20, §25.1).
// Pure functions: no I/O. Every parser returns `null` on malformed input so the
// message parser can turn it into a typed parse error; nothing here throws.

/** A parsed URI. For sip/sips `host` is set; other schemes keep only `opaque` (RFC 4475 unkscm/novelsc). */
export interface SipUri {
  /** Lower-cased scheme: "sip", "sips", "tel", or anything else. */
  scheme: string;
  user?: string;
  password?: string;
  /** Host without IPv6 brackets ("" for non-SIP schemes). */
  host: string;
  port?: number;
  /** URI parameters in order; `null` for a parameter without value (";lr"). */
  params: Record<string, string | null>;
  /** URI headers ("?Route=..."), kept escaped. */
  headers: Record<string, string>;
  /** Everything after "scheme:" for non-SIP schemes. */
  opaque?: string;
}

/** display-name <uri>;params, or addr-spec;params. */
export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  params: Record<string, string | null>;
}

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const WS = ' \t';

export function isToken(text: string): boolean {
  return TOKEN_RE.test(text);
}

// RFC 3261 §25.1 character classes for the user / password / host / params parts.
const USER_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const PASSWORD_RE = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$/;
const HOSTNAME_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV4_RE = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;
const PARAMCHAR_RE = /^(?:[A-Za-z0-9\-_.!~*'()[\]/:&+$]|%[0-9A-Fa-f]{2})+$/;
const HEADERCHAR_RE = /^(?:[A-Za-z0-9\-_.!~*'()[\]/?:+$]|%[0-9A-Fa-f]{2})*$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

/** RFC 3261 §25.1 `user`: what may stand before "@" in a SIP URI (unreserved, escaped, user-unreserved). */
export function isSipUser(text: string): boolean {
  return USER_RE.test(text);
}

/**
 * A dialled string as a URI user part (RFC 3261 §25.1, §19.1.2): characters outside
 * unreserved / user-unreserved are %-escaped, so "#21" becomes "%2321" ("#" would start a
 * fragment); "*97" stays as it is ("*" is unreserved).
 */
export function escapeSipUser(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) => {
      const ch = String.fromCharCode(b);
      return b < 0x80 && /[A-Za-z0-9\-_.!~*'()&=+$,;?/]/.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

export function isIPv4(host: string): boolean {
  return IPV4_RE.test(host);
}

export function isIPv6(host: string): boolean {
  return host.includes(':') && IPV6_RE.test(host);
}

/** A host as it may appear in a URI or Via: hostname, IPv4 or "[IPv6]" (brackets removed). */
export function parseHost(text: string): string | null {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) return null;
    const inner = text.slice(1, -1);
    return isIPv6(inner) ? inner : null;
  }
  if (IPV4_RE.test(text) || HOSTNAME_RE.test(text)) return text;
  return null;
}

/** "host[:port]" → host and port, or null. */
export function parseHostPort(text: string): { host: string; port?: number } | null {
  let hostText = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    hostText = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      portText = rest.slice(1);
    }
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      hostText = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  const host = parseHost(hostText);
  if (host === null) return null;
  if (portText === undefined) return { host };
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { host, port };
}

/** Splits "a;b=c;d" style parameter lists (the part after the first ';'), no LWS allowed (URI params). */
function parseUriParams(text: string): Record<string, string | null> | null {
  const params: Record<string, string | null> = {};
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? null : part.slice(eq + 1);
    if (!PARAMCHAR_RE.test(name)) return null;
    if (value !== null && !PARAMCHAR_RE.test(value)) return null;
    params[name.toLowerCase()] = value;
  }
  return params;
}

/**
 * RFC 3261 §19.1.1 SIP-URI / SIPS-URI; other schemes are accepted as opaque
 * absoluteURI (RFC 4475 §3.3.2 unkscm: the parser must accept, the UA answers 416).
 */
export function parseUri(text: string): SipUri | null {
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const scheme = text.slice(0, colon);
  if (!SCHEME_RE.test(scheme)) return null;
  const rest = text.slice(colon + 1);
  const lower = scheme.toLowerCase();
  if (/[\s<>"]/.test(rest) || rest === '') return null;
  if (lower !== 'sip' && lower !== 'sips') {
    return { scheme: lower, host: '', params: {}, headers: {}, opaque: rest };
  }
  let hostPart = rest;
  let user: string | undefined;
  let password: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    // RFC 3261 §25.1: user may contain ';' and '?' (RFC 4475 semiuri), so split on the first ':'.
    const pc = userinfo.indexOf(':');
    user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    if (pc >= 0) password = userinfo.slice(pc + 1);
    if (!USER_RE.test(user)) return null;
    if (password !== undefined && !PASSWORD_RE.test(password)) return null;
  }
  let headersText: string | undefined;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headersText = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
  }
  let paramsText: string | undefined;
  const semi = hostPart.indexOf(';');
  if (semi >= 0) {
    paramsText = hostPart.slice(semi + 1);
    hostPart = hostPart.slice(0, semi);
  }
  const hp = parseHostPort(hostPart);
  if (!hp) return null;
  const params = paramsText === undefined ? {} : parseUriParams(paramsText);
  if (!params) return null;
  const headers: Record<string, string> = {};
  if (headersText !== undefined) {
    for (const h of headersText.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0) return null;
      const name = h.slice(0, eq);
      const value = h.slice(eq + 1);
      if (!HEADERCHAR_RE.test(name) || !HEADERCHAR_RE.test(value)) return null;
      headers[name] = value;
    }
  }
  const uri: SipUri = { scheme: lower, host: hp.host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.port !== undefined) uri.port = hp.port;
  return uri;
}

/** Serializes a URI back to text (round-trips what parseUri produced). */
export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  let s = `${uri.scheme}:`;
  if (uri.user !== undefined) {
    s += uri.user;
    if (uri.password !== undefined) s += `:${uri.password}`;
    s += '@';
  }
  s += uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  if (uri.port !== undefined) s += `:${uri.port}`;
  for (const [k, v] of Object.entries(uri.params)) s += v === null ? `;${k}` : `;${k}=${v}`;
  const hs = Object.entries(uri.headers);
  if (hs.length > 0) s += `?${hs.map(([k, v]) => `${k}=${v}`).join('&')}`;
  return s;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.includes(text[i] as string)) i++;
  return i;
}

/** Reads a quoted-string starting at text[i] === '"'; returns the unescaped value and the index after it. */
export function readQuoted(text: string, i: number): { value: string; end: number } | null {
  if (text[i] !== '"') return null;
  let value = '';
  let j = i + 1;
  while (j < text.length) {
    const c = text[j] as string;
    if (c === '\\') {
      if (j + 1 >= text.length) return null;
      value += text[j + 1];
      j += 2;
      continue;
    }
    if (c === '"') return { value, end: j + 1 };
    value += c;
    j++;
  }
  return null;
}

/**
 * Parses ";name=value;flag" header parameters with LWS allowed around ';' and '='
 * (RFC 3261 §25.1 generic-param, SEMI and EQUAL include SWS). Values may be quoted.
 */
export function parseHeaderParams(text: string): Record<string, string | null> | null {
  const params: Record<string, string | null> = {};
  let i = skipWs(text, 0);
  while (i < text.length) {
    if (text[i] !== ';') return null;
    i = skipWs(text, i + 1);
    const nameStart = i;
    while (i < text.length && /[A-Za-z0-9\-.!%*_+`'~]/.test(text[i] as string)) i++;
    const name = text.slice(nameStart, i);
    if (name === '') return null;
    i = skipWs(text, i);
    let value: string | null = null;
    if (text[i] === '=') {
      i = skipWs(text, i + 1);
      if (text[i] === '"') {
        const q = readQuoted(text, i);
        if (!q) return null;
        value = q.value;
        i = q.end;
      } else {
        const vStart = i;
        // gen-value = token / host / quoted-string; host may be "[v6]" and contain ':'.
        while (i < text.length && /[A-Za-z0-9\-.!%*_+`'~:[\]]/.test(text[i] as string)) i++;
        value = text.slice(vStart, i);
        if (value === '') return null;
      }
      i = skipWs(text, i);
    }
    params[name.toLowerCase()] = value;
  }
  return params;
}

/**
 * RFC 3261 §20.10/§25.1 name-addr / addr-spec with header params (From, To,
 * Contact, Route, Record-Route...). In addr-spec form the URI ends at the first
 * ';' (those are header params) and must not contain '?' or ',' (RFC 4475 regbadct).
 */
export function parseNameAddr(value: string): NameAddr | null {
  const text = value.trim();
  let displayName: string | undefined;
  let uriText: string;
  let rest: string;
  const lt = findUnquoted(text, '<');
  if (lt >= 0) {
    const dn = text.slice(0, lt).trim();
    if (dn.startsWith('"')) {
      const q = readQuoted(dn, 0);
      if (!q || q.end !== dn.length) return null;
      displayName = q.value;
    } else if (dn !== '') {
      // *(token LWS): words of token characters separated by whitespace (RFC 4475 baddn rejects ',').
      if (!dn.split(/[ \t]+/).every(isToken)) return null;
      displayName = dn;
    }
    const gt = text.indexOf('>', lt);
    if (gt < 0) return null;
    uriText = text.slice(lt + 1, gt);
    rest = text.slice(gt + 1);
  } else {
    if (text.includes('"')) return null;
    const semi = text.indexOf(';');
    uriText = (semi < 0 ? text : text.slice(0, semi)).trimEnd();
    rest = semi < 0 ? '' : text.slice(semi);
    if (/[?,]/.test(uriText)) return null;
  }
  const uri = parseUri(uriText);
  if (!uri) return null;
  const params = parseHeaderParams(rest);
  if (!params) return null;
  const out: NameAddr = { uri, params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

/** Formats a name-addr, always with <> (safe for any URI). */
export function formatNameAddr(na: NameAddr): string {
  let s = '';
  if (na.displayName !== undefined && na.displayName !== '') s += `"${na.displayName.replace(/(["\\])/g, '\\$1')}" `;
  s += `<${formatUri(na.uri)}>`;
  s += formatParams(na.params);
  return s;
}

export function formatParams(params: Record<string, string | null>): string {
  let s = '';
  for (const [k, v] of Object.entries(params)) {
    if (v === null) s += `;${k}`;
    else s += isToken(v) || /^[[\]0-9A-Fa-f:.]+$/.test(v) ? `;${k}=${v}` : `;${k}="${v.replace(/(["\\])/g, '\\$1')}"`;
  }
  return s;
}

/**
 * Calls `visit(c, i)` for every character outside quoted strings (RFC 3261
 * §25.1 quoted-string, with quoted-pair escapes) until it returns true.
 * Returns the index where it stopped, -1 at the end, or -2 for an unterminated quote.
 */
function scanUnquoted(text: string, visit: (c: string, i: number) => boolean): number {
  let inQuote = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') inQuote = true;
    else if (visit(c, i)) return i;
  }
  return inQuote ? -2 : -1;
}

/** Index of `ch` outside quoted strings, or -1. */
export function findUnquoted(text: string, ch: string): number {
  return Math.max(-1, scanUnquoted(text, (c) => c === ch));
}

/**
 * Splits a header value on top-level commas: not inside quoted strings or <...>
 * (RFC 3261 §7.3.1). Returns null for an unterminated quote.
 */
export function splitHeaderList(value: string): string[] | null {
  const out: string[] = [];
  let inAngle = false;
  let start = 0;
  const end = scanUnquoted(value, (c, i) => {
    if (c === '<') inAngle = true;
    else if (c === '>') inAngle = false;
    else if (c === ',' && !inAngle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
    return false;
  });
  if (end === -2) return null;
  out.push(value.slice(start).trim());
  return out;
}
