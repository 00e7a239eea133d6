// Registration (RFC 3261 §10): REGISTER our Contact with digest auth, remove our own bindings
// (by Contact, or by instance id after a binding query), and read what the registrar lists.
// One role of the user agent (ua.ts); it sees the UA through UaHost.
import { createRequest, type SipResponse } from './message.js';
import { newTag } from './transaction.js';
import type { Flow } from './transport.js';
import { formatUri, parseNameAddr } from './uri.js';
import { ALLOW, hostText, type SendResult, type UaHost } from './ua-host.js';
import type { RegisterOutcome } from './ua-types.js';
import { randomHex } from './random.js';

export class Registration {
  private readonly callId = `${randomHex(10)}`;
  private cseq = 0;
  private readonly fromTag = newTag();

  constructor(private readonly ua: UaHost) {}

  /** REGISTER our Contact (RFC 3261 §10.2), answering the digest challenge. */
  register(opts: { expires?: number } = {}): Promise<RegisterOutcome> {
    return this.doRegister(opts.expires ?? 300);
  }

  /**
   * Removes our own binding(s) only (RFC 3261 §10.2.2: our Contact with expires=0). With an
   * `instanceId`, every binding carrying it (an earlier process may have used another port).
   * `all` removes EVERY binding of the AOR, other devices' too (Contact: *, Expires: 0).
   */
  unregister(opts: { all?: boolean } = {}): Promise<RegisterOutcome> {
    if (opts.all === true) return this.doRegister(0, true);
    if (this.ua.opts.instanceId !== undefined) return this.unregisterInstance(this.ua.opts.instanceId);
    return this.doRegister(0);
  }

  /** RFC 3261 §10.2: REGISTER our Contact for `expires` seconds (0 = remove). */
  private async doRegister(expires: number, all = false): Promise<RegisterOutcome> {
    let contact = this.registerContact();
    const r = await this.sendRegister((f) => {
      contact = all ? '*' : this.registerContact(f);
      return all ? '*' : `${contact}${this.instanceParam()};expires=${expires}`;
    }, expires);
    const timings = this.ua.timingsOf(r.flow, r.requestMs);
    if (r.kind === 'failure') {
      const out: RegisterOutcome = { ok: false, reason: r.failure.message, attempts: r.attempts, timings, contact, failure: r.failure };
      if (r.response) out.status = r.response.status;
      return out;
    }
    const res = r.response;
    if (res.status < 200 || res.status >= 300) {
      return {
        ok: false,
        status: res.status,
        reason: res.reason,
        attempts: r.attempts,
        timings,
        contact,
        failure: { phase: 'request', code: 'ESTATUS', message: `REGISTER answered ${res.status} ${res.reason}` },
      };
    }
    const out: RegisterOutcome = { ok: true, status: res.status, reason: res.reason, attempts: r.attempts, timings, contact };
    const granted = grantedExpires(res, contact);
    if (granted !== undefined) out.expires = granted;
    else if (expires === 0) out.expires = 0;
    return out;
  }

  /** Contact URI we register: contactHeader() plus `;callprobe=ID` when we have an instance id. */
  private registerContact(flow?: Flow): string {
    const c = this.ua.contactHeader(flow);
    const id = this.ua.opts.instanceId;
    return id === undefined ? c : `${c.slice(0, -1)};callprobe=${id}>`;
  }

  /** `;+sip.instance="<urn:uuid:ID>"` (RFC 5626 §4.1) or nothing. */
  private instanceParam(): string {
    const id = this.ua.opts.instanceId;
    return id === undefined ? '' : `;+sip.instance="<urn:uuid:${id}>"`;
  }

  /** One REGISTER on our registration Call-ID; `contact` (per flow) null = a query (§10.2.3). */
  private async sendRegister(contact: ((f: Flow) => string) | null, expires?: number): Promise<SendResult> {
    const to = `<${this.ua.aor()}>`;
    const req = createRequest({
      method: 'REGISTER',
      uri: `sip:${hostText(this.ua.domain)}`,
      headers: [
        ...this.ua.baseHeaders(),
        ['From', `${to};tag=${this.fromTag}`],
        ['To', to],
        ['Call-ID', this.callId],
        ['CSeq', `${++this.cseq} REGISTER`],
        ...(expires !== undefined ? ([['Expires', String(expires)]] as Array<[string, string]>) : []),
        ['Allow', ALLOW],
        ['User-Agent', this.ua.opts.userAgent ?? 'callprobe/0.1'],
      ],
    });
    const r = await this.ua.send(req, this.ua.serverDest, contact ? { decorate: (m, f) => m.headers.set('Contact', contact(f)) } : {});
    // Keep CSeq increasing across registrations on this Call-ID (§10.2.4).
    if (r.kind === 'final') this.cseq = Math.max(this.cseq, r.request.cseq.seq);
    else this.cseq += r.attempts;
    return r;
  }

