// Wangiri ("one ring and cut"): bursts of short, unanswered inbound calls from
// one number range, hoping callees ring back a premium number.
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import { dialledDigits, toInternational } from './numbers.js';
import type { FraudEvent } from './types.js';
import { WindowDetector } from './window.js';

export class WangiriDetector extends WindowDetector<string> {
  readonly rule = 'wangiri' as const;

  constructor(private readonly cfg: FraudConfig) {
    super(cfg.wangiri_window, cfg.wangiri_call_limit, cfg.max_tracked_keys);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'call_final' || ev.direction !== 'inbound' || !ev.caller) return [];
    if (ev.status < 300) return [];
    // How long it rang (or, with no 18x seen, how long the attempt lasted).
    const rangMs = ev.at - (ev.ringingAt ?? ev.inviteAt);
    if (rangMs > this.cfg.wangiri_max_ring) return [];
    const number = toInternational(ev.caller, this.cfg.international_prefixes) ?? dialledDigits(ev.caller);
    const prefix = number.slice(0, this.cfg.wangiri_prefix_digits + (number.startsWith('+') ? 1 : 0));
    const hit = this.win.add(prefix, ev.at, number);
    if (!hit) return [];
    const window_s = this.cfg.wangiri_window / 1000;
    return this.detection(
      'warning',
      ev.at,
      { caller: number, route: ev.route, count: hit.count, window_s, prefix, distinct_numbers: new Set(hit.values).size },
      `${hit.count} short unanswered inbound calls from ${prefix}* within ${window_s}s`,
    );
  }
}
