// The fail2ban-compatible line for a detection (the writer that appends it to a
// file lives in report/fraud-log.ts; this part is pure so it can be tested).
//
//   2026-11-25T16:40:00.123Z callprobe[1234]: FRAUD rule=brute_force src=127.0.0.1 user=1001 count=10 window=60s ua="friendly-scanner"
//
// src= is always the 5th token so a fail2ban failregex can anchor on it; values
// are made single-token (spaces and quotes replaced) so a crafted User-Agent
// cannot inject a fake `src=` into the line.
import type { FraudEvent, FraudRule } from './types.js';

/** Rules whose source IP is worth banning (the others have no attacker address). */
export const BANNABLE_RULES: readonly FraudRule[] = ['brute_force', 'credential_stuffing', 'scanner_ua', 'extension_enumeration'];

function token(v: string | number | undefined): string {
  if (v === undefined || v === '') return '-';
  return String(v).replace(/[\s"\\=]+/g, '_').slice(0, 128);
}

export function formatFail2banLine(ev: FraudEvent, pid: number = process.pid): string {
  const e = ev.evidence;
  const parts = [
    `${new Date(ev.at).toISOString()} callprobe[${pid}]: FRAUD rule=${ev.rule}`,
    `src=${token(e.ip)}`,
    `user=${token(e.user ?? e.caller)}`,
    `count=${e.count}`,
    `window=${e.window_s}s`,
    `severity=${ev.severity}`,
  ];
  if (e.callee) parts.push(`dst=${token(e.callee)}`);
  parts.push(`ua="${token(e.ua)}"`);
  return parts.join(' ');
}

/**
 * The failregex published in docs/fraud.md (fail2ban syntax). fail2ban removes
 * the matched timestamp before applying it, hence the optional leading date.
 */
export const FAIL2BAN_FAILREGEX =
  '^\\s*(?:\\S+\\s+)?callprobe\\[\\d+\\]: FRAUD rule=(?:brute_force|credential_stuffing|scanner_ua|extension_enumeration) src=<HOST>(?:\\s|$)';

/** fail2ban's <HOST> (IPv4, IPv6, host name) as a JS named group, for tests and previews. */
export function fail2banRegexToJs(failregex: string): RegExp {
  const host = '(?<host>(?:::f{4,6}:)?[\\w\\-.^_:]*\\w)';
  return new RegExp(failregex.replace(/<HOST>/g, host));
}
