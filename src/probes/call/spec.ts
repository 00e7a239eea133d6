// Turns the config (and CLI flags, or a probe definition) into a CallSpec.
// Pure: the environment is passed in, errors come back as values.
import { accountEndpoint, passwordEnvName } from '../../config/accounts.js';
import type { Config } from '../../config/schema.js';
import { networkSettings } from '../../config/network.js';
import type { AudioCodec } from '../../rtp/codec.js';
import type { CallAccount, CallSpec } from './probe.js';
import { DEFAULT_MEDIA_TIMEOUT_MS } from '../../call/media-timeout.js';
import { classifyDestination } from './policy.js';
import { signallingOf, srtpSignallingError, type SrtpMode } from '../../config/srtp-keys.js';

export interface CallRequest {
  from: string;
  to: string;
  /**
   * Dial this number or SIP URI instead of `to` while still answering as `to` (a DID, a
   * prefixed number or a feature code that routes to the extension). Not one of our
   * extensions, so it must match allowed_destinations like any external number.
   */
  dial?: string;
  durationMs: number;
  ringTimeoutMs?: number;
  server?: string;
  transport?: 'udp' | 'tcp' | 'tls';
  codecs?: readonly AudioCodec[];
  /** Call this URI without a registrar. */
  direct?: string;
  localAddress?: string;
  insecure?: boolean;
  sipTimeoutMs?: number;
  /** SIP T1 (default 500 ms); Timer B/F default to 64·T1. */
  t1Ms?: number;
  /** --media-timeout (overrides config rtp.media_timeout). */
  mediaTimeoutMs?: number;
  /** --srtp / media.srtp (default off). */
  srtp?: SrtpMode;
  /** Send SDES keys over plain UDP/TCP signalling too (--allow-insecure-keys / media.allow_insecure_keys). */
  allowInsecureKeys?: boolean;
  /** Audio content analysis (default on); --no-audio-analysis or a probe's audio.analysis: false. */
  audioAnalysis?: boolean;
  /** audio.level_min_dbov: below it a direction is audio_silent. */
  audioLevelMinDbov?: number;
  /** --expect-echo: the far end reflects our audio; our own markers back are expected (call/content.ts). */
  expectEcho?: boolean;
}

export type SpecResult = { ok: true; spec: CallSpec } | { ok: false; message: string };

function account(ext: string, config: Config | undefined, env: Readonly<Record<string, string | undefined>>, req: CallRequest): CallAccount | undefined {
  const fromConfig = config?.accounts[ext];
  if (fromConfig) {
    // An account with its own registrar (a trunk) or domain: its own next hop unless the probe names one.
    const ep = accountEndpoint(fromConfig, { server: req.server, transport: req.transport }, { uri: config?.pbx.uri ?? DEFAULT_SERVER });
    const own = fromConfig.registrar !== undefined && req.server === undefined ? { server: ep.server, ...(ep.transport ? { transport: ep.transport } : {}) } : {};
    return {
      user: ext,
      password: fromConfig.password,
      ...(fromConfig.auth_user ? { authUser: fromConfig.auth_user } : {}),
      ...(ep.domain !== undefined ? { domain: ep.domain } : {}),
      ...own,
    };
  }
  const password = env[passwordEnvName(ext)];
  return password ? { user: ext, password } : undefined;
}

const DEFAULT_SERVER = 'sip:127.0.0.1:5060';

const DEFAULT_MAX_CALL_MS = 120_000;

export function buildCallSpec(req: CallRequest, config: Config | undefined, env: Readonly<Record<string, string | undefined>>): SpecResult {
  const maxMs = config?.max_call_duration ?? DEFAULT_MAX_CALL_MS;
  if (req.durationMs > maxMs) {
    return { ok: false, message: `call duration ${req.durationMs / 1000}s exceeds the cap max_call_duration ${maxMs / 1000}s` };
  }
  if (req.durationMs < 1000) return { ok: false, message: 'call duration must be at least 1s' };
  const codecs = req.codecs ?? config?.rtp.codecs ?? ['PCMU', 'PCMA'];
  const srtp = req.srtp ?? 'off';
  // Keys only over TLS: the transport the caller's UA will use (a named server's URI brings its own).
  const { target, transport } = signallingOf(req.transport, req.direct ?? req.server, { uri: config?.pbx.uri ?? DEFAULT_SERVER, transport: config?.pbx.transport ?? 'udp' });
  const keysError = srtpSignallingError(srtp, transport, target, req.allowInsecureKeys === true);
  if (keysError !== undefined) return { ok: false, message: keysError };
  const common = {
    durationMs: req.durationMs,
    ringTimeoutMs: req.ringTimeoutMs ?? 30_000,
    codecs,
    // A server named for this call (--server, the probe's `server`) carries its own transport in its URI.
    ...(req.transport !== undefined ? { transport: req.transport } : req.server === undefined ? { transport: config?.pbx.transport ?? 'udp' } : {}),
    ...(srtp !== 'off' ? { srtp } : {}),
    rtpPortMin: config?.rtp.port_min ?? 16000,
    rtpPortMax: config?.rtp.port_max ?? 16999,
    mediaTimeoutMs: req.mediaTimeoutMs ?? config?.rtp.media_timeout ?? DEFAULT_MEDIA_TIMEOUT_MS,
    ...(req.localAddress !== undefined ? { localAddress: req.localAddress } : {}),
    ...(req.insecure ? { tls: { insecure: true } } : {}),
    ...(req.sipTimeoutMs !== undefined ? { sipTimeoutMs: req.sipTimeoutMs } : {}),
    ...(req.t1Ms !== undefined ? { t1Ms: req.t1Ms } : {}),
    ...(config !== undefined ? { network: networkSettings(config) } : {}),
    ...(req.audioAnalysis !== undefined ? { audioAnalysis: req.audioAnalysis } : {}),
    ...(req.audioLevelMinDbov !== undefined ? { audioLevelMinDbov: req.audioLevelMinDbov } : {}),
    ...(req.expectEcho ? { expectEcho: true } : {}),
  };
  if (req.direct !== undefined) {
    // Peer to peer: the direct URI is the only next hop.
    const from = account(req.from, config, env, { ...req, server: req.direct }) ?? { user: req.from };
    return { ok: true, spec: { ...common, from, to: req.to, direct: req.direct } };
  }
  const server = req.server ?? config?.pbx.uri ?? DEFAULT_SERVER;
  const from = account(req.from, config, env, req);
  if (!from) {
    return {
      ok: false,
      message: `no password for ${req.from}: add accounts."${req.from}".password to the config or set ${passwordEnvName(req.from)}`,
    };
  }
  const callee = account(req.to, config, env, req);
  const dialled = req.dial ?? req.to;
  const own = callee && dialled === req.to ? [req.to] : [];
  const dest = classifyDestination(dialled, own, config?.allowed_destinations ?? []);
  if (dest.kind === 'refused') return { ok: false, message: `refusing to dial: ${dest.reason}` };
  return { ok: true, spec: { ...common, from, to: dialled, server, ...(callee ? { callee } : {}) } };
}
