// `register` probe: REGISTER an extension with digest auth (RFC 3261 §10,
// §22) and time it; or remove the probe's own binding (unregister). At most two
// REGISTERs are sent for a wrong password: the failure names the user and realm.
//
// Which binding is "ours": every REGISTER carries a stable instance id derived from
// extension, AOR domain and this machine's host name (probeInstanceId), as
// `+sip.instance` and as the Contact URI parameter `callprobe=ID`. A later process
// (another ephemeral port) finds it again, so `unregister` removes exactly the
// probe's binding and leaves the extension's real phones registered.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { ProbeContext } from './context.js';
import type { Failure, ProbeResult } from './result.js';
import { hopOptions, timingsMs, toFailure, withProbeUa, type SipHopSpec } from './options.js';
import { parseServer } from '../sip/ua.js';

export interface RegisterProbeSpec extends SipHopSpec {
  /** Registrar: "sip:127.0.0.1:5060", "sips:pbx.example", "host[:port]". */
  server: string;
  /** Extension / user part of the AOR. */
  user: string;
  /** Resolved secret (the config layer resolves env:/file: references). */
  password?: string;
  authUser?: string;
  /** AOR domain (default: the server host). */
  domain?: string;
  /** Requested binding lifetime in seconds (default 300). */
  expires?: number;
  /** Remove this probe's own binding(s) (our Contact with expires=0) instead of registering. */
  unregister?: boolean;
  /** Remove EVERY binding of the AOR, other devices' too (Contact: *, Expires: 0). Wins over `unregister`. */
  unregisterAll?: boolean;
  /** Override of the derived instance id (a UUID), e.g. for an agent whose host name changes per deploy. */
  instanceId?: string;
  localPort?: number;
}

/** Fixed namespace of callprobe's name-based instance ids (RFC 4122 §4.3). */
const INSTANCE_NAMESPACE = 'b5c2f0a4-6f0e-4d4b-9a53-63616c6c7072';

/**
 * Stable UUID (RFC 4122 §4.3, version 5) naming this probe's registration of `user@domain`
 * from `host`: the same on every run on this machine, different for another extension or host.
 */
export function probeInstanceId(user: string, domain: string, host: string = hostname()): string {
  const ns = Buffer.from(INSTANCE_NAMESPACE.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(`callprobe:${user}@${domain.toLowerCase()}:${host.toLowerCase()}`).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function probeRegister(ctx: ProbeContext, spec: RegisterProbeSpec): Promise<ProbeResult> {
  const base: ProbeResult = {
    probe: 'register',
    success: false,
    user: spec.user,
    server: spec.server,
    ...(spec.domain !== undefined ? { domain: spec.domain } : {}),
    transport: spec.transport ?? 'udp',
    action: spec.unregisterAll ? 'unregister-all' : spec.unregister ? 'unregister' : 'register',
    failures: [],
  };
  if (spec.instanceId !== undefined && !UUID_RE.test(spec.instanceId)) {
    return { ...base, failures: [{ check: 'instance_id', phase: 'config', message: `instance id "${spec.instanceId}" is not a UUID` }] };
  }
  const domain = spec.domain ?? parseServer(spec.server)?.host;
  const instanceId = spec.instanceId ?? (domain !== undefined ? probeInstanceId(spec.user, domain) : undefined);
  return withProbeUa(
    ctx,
    {
      server: spec.server,
      user: spec.user,
      ...(spec.password !== undefined ? { password: spec.password } : {}),
      ...(spec.authUser ? { authUser: spec.authUser } : {}),
      ...(spec.domain ? { domain: spec.domain } : {}),
      ...hopOptions(spec),
      ...(spec.localPort !== undefined ? { localPort: spec.localPort } : {}),
      ...(instanceId !== undefined ? { instanceId } : {}),
    },
    base,
    async (ua) => {
      const out =
        spec.unregisterAll || spec.unregister ? await ua.unregister({ all: spec.unregisterAll === true }) : await ua.register({ expires: spec.expires ?? 300 });
      const timings = timingsMs(out.timings);
      const result: ProbeResult = {
        ...base,
        transport: ua.serverDest.transport,
        success: out.ok,
        attempts: out.attempts,
        contact: out.contact,
        timings_ms: timings,
        failures: [],
      };
      if (out.status !== undefined) {
        result.status = out.status;
        result.reason = out.reason;
      }
      // The typed section reporters read (status and timings above stay for the JSON output).
      result.sip = { final_status: out.status ?? null, ...(out.status !== undefined ? { reason: out.reason } : {}), timings_ms: { ...timings } };
      if (out.expires !== undefined) result.expires = out.expires;
      if (instanceId !== undefined && !spec.unregisterAll) result.instance_id = instanceId;
      if (out.removed !== undefined) result.removed = out.removed;
      if (out.kept !== undefined) result.other_bindings = out.kept;
      if (!out.ok) {
        const f: Failure = out.failure
          ? toFailure(out.failure, 'register', out.failure.code === 'EAUTH' ? 'credentials' : 'register_response')
          : { check: 'register_response', phase: 'register', message: out.reason };
        if (out.status !== undefined) {
          f.expected = '2xx';
          f.actual = out.status;
        }
        result.failures.push(f);
      }
      return result;
    },
  );
}
