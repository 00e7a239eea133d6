// The one gate for text that reaches the wire. Every user-supplied URI part
// and header value (an extension, an auth user, a display name, a server or
// target URI, extra headers) is checked here, and serializeMessage() checks
// every start line and header again, so no command can put CR, LF or NUL into
// a SIP message (header injection, issue 21.6). A password inside a SIP URI
// (`sip:1001:secret@host`, RFC 3261 §19.1.1: NOT RECOMMENDED) is refused, and
// the refusal never repeats the password.
import { isSipUser, parseHost, parseUri, formatUri, type SipUri } from './uri.js';

/** A value that must not go into a SIP message; `field` names where it came from. */
export class SipInputError extends Error {
  readonly code = 'E_SIP_INPUT';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

// CR, LF and NUL end or corrupt a header line; other C0 controls and DEL are not
// allowed in any SIP token, quoted string or URI either (RFC 3261 §25.1). HTAB is LWS.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** Quotes a rejected value for a message: control characters visible, never raw. */
function shown(value: string): string {
  const text = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  return text;
}

/** Throws when `value` holds CR, LF, NUL or another control character. */
export function checkHeaderText(field: string, value: string): void {
  if (CONTROL_RE.test(value)) throw new SipInputError(field, `${shown(value)} contains a control character (CR, LF or NUL); refused, nothing was sent`);
}

/** A SIP URI with the password (if any) replaced: safe for messages and logs. */
export function redactUri(uri: SipUri): string {
  return formatUri(uri.password === undefined ? uri : { ...uri, password: '***' });
}

/** Parses a user-supplied SIP URI, refusing control characters and a password in it. */
export function checkSipUri(field: string, text: string): SipUri {
  checkHeaderText(field, text);
  const uri = parseUri(text);
  if (uri === null) throw new SipInputError(field, `${shown(text)} is not a valid URI`);
  if (uri.password !== undefined) {
    throw new SipInputError(field, `${redactUri(uri)}: a password inside a SIP URI is not allowed (it would be sent in clear); give it as the account's password`);
  }
  return uri;
}

/** Does `text` carry a password in its userinfo (sip:user:password@host)? For config validation. */
export function uriHasPassword(text: string): boolean {
  return parseUri(text)?.password !== undefined;
}

export interface UaIdentityInput {
  /** Server as the UA takes it: a SIP URI or host[:port]. */
  server?: string;
  user?: string;
  authUser?: string;
  displayName?: string;
  domain?: string;
}

/** The user-supplied parts a UA puts into its Request-URIs, From, To, Contact and Authorization. */
export function checkUaIdentity(input: UaIdentityInput): void {
  if (input.server !== undefined) checkSipUri('server', /^sips?:/i.test(input.server) ? input.server : `sip:${input.server}`);
  if (input.user !== undefined && !isSipUser(input.user)) {
    checkHeaderText('user', input.user);
    throw new SipInputError('user', `${shown(input.user)} is not a SIP user part (letters, digits, - _ . ! ~ * ' ( ) & = + $ , ; ? / or %XX)`);
  }
  if (input.authUser !== undefined) checkHeaderText('auth user', input.authUser);
  if (input.displayName !== undefined) checkHeaderText('display name', input.displayName);
  if (input.domain !== undefined && parseHost(input.domain) === null) {
    checkHeaderText('domain', input.domain);
    throw new SipInputError('domain', `${shown(input.domain)} is not a host name or IP address`);
  }
}

/** serializeMessage's check of what it is about to write. */
export function checkMessageLine(method: string | undefined, uri: string | undefined, reason: string | undefined): void {
  if (method !== undefined && !TOKEN_RE.test(method)) throw new SipInputError('method', `${shown(method)} is not a SIP token`);
  if (uri !== undefined) {
    checkHeaderText('Request-URI', uri);  // parsed Request-URIs never hold controls (parseUri)
    if (/\s/.test(uri)) throw new SipInputError('Request-URI', `${shown(uri)} contains white space`);
  }
  if (reason !== undefined) checkHeaderText('reason phrase', reason);
}

// What may never be written into a header value: CR and LF end the line; NUL only as an
// escaped quoted-pair ("\\\0", RFC 3261 §25.1; RFC 4475's torture messages carry one and
// we echo From/To), otherwise it truncates the message in C parsers.
// eslint-disable-next-line no-control-regex
const LINE_BREAKING_RE = /[\r\n]|(?<!\\)\x00/;

/** serializeMessage's check of one header field (values it echoes from parsed requests pass). */
export function checkHeader(name: string, value: string): void {
  if (!TOKEN_RE.test(name)) throw new SipInputError('header name', `${shown(name)} is not a SIP token`);
  if (LINE_BREAKING_RE.test(value)) throw new SipInputError(`${name} header`, `${shown(value)} contains CR, LF or NUL; refused, nothing was sent`);
}
