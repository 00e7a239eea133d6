// SIP message model, parser and serializer (RFC 3261 §7, §20, §25).
//
// Stable API (other modules - HEP source, call probe - build on it):
//   parseMessage(data: Buffer | string): ParseResult
//     ParseResult = { ok: true; message: SipMessage } | { ok: false; error: SipParseError }
//     Never throws; malformed input gives { ok: false, error: { code, message } }.
//     A datagram may carry a body without Content-Length (the rest is the body);
//     bytes after Content-Length are ignored (RFC 4475 dblreq).
//   SipMessage = SipRequest | SipResponse
//     SipRequest:  kind 'request',  method, uri (text), requestUri (parsed), headers, body
//     SipResponse: kind 'response', status, reason, headers, body
//     headers: SipHeaders, ordered, names case-insensitive and compact-aware
//       get(name) first value, getAll(name) every value (list headers such as Via,
//       Route, Contact are split on top-level commas), set/append/remove/prepend.
//     convenience getters: callId, cseq {seq, method}, from, to (NameAddr), vias (Via[]).
//   serializeMessage(msg): Buffer  (Content-Length always recomputed from body)
//   createRequest({ method, uri, headers, body }) / createResponse(request, status, reason?, opts)
//   parseVia(value), formatVia(via), parseCSeq(value)
// URIs and name-addr: see ./uri.ts (parseUri, parseNameAddr, formatNameAddr).
import { checkHeader, checkMessageLine } from './input.js';
import {
  parseHeaderParams,
  parseHostPort,
  parseNameAddr,
  parseUri,
  splitHeaderList,
  formatParams,
  isToken,
  type NameAddr,
  type SipUri,
} from './uri.js';

export type ParseErrorCode =
  | 'E_EMPTY'
  | 'E_TOO_LARGE'
  | 'E_NO_HEADER_END'
  | 'E_START_LINE'
  | 'E_VERSION'
  | 'E_STATUS'
  | 'E_REQUEST_URI'
  | 'E_HEADER_SYNTAX'
  | 'E_MISSING_HEADER'
  | 'E_DUPLICATE_HEADER'
  | 'E_BAD_HEADER_VALUE'
  | 'E_CSEQ'
  | 'E_CONTENT_LENGTH'
  | 'E_INTERNAL';

export interface SipParseError {
  code: ParseErrorCode;
  message: string;
}

export type ParseResult = { ok: true; message: SipMessage } | { ok: false; error: SipParseError };

/** RFC 3261 §7.3.3 compact forms (plus RFC 3515 r, RFC 3841 j/d, RFC 4028 x, RFC 3265 o/u, RFC 3892 b, RFC 4474 y/n). */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  u: 'allow-events',
  r: 'refer-to',
  b: 'referred-by',
  x: 'session-expires',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  y: 'identity',
  n: 'identity-info',
};

/** Headers whose values are comma-separated lists (RFC 3261 §7.3.1). Not the auth headers: their params contain commas. */
const LIST_HEADERS = new Set([
  'via',
  'route',
  'record-route',
  'contact',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'content-encoding',
  'allow-events',
  'call-info',
  'alert-info',
  'error-info',
  'in-reply-to',
  'warning',
  'path',
  'service-route',
  'p-asserted-identity',
  'reason',
]);

/** Headers that must appear at most once (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01). */
const SINGLE_HEADERS = ['call-id', 'cseq', 'from', 'to', 'content-length', 'max-forwards'];

/** Lower-case long form of a header name ("v" → "via", "Call-ID" → "call-id"). */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

export interface HeaderField {
  name: string;
  value: string;
}

/** Ordered header fields; lookups by name are case-insensitive and know compact forms. */
export class SipHeaders {
  private readonly fields: HeaderField[] = [];

  constructor(fields: Iterable<HeaderField> = []) {
    for (const f of fields) this.fields.push({ name: f.name, value: f.value });
  }

  /** First value of `name` (for list headers the first list element), or undefined. */
  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  /** Every value of `name` in order; list headers are split on top-level commas. */
  getAll(name: string): string[] {
    const key = canonicalHeaderName(name);
    const out: string[] = [];
    for (const f of this.fields) {
      if (canonicalHeaderName(f.name) !== key) continue;
      if (LIST_HEADERS.has(key)) {
        for (const part of splitHeaderList(f.value) ?? [f.value]) if (part !== '') out.push(part);
      } else out.push(f.value);
    }
    return out;
  }

