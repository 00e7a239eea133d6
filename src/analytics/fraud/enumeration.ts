// Extension enumeration (svwar-style): one IP probing many distinct users that
// come back 404/484/403, or (for REGISTER) 401/407 challenges that never turn
// into a successful registration. A later 2xx for the same user from the same
// IP removes that user, so ordinary phones behind one NAT do not count.
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import type { FraudEvent } from './types.js';
import { WindowDetector } from './window.js';

const ALWAYS_PROBE_STATUSES = new Set([404, 484, 403]);
const CHALLENGE_STATUSES = new Set([401, 407]);

export class EnumerationDetector extends WindowDetector<string> {
  readonly rule = 'extension_enumeration' as const;

  constructor(private readonly cfg: FraudConfig) {
    super(cfg.enumeration_window, cfg.enumeration_user_limit, cfg.max_tracked_keys, true);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'request' || ev.status === undefined || !ev.user) return [];
    if (ev.status >= 200 && ev.status < 300) {
      this.win.forget(ev.ip, ev.user);
      return [];
    }
    const probing =
      ALWAYS_PROBE_STATUSES.has(ev.status) || (CHALLENGE_STATUSES.has(ev.status) && ev.method === 'REGISTER');
    if (!probing) return [];
    return this.distinctUsersFrom(ev, ev.user, 'warning', 'extensions probed', { method: ev.method });
  }
}
