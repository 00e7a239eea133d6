// Known attack-tool User-Agents (see DEFAULT_SCANNER_USER_AGENTS for the list and why sipsak is absent).
import { BoundedMap } from '../lru.js';
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import type { Detector, FraudEvent } from './types.js';

/** The configured scanner substring a User-Agent contains (case-insensitive), or null. */
export function matchScannerUa(ua: string | undefined, needles: readonly string[]): string | null {
  if (!ua) return null;
  const lower = ua.toLowerCase();
  for (const n of needles) if (n && lower.includes(n.toLowerCase())) return n;
  return null;
}

/** Reports each scanning IP once per scanner_repeat. */
export class ScannerUaDetector implements Detector {
  readonly rule = 'scanner_ua' as const;
  readonly #lastReport: BoundedMap<string, number>;
  readonly #seen: BoundedMap<string, number>;

  constructor(private readonly cfg: FraudConfig) {
    this.#lastReport = new BoundedMap(cfg.max_tracked_keys);
    this.#seen = new BoundedMap(cfg.max_tracked_keys);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type === 'rtcp_report' || ev.type === 'vq_report' || ev.type === 'media_format') return [];
    const ua = ev.ua;
    const ip = ev.ip;
    const needle = matchScannerUa(ua, this.cfg.scanner_user_agents);
    if (needle === null) return [];
    const key = ip ?? `ua:${needle}`;
    const seen = (this.#seen.get(key) ?? 0) + 1;
    this.#seen.set(key, seen);
    const last = this.#lastReport.get(key);
    if (last !== undefined && ev.at - last < this.cfg.scanner_repeat) return [];
    this.#lastReport.set(key, ev.at);
    this.#seen.set(key, 0);
    const method = ev.type === 'request' || ev.type === 'auth_failure' ? ev.method : 'INVITE';
    return [
      {
        rule: this.rule,
        severity: 'warning',
        at: ev.at,
        evidence: { ip, ua, count: seen, window_s: this.cfg.scanner_repeat / 1000, matched: needle, method },
        message: `scanner User-Agent "${ua ?? ''}" from ${ip ?? 'unknown address'}`,
      },
    ];
  }

  trackedKeys(): number {
    return Math.max(this.#lastReport.size, this.#seen.size);
  }
}
