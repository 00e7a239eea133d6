// `options` probe: one SIP OPTIONS ping over UDP/TCP/TLS, timed per phase
// (dns, connect, tls, request). A 2xx answer is success; any other final
// status, a timeout (Timer F) or a transport failure is a failure naming its phase.
import type { ProbeContext } from './context.js';
import type { Failure, Phase, ProbeResult } from './result.js';
import { UaError, UserAgent, type FailurePhase, type UaFailure, type UserAgentOptions } from '../sip/ua.js';

/** How a one-request probe (OPTIONS, REGISTER) reaches its server: the UA settings both share. */
export interface SipHopSpec {
  transport?: 'udp' | 'tcp' | 'tls';
  /** Timer F: how long to wait for the answer (default 32 s = 64*T1). */
  timeoutMs?: number;
  tls?: { insecure?: boolean; ca?: string; servername?: string };
  localAddress?: string;
  t1Ms?: number;
  /** Behind a NAT: the public address for Via and Contact (config sip.external_ip). */
  externalAddress?: string;
  /** DSCP of the SIP socket (config qos.sip_dscp; default CS3, 24). */
  dscp?: number;
}

/** The UA options of a hop spec, only those set (exactOptionalPropertyTypes). */
export function hopOptions(spec: SipHopSpec): Partial<UserAgentOptions> {
  return {
    ...(spec.transport ? { transport: spec.transport } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.t1Ms !== undefined ? { t1Ms: spec.t1Ms } : {}),
    ...(spec.tls ? { tls: spec.tls } : {}),
    ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
    ...(spec.externalAddress !== undefined ? { externalAddress: spec.externalAddress } : {}),
    ...(spec.dscp !== undefined ? { dscp: spec.dscp } : {}),
  };
}

export interface OptionsProbeSpec extends SipHopSpec {
  /** Server to ping: "sip:127.0.0.1:5060", "sips:pbx.example", "host[:port]". */
  target: string;
  /** Request-URI (default: the target without user and parameters). */
  requestUri?: string;
}

export interface SipTimingsMs {
  dns?: number;
  connect?: number;
  tls?: number;
  request?: number;
}

/** Maps a UA failure phase onto the result's phases ('request' and 'auth' belong to the probe's own step). */
export function failurePhase(p: FailurePhase, step: Phase): Phase {
  if (p === 'dns' || p === 'connect' || p === 'tls') return p;
  return step;
}

/** A UA failure as a result failure; dns/connect/tls failures are checked under their phase's name. */
export function toFailure(f: UaFailure, step: Phase, check: string): Failure {
  const phase = failurePhase(f.phase, step);
  return { check: phase === step ? check : phase, phase, message: f.message };
}

export function timingsMs(t: { dns_ms?: number; connect_ms?: number; tls_ms?: number; request_ms?: number }): SipTimingsMs {
  const out: SipTimingsMs = {};
  if (t.dns_ms !== undefined) out.dns = t.dns_ms;
  if (t.connect_ms !== undefined) out.connect = t.connect_ms;
  if (t.tls_ms !== undefined) out.tls = t.tls_ms;
  if (t.request_ms !== undefined) out.request = t.request_ms;
  return out;
}

/**
 * Runs `use` with a UA made for one probe run: a failure to create it (dns,
 * bind) is returned as the probe's result; an abort of `ctx.signal` closes the
 * UA (so `use` ends with whatever failure that gives); the UA is always closed.
 */
export async function withProbeUa(
  ctx: ProbeContext,
  opts: UserAgentOptions,
  base: ProbeResult,
  use: (ua: UserAgent) => Promise<ProbeResult>,
): Promise<ProbeResult> {
  let ua: UserAgent;
  try {
    ua = await UserAgent.create({ ...opts, logger: ctx.logger, ...(ctx.recorder ? { recorder: ctx.recorder } : {}) });
  } catch (err) {
    if (err instanceof UaError) {
      return { ...base, success: false, failures: [{ check: 'sip_setup', phase: failurePhase(err.phase, 'internal'), message: err.message }] };
    }
    throw err;
  }
  const onAbort = (): void => ua.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await use(ua);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    ua.close();
  }
}

export async function probeOptions(ctx: ProbeContext, spec: OptionsProbeSpec): Promise<ProbeResult> {
  const base: ProbeResult = { probe: 'options', success: false, target: spec.target, transport: spec.transport ?? 'udp', failures: [] };
  return withProbeUa(
    ctx,
    {
      server: spec.target,
      ...hopOptions(spec),
    },
    base,
    async (ua) => {
      const out = await ua.options(spec.requestUri);
      const timings = timingsMs(out.timings);
      const result: ProbeResult = { ...base, transport: ua.serverDest.transport, timings_ms: timings, failures: [] };
      if (out.status !== undefined) {
        result.status = out.status;
        result.reason = out.reason;
      }
      // The typed section reporters read (status and timings above stay for the JSON output).
      result.sip = { final_status: out.status ?? null, ...(out.status !== undefined ? { reason: out.reason } : {}), timings_ms: { ...timings } };
      const tlsInfo = peerTlsInfo(ua);
      if (tlsInfo) result.tls = tlsInfo;
      if (out.ok) {
        result.success = true;
        return result;
      }
      const failure = toFailure(out.failure, 'options', 'options_response');
      if (out.status !== undefined) {
        failure.expected = '2xx';
        failure.actual = out.status;
      }
      if (ctx.signal.aborted) failure.message = `aborted: ${failure.message ?? ''}`;
      result.failures.push(failure);
      return result;
    },
  );
}

/** What the TLS peer presented (kept for the cert probe and for humans). */
export function peerTlsInfo(ua: UserAgent): { protocol?: string; subject?: string; issuer?: string; not_after?: string; days_left?: number } | undefined {
  const cert = ua.peerCertificate();
  if (!cert || !cert.valid_to) return undefined;
  const notAfter = new Date(cert.valid_to);
  const info: { protocol?: string; subject?: string; issuer?: string; not_after?: string; days_left?: number } = {};
  const protocol = ua.tlsProtocol();
  if (protocol) info.protocol = protocol;
  if (cert.subject?.CN) info.subject = String(cert.subject.CN);
  if (cert.issuer?.CN) info.issuer = String(cert.issuer.CN);
  if (!Number.isNaN(notAfter.getTime())) {
    info.not_after = notAfter.toISOString();
    info.days_left = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
  }
  return info;
}