  /**
   * Removes the bindings carrying our instance id and nothing else: a query REGISTER
   * (no Contact, RFC 3261 §10.2.3) lists the AOR's bindings; ours (URI parameter
   * `callprobe=ID` or `+sip.instance`) are then sent back with expires=0 (§10.2.2).
   * The final 200 lists what is left: one of ours still there is a failure.
   */
  private async unregisterInstance(id: string): Promise<RegisterOutcome> {
    const query = await this.sendRegister(null);
    let attempts = query.attempts;
    let requestMs = query.requestMs ?? 0;
    /** A 2xx final response, or the failed outcome to return. */
    const check = (r: SendResult, what: string): { response: SipResponse } | { outcome: RegisterOutcome } => {
      const timings = this.ua.timingsOf(r.flow ?? query.flow, requestMs);
      const contact = this.registerContact();
      if (r.kind === 'failure') {
        const outcome: RegisterOutcome = { ok: false, reason: r.failure.message, attempts, timings, contact, failure: r.failure };
        if (r.response) outcome.status = r.response.status;
        return { outcome };
      }
      const res = r.response;
      if (res.status >= 200 && res.status < 300) return { response: res };
      const message = `REGISTER (${what}) answered ${res.status} ${res.reason}`;
      return { outcome: { ok: false, status: res.status, reason: res.reason, attempts, timings, contact, failure: { phase: 'request', code: 'ESTATUS', message } } };
    };
    const done = (res: SipResponse, removed: string[], left: Binding[]): RegisterOutcome => ({
      ok: true,
      status: res.status,
      reason: res.reason,
      attempts,
      timings: this.ua.timingsOf(query.flow, requestMs),
      contact: this.registerContact(),
      expires: 0,
      removed,
      kept: left.filter((b) => !isOurBinding(b, id)).length,
    });
    const q = check(query, 'binding query');
    if ('outcome' in q) return q.outcome;
    const listed = listBindings(q.response);
    const ours = listed.filter((b) => isOurBinding(b, id));
    if (ours.length === 0) return done(q.response, [], listed);
    const removal = await this.sendRegister(() => ours.map((b) => `<${b.uri}>;expires=0`).join(', '), 0);
    attempts += removal.attempts;
    requestMs += removal.requestMs ?? 0;
    const rm = check(removal, 'remove own bindings');
    if ('outcome' in rm) return rm.outcome;
    const left = listBindings(rm.response);
    const still = left.filter((b) => isOurBinding(b, id));
    if (still.length > 0) {
      const message = `registrar still lists our binding after expires=0: ${still.map((b) => b.uri).join(', ')}`;
      return { ...done(rm.response, [], left), ok: false, failure: { phase: 'request', code: 'EBINDING', message } };
    }
    return done(rm.response, ours.map((b) => b.uri), left);
  }
}

/** Expiry granted for our Contact (§10.3 step 8: Contact expires param, else Expires header). */
function grantedExpires(res: SipResponse, ourContact: string): number | undefined {
  const ours = parseNameAddr(ourContact)?.uri;
  for (const c of res.headers.getAll('contact')) {
    const na = parseNameAddr(c);
    if (!na || !ours) continue;
    if (na.uri.host === ours.host && (na.uri.port ?? 5060) === (ours.port ?? 5060) && na.uri.user === ours.user) {
      const e = na.params.expires;
      if (typeof e === 'string' && /^\d+$/.test(e)) return Number(e);
    }
  }
  const h = res.headers.get('expires');
  return h !== undefined && /^\d+$/.test(h) ? Number(h) : undefined;
}

/** One binding as a registrar lists it in a 200 to REGISTER (RFC 3261 §10.3 step 8). */
export interface Binding {
  /** The Contact URI, as listed. */
  uri: string;
  callprobeId?: string;
  /** `+sip.instance` without quotes, e.g. "<urn:uuid:…>". */
  instance?: string;
}

/** The bindings a REGISTER response enumerates (Contact headers, comma lists split). */
export function listBindings(res: SipResponse): Binding[] {
  const out: Binding[] = [];
  for (const c of res.headers.getAll('contact')) {
    const na = parseNameAddr(c);
    if (!na) continue;
    // The URI exactly as listed: registrars (Kamailio's usrloc) compare Contact URIs as strings.
    const raw = /<([^>]*)>/.exec(c)?.[1];
    const b: Binding = { uri: raw ?? formatUri(na.uri) };
    const id = na.uri.params.callprobe;
    if (typeof id === 'string') b.callprobeId = id;
    const inst = na.params['+sip.instance'];
    if (typeof inst === 'string') b.instance = inst;
    out.push(b);
  }
  return out;
}

/** Ours: the URI carries `callprobe=ID`, or `+sip.instance` is our URN (case-insensitive, RFC 4122 §3). */
export function isOurBinding(b: Binding, id: string): boolean {
  const want = id.toLowerCase();
  if (b.callprobeId?.toLowerCase() === want) return true;
  return b.instance?.replace(/^<|>$/g, '').toLowerCase() === `urn:uuid:${want}`;
}
