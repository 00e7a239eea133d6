// `register` probe: REGISTER an extension with digest auth (RFC 3261 §10,
// §22) and time it; or remove its bindings (unregister). At most two REGISTERs
// are sent for a wrong password: the failure names the user and realm.
import type { ProbeContext } from './context.js';
import type { Failure, ProbeResult } from './result.js';
import { createUaForProbe, timingsMs, toFailure } from './options.js';

export interface RegisterProbeSpec {
  /** Registrar: "sip:127.0.0.1:5060", "sips:pbx.example", "host[:port]". */
  server: string;
  transport?: 'udp' | 'tcp' | 'tls';
  /** Extension / user part of the AOR. */
  user: string;
  /** Resolved secret (the config layer resolves env:/file: references). */
  password?: string;
  authUser?: string;
  /** AOR domain (default: the server host). */
  domain?: string;
  /** Requested binding lifetime in seconds (default 300). */
  expires?: number;
  /** Remove every binding of the AOR (Contact: *, Expires: 0) instead of registering. */
  unregister?: boolean;
  timeoutMs?: number;
  tls?: { insecure?: boolean; ca?: string; servername?: string };
  localAddress?: string;
  localPort?: number;
  t1Ms?: number;
}

export async function probeRegister(ctx: ProbeContext, spec: RegisterProbeSpec): Promise<ProbeResult> {
  const base: ProbeResult = {
    probe: 'register',
    success: false,
    user: spec.user,
    server: spec.server,
    transport: spec.transport ?? 'udp',
    action: spec.unregister ? 'unregister' : 'register',
    failures: [],
  };
  const created = await createUaForProbe(
    ctx,
    {
      server: spec.server,
      user: spec.user,
      ...(spec.password !== undefined ? { password: spec.password } : {}),
      ...(spec.authUser ? { authUser: spec.authUser } : {}),
      ...(spec.domain ? { domain: spec.domain } : {}),
      ...(spec.transport ? { transport: spec.transport } : {}),
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      ...(spec.t1Ms !== undefined ? { t1Ms: spec.t1Ms } : {}),
      ...(spec.tls ? { tls: spec.tls } : {}),
      ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
      ...(spec.localPort !== undefined ? { localPort: spec.localPort } : {}),
    },
    base,
  );
  if ('result' in created) return created.result;
  const ua = created.ua;
  const onAbort = (): void => ua.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const out = spec.unregister ? await ua.unregister({ all: true }) : await ua.register({ expires: spec.expires ?? 300 });
    const result: ProbeResult = {
      ...base,
      transport: ua.serverDest.transport,
      success: out.ok,
      attempts: out.attempts,
      contact: out.contact,
      timings_ms: timingsMs(out.timings),
      failures: [],
    };
    if (out.status !== undefined) {
      result.status = out.status;
      result.reason = out.reason;
    }
    if (out.expires !== undefined) result.expires = out.expires;
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
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    ua.close();
  }
}