  has(name: string): boolean {
    const key = canonicalHeaderName(name);
    return this.fields.some((f) => canonicalHeaderName(f.name) === key);
  }

  /** Replaces every field of `name` with one field (placed where the first one was, else appended). */
  set(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const idx = this.fields.findIndex((f) => canonicalHeaderName(f.name) === key);
    this.remove(name);
    if (idx < 0 || idx > this.fields.length) this.fields.push({ name, value });
    else this.fields.splice(idx, 0, { name, value });
    return this;
  }

  append(name: string, value: string): this {
    this.fields.push({ name, value });
    return this;
  }

  /** Inserts before the first field of the same name (a new top Via), else at the start. */
  prepend(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const idx = this.fields.findIndex((f) => canonicalHeaderName(f.name) === key);
    this.fields.splice(idx < 0 ? 0 : idx, 0, { name, value });
    return this;
  }

  remove(name: string): this {
    const key = canonicalHeaderName(name);
    for (let i = this.fields.length - 1; i >= 0; i--) {
      const f = this.fields[i];
      if (f && canonicalHeaderName(f.name) === key) this.fields.splice(i, 1);
    }
    return this;
  }

  /** Removes the first list element of `name` (a proxy/UAC popping the top Via). */
  removeFirst(name: string): this {
    const key = canonicalHeaderName(name);
    const idx = this.fields.findIndex((f) => canonicalHeaderName(f.name) === key);
    const f = this.fields[idx];
    if (!f) return this;
    const parts = LIST_HEADERS.has(key) ? (splitHeaderList(f.value) ?? [f.value]) : [f.value];
    if (parts.length <= 1) this.fields.splice(idx, 1);
    else f.value = parts.slice(1).join(', ');
    return this;
  }

  entries(): HeaderField[] {
    return this.fields.map((f) => ({ ...f }));
  }

  clone(): SipHeaders {
    return new SipHeaders(this.fields);
  }
}

export interface Via {
  /** "SIP/2.0" */
  protocol: string;
  /** Upper-case transport token: UDP, TCP, TLS, WS, SCTP, or an unknown token. */
  transport: string;
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

/** RFC 3261 §20.42 via-parm; LWS allowed around '/', ';', '=' (RFC 4475 wsinv). */
export function parseVia(value: string): Via | null {
  const m = /^\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*\/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^\s;]+)\s*(;.*)?$/s.exec(
    value,
  );
  if (!m) return null;
  const [, name, version, transport, sentBy, paramsText] = m;
  if (!name || !version || !transport || !sentBy) return null;
  const hp = parseHostPort(sentBy);
  if (!hp) return null;
  const params = paramsText === undefined ? {} : parseHeaderParams(paramsText);
  if (!params) return null;
  const via: Via = { protocol: `${name.toUpperCase()}/${version}`, transport: transport.toUpperCase(), host: hp.host, params };
  if (hp.port !== undefined) via.port = hp.port;
  return via;
}

export function formatVia(via: Via): string {
  const host = via.host.includes(':') ? `[${via.host}]` : via.host;
  return `${via.protocol}/${via.transport} ${host}${via.port !== undefined ? `:${via.port}` : ''}${formatParams(via.params)}`;
}

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §8.1.1.5: sequence number < 2^31, method token. */
export function parseCSeq(value: string): CSeq | null {
  const m = /^\s*(\d{1,12})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$/.exec(value);
  if (!m || !m[1] || !m[2]) return null;
  const seq = Number(m[1]);
  if (seq > 2 ** 31 - 1) return null;
  return { seq, method: m[2] };
}

abstract class SipMessageBase {
  headers: SipHeaders;
  body: Buffer;

  constructor(headers: SipHeaders = new SipHeaders(), body: Buffer = Buffer.alloc(0)) {
    this.headers = headers;
    this.body = body;
  }

  get callId(): string {
    return this.headers.get('call-id') ?? '';
  }

  get cseq(): CSeq {
    return parseCSeq(this.headers.get('cseq') ?? '') ?? { seq: 0, method: '' };
  }

  get from(): NameAddr | null {
    return parseNameAddr(this.headers.get('from') ?? '');
  }

  get to(): NameAddr | null {
    return parseNameAddr(this.headers.get('to') ?? '');
  }

  /** Via list, top first; entries that do not parse are skipped. */
  get vias(): Via[] {
    const out: Via[] = [];
    for (const v of this.headers.getAll('via')) {
      const via = parseVia(v);
      if (via) out.push(via);
    }
    return out;
  }
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;

