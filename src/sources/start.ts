// Starts the event sources named in the config's `sources:` block and hands
// every event to one sink (typically: KpiTracker.observe + FraudEngine.observe).
import { join } from 'node:path';
import type { EventSink } from '../analytics/events.js';
import type { SipRequest } from '../sip/message.js';
import { CdrSource } from './cdr.js';
import { HepListener } from './hep-listener.js';
import { SECURITY_LOG_PRESETS, SecurityLogSource, type SecurityLogPreset } from './securitylog.js';

/** The `sources:` block of the config (same shape as src/config's schema). */
export interface SourcesConfig {
  /** "host:port" of the HEP collector (UDP + TCP). */
  hep?: string;
  /** HEP3 authentication key every packet must carry (chunk 14). */
  hep_auth_key?: string;
  /** CDR file: Asterisk Master.csv, or JSON lines when it ends in .json/.jsonl/.ndjson. */
  cdr?: string;
  /** `pattern`: a fail2ban-style regex with <HOST>, or a preset name ("kamailio", "asterisk"); default both presets. */
  security_log?: { path: string; pattern?: string };
}

export interface StartSourcesOptions {
  /** Where tail positions are kept (systemd StateDirectory); no persistence without it. */
  stateDir?: string;
  onEvent: EventSink;
  onError?: (source: string, err: unknown) => void;
  /** HEP: addresses of trunks (their INVITEs are inbound). */
  trunkIps?: string[];
  /** HEP: the call's route label is this SIP header of its INVITE (e.g. one Kamailio adds with append_hf). */
  routeHeader?: string;
}

/** The route label of an INVITE from one of its headers (first value, trimmed, at most 64 characters). */
export function routeFromHeader(name: string): (req: SipRequest) => string | undefined {
  return (req) => {
    const v = req.headers.get(name)?.trim();
    return v === undefined || v === '' ? undefined : v.slice(0, 64);
  };
}

export interface RunningSources {
  hep?: HepListener;
  cdr?: CdrSource;
  securityLog?: SecurityLogSource;
  /** Idempotent: stops every source. */
  close(): Promise<void>;
}

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

export async function startSources(cfg: SourcesConfig, opts: StartSourcesOptions): Promise<RunningSources> {
  const err = (name: string) => (e: unknown) => opts.onError?.(name, e);
  const state = (file: string) => (opts.stateDir ? join(opts.stateDir, file) : undefined);
  const running: RunningSources = { close: async () => undefined };
  let closed = false;
  running.close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all([running.hep?.close(), running.cdr?.close(), running.securityLog?.close()]);
  };
  try {
    if (cfg.hep) {
      const { host, port } = splitHostPort(cfg.hep);
      running.hep = new HepListener({
        host,
        port,
        onEvent: opts.onEvent,
        onError: err('hep'),
        trunkIps: opts.trunkIps,
        ...(cfg.hep_auth_key !== undefined ? { authKey: cfg.hep_auth_key } : {}),
        ...(opts.routeHeader !== undefined ? { routeOf: routeFromHeader(opts.routeHeader) } : {}),
      });
      await running.hep.start();
    }
    if (cfg.cdr) {
      const jsonl = /\.(jsonl?|ndjson)$/i.test(cfg.cdr);
      running.cdr = new CdrSource({ path: cfg.cdr, format: jsonl ? 'jsonl' : 'csv', stateFile: state('cdr.pos'), onEvent: opts.onEvent, onError: err('cdr') });
      await running.cdr.start();
    }
    if (cfg.security_log) {
      const p = cfg.security_log.pattern;
      const preset = p !== undefined && p in SECURITY_LOG_PRESETS ? (p as SecurityLogPreset) : undefined;
      running.securityLog = new SecurityLogSource({
        path: cfg.security_log.path,
        ...(p === undefined ? {} : preset ? { presets: [preset] } : { patterns: [p] }),
        stateFile: state('security-log.pos'),
        onEvent: opts.onEvent,
        onError: err('security_log'),
      });
      await running.securityLog.start();
    }
  } catch (e) {
    await running.close();
    throw e;
  }
  return running;
}
