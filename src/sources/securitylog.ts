// Security / auth log source: fail2ban-style patterns over a tailed log file,
// each match an auth_failure event. A pattern is a regular expression in which
// `<HOST>` stands for the source address (captured), and optional named groups
// (?<user>…), (?<ua>…), (?<method>…), (?<reason>…) fill the other fields.
// Event time is when the line was read (log time stamps come in too many formats).
import type { AuthFailureEvent, EventSink } from '../analytics/events.js';
import { TailedSource } from './tailed-source.js';

/** fail2ban's <HOST>: IPv4 or IPv6 (an optional ::ffff: prefix dropped). */
export const HOST_PATTERN = '(?:::ffff:)?(?<host>\\d{1,3}(?:\\.\\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)';

export const SECURITY_LOG_PRESETS = {
  /** The lab Kamailio: `LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 … src=127.0.0.1:5096 … ua="friendly-scanner"` */
  kamailio:
    'LAB-AUTH-FAIL rc=\\S* reason=(?<reason>\\S*) method=(?<method>\\S+) user=(?<user>\\S*) .*?src=<HOST>(?::\\d+)?\\s.*?ua="(?<ua>[^"]*)"',
  /** Asterisk res_security_log: `SecurityEvent="InvalidPassword",…,AccountID="1001",…,RemoteAddress="IPV4/UDP/1.2.3.4/5060"` */
  asterisk:
    'SecurityEvent="(?<reason>InvalidPassword|ChallengeResponseFailed|InvalidAccountID|FailedACL)".*?(?:AccountID="(?<user>[^"]*)".*?)?RemoteAddress="IPV[46]/[A-Za-z]+/<HOST>/\\d+"',
} as const;

export type SecurityLogPreset = keyof typeof SECURITY_LOG_PRESETS;

/** Compiles a fail2ban-style pattern; throws a typed error when it is not a valid regex or lacks <HOST>. */
export function compileSecurityPattern(pattern: string): RegExp {
  if (!pattern.includes('<HOST>')) {
    throw Object.assign(new Error('security log pattern must contain <HOST>'), { code: 'E_PATTERN' });
  }
  try {
    return new RegExp(pattern.replace('<HOST>', HOST_PATTERN));
  } catch (err) {
    throw Object.assign(new Error(`invalid security log pattern: ${(err as Error).message}`), { code: 'E_PATTERN' });
  }
}

/** One log line → an auth failure, or null when no pattern matches. */
export function matchSecurityLine(line: string, patterns: readonly RegExp[], at: number, source = 'security_log'): AuthFailureEvent | null {
  for (const re of patterns) {
    const g = re.exec(line)?.groups;
    if (!g?.host) continue;
    const ev: AuthFailureEvent = { type: 'auth_failure', source, at, ip: g.host };
    if (g.user) ev.user = g.user;
    if (g.ua) ev.ua = g.ua;
    if (g.method) ev.method = g.method;
    if (g.reason) ev.reason = g.reason;
    return ev;
  }
  return null;
}

export interface SecurityLogSourceOptions {
  path: string;
  /** Presets and/or custom fail2ban-style patterns (default: both presets). */
  presets?: SecurityLogPreset[];
  patterns?: string[];
  stateFile?: string;
  pollMs?: number;
  startAt?: 'start' | 'end';
  now?: () => number;
  source?: string;
  onEvent: EventSink;
  onError?: (err: unknown) => void;
}

export class SecurityLogSource extends TailedSource {
  readonly stats = { lines: 0, matches: 0 };
  readonly #patterns: RegExp[];
  readonly #now: () => number;

  constructor(private readonly opts: SecurityLogSourceOptions) {
    super({ path: opts.path, stateFile: opts.stateFile, pollMs: opts.pollMs, startAt: opts.startAt ?? 'end', maxLineBytes: 16 * 1024, onError: opts.onError });
    const presets = opts.presets ?? (opts.patterns ? [] : (Object.keys(SECURITY_LOG_PRESETS) as SecurityLogPreset[]));
    this.#patterns = [...presets.map((p) => SECURITY_LOG_PRESETS[p]), ...(opts.patterns ?? [])].map(compileSecurityPattern);
    this.#now = opts.now ?? Date.now;
  }

  protected onLines(lines: string[]): void {
    const at = this.#now();
    for (const line of lines) {
      this.stats.lines++;
      const ev = matchSecurityLine(line, this.#patterns, at, this.opts.source ?? 'security_log');
      if (!ev) continue;
      this.stats.matches++;
      this.deliver(() => this.opts.onEvent(ev));
    }
  }
}