  /** `uri`: the Request-URI as text. */
  constructor(
    public method: string,
    public uri: string,
    headers?: SipHeaders,
    body?: Buffer,
  ) {
    super(headers, body);
  }

  /** Parsed Request-URI (null only if `uri` was set to something unparsable after construction). */
  get requestUri(): SipUri | null {
    return parseUri(this.uri);
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;

  constructor(
    public status: number,
    public reason: string,
    headers?: SipHeaders,
    body?: Buffer,
  ) {
    super(headers, body);
  }
}

export type SipMessage = SipRequest | SipResponse;

/** Largest message we accept (header block + body): SIP over UDP is far below this. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_CONTENT_LENGTH = MAX_MESSAGE_BYTES;

const METHOD_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const HEADER_LINE_RE = /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:[ \t]*(.*)$/s;

function fail(code: ParseErrorCode, message: string): ParseResult {
  return { ok: false, error: { code, message } };
}

/** Index just past the blank line ending the header block, and where the block ends; -1 if absent. */
export function findHeaderEnd(buf: Buffer, from = 0): { headersEnd: number; bodyStart: number } | null {
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    // "\n\n" or "\n\r\n" after a line end (bare LF tolerated on input).
    if (buf[i + 1] === 0x0a) return { headersEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headersEnd: i, bodyStart: i + 3 };
  }
  return null;
}

