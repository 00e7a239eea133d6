// Rules over authentication failures, keyed by source IP.
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import type { FraudEvent } from './types.js';
import { WindowDetector } from './window.js';

interface FailureInfo {
  user: string | undefined;
  ua: string | undefined;
}

/** Brute force: auth_fail_limit failures from one IP within auth_fail_window (fires at the limit-th). */
export class BruteForceDetector extends WindowDetector<FailureInfo> {
  readonly rule = 'brute_force' as const;

  constructor(private readonly cfg: FraudConfig) {
    super(cfg.auth_fail_window, cfg.auth_fail_limit, cfg.max_tracked_keys);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'auth_failure') return [];
    const hit = this.win.add(ev.ip, ev.at, { user: ev.user, ua: ev.ua });
    if (!hit) return [];
    const users = new Set(hit.values.map((v) => v.user).filter((u) => u !== undefined));
    const ua = [...hit.values].reverse().find((v) => v.ua)?.ua;
    const window_s = this.cfg.auth_fail_window / 1000;
    return this.detection(
      'critical',
      ev.at,
      { ip: ev.ip, user: ev.user, ua, count: hit.count, window_s, distinct_users: users.size },
      `${hit.count} authentication failures from ${ev.ip} within ${window_s}s (last user ${ev.user ?? '?'})`,
    );
  }
}

/** Credential stuffing / password spraying: many distinct usernames failing from one IP. */
export class CredentialStuffingDetector extends WindowDetector<string> {
  readonly rule = 'credential_stuffing' as const;

  constructor(private readonly cfg: FraudConfig) {
    super(cfg.stuffing_window, cfg.stuffing_user_limit, cfg.max_tracked_keys, true);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'auth_failure' || !ev.user) return [];
    return this.distinctUsersFrom(ev, ev.user, 'critical', 'usernames failed authentication');
  }
}
