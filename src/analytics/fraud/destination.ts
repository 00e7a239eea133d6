// Rules on where a call goes: high-risk prefixes (IRSF) and international calls at night.
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig, OffHoursConfig } from './config.js';
import { isInternational, matchPrefix, toInternational } from './numbers.js';
import type { Detector, FraudEvent } from './types.js';

/** Every call attempt to a configured high-risk prefix (one detection per call). */
export class HighRiskDestinationDetector implements Detector {
  readonly rule = 'high_risk_destination' as const;

  constructor(private readonly cfg: FraudConfig) {}

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'call_attempt' || !ev.callee) return [];
    const e164 = toInternational(ev.callee, this.cfg.international_prefixes);
    const prefix = matchPrefix(e164, this.cfg.high_risk_prefixes);
    if (prefix === null) return [];
    return [
      {
        rule: this.rule,
        severity: 'critical',
        at: ev.at,
        evidence: { ip: ev.ip, user: ev.caller, ua: ev.ua, callee: e164 ?? ev.callee, callId: ev.callId, count: 1, window_s: 0, prefix },
        message: `call from ${ev.caller ?? '?'} to high-risk destination ${e164 ?? ev.callee} (prefix ${prefix})`,
      },
    ];
  }

  trackedKeys(): number {
    return 0;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday (0 = Sunday) and minutes since midnight in a time zone. */
export function localTime(at: number, timezone: string): { weekday: number; minutes: number } {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' });
    formatters.set(timezone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday ?? '');
  return { weekday, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

function hhmm(text: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m) throw new RangeError(`expected HH:MM, got "${text}"`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** True inside [start, end) local time (wrapping past midnight when end <= start) or on a weekend day. */
export function isOffHours(at: number, oh: OffHoursConfig): boolean {
  const { weekday, minutes } = localTime(at, oh.timezone);
  if (oh.weekend_days.includes(weekday)) return true;
  const start = hhmm(oh.start);
  const end = hhmm(oh.end);
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

/** International calls placed outside business hours (one detection per call). */
export class OffHoursInternationalDetector implements Detector {
  readonly rule = 'off_hours_international' as const;

  constructor(private readonly cfg: FraudConfig) {
    if (cfg.off_hours) {
      hhmm(cfg.off_hours.start);
      hhmm(cfg.off_hours.end);
    }
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    const oh = this.cfg.off_hours;
    if (!oh || ev.type !== 'call_attempt' || !ev.callee || ev.direction === 'inbound') return [];
    const e164 = toInternational(ev.callee, this.cfg.international_prefixes);
    if (!isInternational(e164, this.cfg.home_country_code) || !isOffHours(ev.at, oh)) return [];
    return [
      {
        rule: this.rule,
        severity: 'warning',
        at: ev.at,
        evidence: { ip: ev.ip, user: ev.caller, callee: e164 ?? ev.callee, callId: ev.callId, count: 1, window_s: 0, timezone: oh.timezone },
        message: `international call from ${ev.caller ?? '?'} to ${e164 ?? ev.callee} outside business hours (${oh.timezone})`,
      },
    ];
  }

  trackedKeys(): number {
    return 0;
  }
}