/** Content-Length header value of a raw header block, for stream framing: number, undefined (absent) or null (invalid). */
export function contentLengthOf(headerText: string): number | undefined | null {
  const m = /(?:^|\r?\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(headerText);
  if (!m) return undefined;
  const v = (m[1] ?? '').trim();
  if (!/^\d{1,9}$/.test(v)) return null;
  const n = Number(v);
  return n > MAX_CONTENT_LENGTH ? null : n;
}

/**
 * Parses one SIP message (RFC 3261 §7). Leading CRLFs are skipped (§7.5).
 * Never throws: any unexpected exception becomes E_INTERNAL.
 */
export function parseMessage(data: Buffer | string): ParseResult {
  try {
    return parseUnsafe(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } catch (err) {
    return fail('E_INTERNAL', `parser error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseUnsafe(buf: Buffer): ParseResult {
  if (buf.length > MAX_MESSAGE_BYTES) return fail('E_TOO_LARGE', `message of ${buf.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start >= buf.length) return fail('E_EMPTY', 'empty message');
  const end = findHeaderEnd(buf, start);
  if (!end) return fail('E_NO_HEADER_END', 'no empty line after the header fields');
  const headText = buf.subarray(start, end.headersEnd).toString('utf8');
  const lines = headText.split(/\r?\n/);
  const startLine = (lines.shift() ?? '').replace(/\r$/, '');
  // RFC 3261 §25.1: CR appears only in CRLF (quoted-pair excludes it), and no control
  // character in a start line. A bare CR or NUL would survive into what we echo (Via,
  // Record-Route, Call-ID) and end a line at the next hop; serializeMessage refuses it.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(startLine)) return fail('E_START_LINE', `control character in the start line: ${truncate(JSON.stringify(startLine))}`);

  // Unfold continuation lines (RFC 3261 §7.3.1: LWS = [*WSP CRLF] 1*WSP).
  const fields: HeaderField[] = [];
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    // NUL only as an escaped quoted-pair ("\\\0", RFC 4475 §3.1.1.6 esc02 carries one).
    // eslint-disable-next-line no-control-regex
    if (/\r|(?<!\\)\x00/.test(line)) return fail('E_HEADER_SYNTAX', `bare CR or NUL in a header line: ${truncate(JSON.stringify(line))}`);
    if (line[0] === ' ' || line[0] === '\t') {
      const last = fields[fields.length - 1];
      if (!last) return fail('E_HEADER_SYNTAX', 'continuation line before the first header field');
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const m = HEADER_LINE_RE.exec(line);
    if (!m || !m[1]) return fail('E_HEADER_SYNTAX', `malformed header line: ${truncate(line)}`);
    fields.push({ name: m[1], value: (m[2] ?? '').trim() });
  }
  const headers = new SipHeaders(fields);

  let message: SipMessage;
  if (startLine.startsWith('SIP/')) {
    // RFC 3261 §7.2 Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 4475 noreason: empty phrase ok).
    const m = /^SIP\/(\d+\.\d+) (\d+)(?: (.*))?$/s.exec(startLine);
    if (!m) return fail('E_START_LINE', `malformed status line: ${truncate(startLine)}`);
    if (m[1] !== '2.0') return fail('E_VERSION', `unsupported SIP version SIP/${m[1] ?? ''}`);
    if (!/^[1-6]\d\d$/.test(m[2] ?? '')) return fail('E_STATUS', `status code ${truncate(m[2] ?? '')} is not 100-699`);
    message = new SipResponse(Number(m[2]), m[3] ?? '', headers);
  } else {
    // RFC 3261 §7.1 Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP (RFC 4475 lwsstart, trws).
    const parts = startLine.split(' ');
    if (parts.length !== 3) return fail('E_START_LINE', `malformed request line: ${truncate(startLine)}`);
    const [method, uri, version] = parts as [string, string, string];
    if (!METHOD_RE.test(method)) return fail('E_START_LINE', `bad method: ${truncate(method)}`);
    if (!/^SIP\/\d+\.\d+$/i.test(version)) return fail('E_START_LINE', `bad version: ${truncate(version)}`);
    if (version.toUpperCase() !== 'SIP/2.0') return fail('E_VERSION', `unsupported version ${truncate(version)}`);
    const parsedUri = parseUri(uri);
    if (!parsedUri) return fail('E_REQUEST_URI', `malformed Request-URI: ${truncate(uri)}`);
    // RFC 4475 §3.1.2.11 escruri: URI headers are not allowed in a Request-URI.
    if (Object.keys(parsedUri.headers).length > 0) return fail('E_REQUEST_URI', 'Request-URI must not contain headers');
    message = new SipRequest(method, uri, headers);
  }

  const checked = validateHeaders(message);
  if (checked) return { ok: false, error: checked };

  // Body framing (RFC 3261 §18.3).
  const available = buf.length - end.bodyStart;
  const clText = headers.get('content-length');
  let bodyLength = available;
  if (clText !== undefined) {
    if (!/^\d{1,9}$/.test(clText)) return fail('E_CONTENT_LENGTH', `invalid Content-Length: ${truncate(clText)}`);
    const cl = Number(clText);
    if (cl > MAX_CONTENT_LENGTH) return fail('E_CONTENT_LENGTH', `Content-Length ${cl} is too large`);
    if (cl > available) return fail('E_CONTENT_LENGTH', `Content-Length ${cl} exceeds the ${available} body bytes received`);
    bodyLength = cl;
  }
  message.body = Buffer.from(buf.subarray(end.bodyStart, end.bodyStart + bodyLength));
  return { ok: true, message };
}

function validateHeaders(msg: SipMessage): SipParseError | null {
  const h = msg.headers;
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!h.has(name)) return { code: 'E_MISSING_HEADER', message: `missing ${displayName(name)} header` };
  }
  const counts = new Map<string, number>();
  for (const f of h.entries()) {
    const key = canonicalHeaderName(f.name);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const name of SINGLE_HEADERS) {
    if ((counts.get(name) ?? 0) > 1) return { code: 'E_DUPLICATE_HEADER', message: `${displayName(name)} appears more than once` };
  }
  const cseq = parseCSeq(h.get('cseq') ?? '');
  if (!cseq) return { code: 'E_CSEQ', message: `malformed CSeq: ${truncate(h.get('cseq') ?? '')}` };
  if (msg.kind === 'request' && cseq.method !== msg.method) {
    return { code: 'E_CSEQ', message: `CSeq method ${cseq.method} does not match request method ${msg.method}` };
  }
  if ((h.get('call-id') ?? '').trim() === '' || /\s/.test(h.get('call-id') ?? '')) {
    return { code: 'E_BAD_HEADER_VALUE', message: 'malformed Call-ID' };
  }
  for (const name of ['from', 'to']) {
    if (!parseNameAddr(h.get(name) ?? '')) return { code: 'E_BAD_HEADER_VALUE', message: `malformed ${displayName(name)}: ${truncate(h.get(name) ?? '')}` };
  }
  for (const v of h.getAll('via')) {
    if (!parseVia(v)) return { code: 'E_BAD_HEADER_VALUE', message: `malformed Via: ${truncate(v)}` };
  }
  // Empty list elements (",,") are invalid for Via (RFC 4475 badinv01).
  for (const f of h.entries()) {
    if (canonicalHeaderName(f.name) !== 'via') continue;
    const parts = splitHeaderList(f.value);
    if (!parts || parts.some((p) => p === '')) return { code: 'E_BAD_HEADER_VALUE', message: `malformed Via: ${truncate(f.value)}` };
  }
  for (const c of h.getAll('contact')) {
    if (c.trim() === '*') continue;
    if (!parseNameAddr(c)) return { code: 'E_BAD_HEADER_VALUE', message: `malformed Contact: ${truncate(c)}` };
  }
  const mf = h.get('max-forwards');
  if (mf !== undefined && (!/^\d{1,9}$/.test(mf) || Number(mf) > 255)) {
    return { code: 'E_BAD_HEADER_VALUE', message: `invalid Max-Forwards: ${truncate(mf)}` };
  }
  const expires = h.get('expires');
  if (expires !== undefined && /^\d+$/.test(expires) && Number(expires) > 2 ** 32 - 1) {
    return { code: 'E_BAD_HEADER_VALUE', message: `Expires ${truncate(expires)} exceeds 2^32-1` };
  }
  return null;
}

const DISPLAY_NAMES: Record<string, string> = { 'call-id': 'Call-ID', cseq: 'CSeq', via: 'Via', from: 'From', to: 'To' };
function displayName(key: string): string {
  return DISPLAY_NAMES[key] ?? key.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** Serializes a message; Content-Length is always recomputed from the body (RFC 3261 §18.3). */
export function serializeMessage(msg: SipMessage): Buffer {
  // The wire's last line of defence against header injection (src/sip/input.ts): throws SipInputError.
  if (msg.kind === 'request') checkMessageLine(msg.method, msg.uri, undefined);
  else checkMessageLine(undefined, undefined, msg.reason);
  const startLine = msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  let head = `${startLine}\r\n`;
  for (const f of msg.headers.entries()) {
    if (canonicalHeaderName(f.name) === 'content-length') continue;
    checkHeader(f.name, f.value);
    head += `${f.name}: ${f.value}\r\n`;
  }
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  return msg.body.length > 0 ? Buffer.concat([Buffer.from(head, 'utf8'), msg.body]) : Buffer.from(head, 'utf8');
}

export interface RequestInit {
  method: string;
  uri: string;
  /** Header fields in order; arrays give repeated fields. */
  headers?: Array<[string, string]>;
  body?: Buffer | string;
}

export function createRequest(init: RequestInit): SipRequest {
  const headers = new SipHeaders((init.headers ?? []).map(([name, value]) => ({ name, value })));
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
  return new SipRequest(init.method, init.uri, headers, body);
}

/** Default reason phrases (RFC 3261 §21). */
export const REASON_PHRASES: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  603: 'Decline',
};

export interface ResponseInit {
  /** To-tag to add when the request's To has none (RFC 3261 §8.2.6.2). */
  toTag?: string;
  headers?: Array<[string, string]>;
  body?: Buffer | string;
}

/** RFC 3261 §8.2.6.2: copies Via, From, To (+tag), Call-ID, CSeq (and Record-Route for dialog-creating 1xx/2xx, §12.1.1). */
export function createResponse(req: SipRequest, status: number, reason?: string, init: ResponseInit = {}): SipResponse {
  const headers = new SipHeaders();
  for (const v of req.headers.getAll('via')) headers.append('Via', v);
  if (status > 100 && status < 300) for (const rr of req.headers.getAll('record-route')) headers.append('Record-Route', rr);
  headers.append('From', req.headers.get('from') ?? '');
  let to = req.headers.get('to') ?? '';
  if (init.toTag !== undefined && status > 100) {
    const parsed = parseNameAddr(to);
    if (parsed && parsed.params.tag === undefined) to = `${to};tag=${init.toTag}`;
  }
  headers.append('To', to);
  headers.append('Call-ID', req.headers.get('call-id') ?? '');
  headers.append('CSeq', req.headers.get('cseq') ?? '');
  for (const [name, value] of init.headers ?? []) headers.append(name, value);
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
  return new SipResponse(status, reason ?? REASON_PHRASES[status] ?? 'Unknown', headers, body);
}

/** RFC 3261 §8.1.3.3: a UAC discards a response with more than one Via (RFC 4475 bcast). */
export function responseHasSingleVia(res: SipResponse): boolean {
  return res.headers.getAll('via').length === 1;
}

export { isToken };
export type { NameAddr, SipUri };
