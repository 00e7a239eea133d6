// Per-call and per-account rules: long calls, call velocity, concurrent calls.
import { BoundedMap } from '../lru.js';
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import type { Detector, FraudEvent } from './types.js';
import { WindowDetector } from './window.js';

interface ActiveCall {
  answerAt: number;
  caller: string | undefined;
  callee: string | undefined;
  ip: string | undefined;
  reported: boolean;
}

/**
 * Calls longer than max_call_duration: detected at the end (call_end) or, for
 * calls still up, by tick(now). Each call fires once.
 */
export class LongCallDetector implements Detector {
  readonly rule = 'long_call' as const;
  readonly #active: BoundedMap<string, ActiveCall>;

  constructor(private readonly cfg: FraudConfig) {
    this.#active = new BoundedMap(cfg.max_tracked_keys);
  }

  #event(callId: string, at: number, c: ActiveCall, seconds: number, ended: boolean): FraudEvent {
    const max_s = this.cfg.max_call_duration / 1000;
    return {
      rule: this.rule,
      severity: 'warning',
      at,
      evidence: { ip: c.ip, user: c.caller, callee: c.callee, callId, count: Math.round(seconds), window_s: max_s, ended: ended ? 1 : 0 },
      message: `call ${ended ? 'lasted' : 'has lasted'} ${Math.round(seconds)}s (> ${max_s}s) from ${c.caller ?? '?'} to ${c.callee ?? '?'}`,
    };
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type === 'call_final' && ev.answerAt !== undefined && ev.status >= 200 && ev.status < 300) {
      if (!this.#active.has(ev.callId)) {
        this.#active.set(ev.callId, { answerAt: ev.answerAt, caller: ev.caller, callee: ev.callee, ip: ev.ip, reported: false });
      }
      return [];
    }
    if (ev.type !== 'call_end') return [];
    const c = this.#active.peek(ev.callId) ?? { answerAt: ev.answerAt, caller: ev.caller, callee: ev.callee, ip: ev.ip, reported: false };
    this.#active.delete(ev.callId);
    if (c.reported || ev.durationS * 1000 <= this.cfg.max_call_duration) return [];
    return [this.#event(ev.callId, ev.at, c, ev.durationS, true)];
  }

  tick(now: number): FraudEvent[] {
    const out: FraudEvent[] = [];
    for (const [callId, c] of this.#active.entries()) {
      if (c.reported) continue;
      const ms = now - c.answerAt;
      // Calls never seen ending (lost BYE) are forgotten after twice the limit.
      if (ms > 2 * this.cfg.max_call_duration + 3_600_000) this.#active.delete(callId);
      else if (ms > this.cfg.max_call_duration) {
        c.reported = true;
        out.push(this.#event(callId, now, c, ms / 1000, false));
      }
    }
    return out;
  }

  trackedKeys(): number {
    return this.#active.size;
  }
}

/** More than max_calls_per_minute call attempts by one account within 60 s (once per minute). */
export class CallVelocityDetector extends WindowDetector<undefined> {
  readonly rule = 'call_velocity' as const;

  constructor(private readonly cfg: FraudConfig) {
    super(60_000, cfg.max_calls_per_minute + 1, cfg.max_tracked_keys);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'call_attempt' || !ev.caller) return [];
    const hit = this.win.add(ev.caller, ev.at, undefined);
    if (!hit) return [];
    return this.detection(
      'warning',
      ev.at,
      { ip: ev.ip, user: ev.caller, ua: ev.ua, count: hit.count, window_s: 60, max: this.cfg.max_calls_per_minute },
      `${hit.count} calls by ${ev.caller} within 60s (max ${this.cfg.max_calls_per_minute})`,
    );
  }
}

interface Interval {
  start: number;
  end: number | undefined;
}

interface AccountCalls {
  calls: Map<string, Interval>;
  /** True after a detection until concurrency drops back to the maximum. */
  alerted: boolean;
}

const MAX_INTERVALS_PER_ACCOUNT = 1000;

/**
 * More than max_concurrent_calls calls of one account up at the same time.
 * Works live (HEP: attempt … end) and on CDR replays (each row's interval is
 * compared with the earlier rows' intervals at its start time).
 */
export class ConcurrentCallsDetector implements Detector {
  readonly rule = 'concurrent_calls' as const;
  readonly #accounts: BoundedMap<string, AccountCalls>;

  constructor(private readonly cfg: FraudConfig) {
    this.#accounts = new BoundedMap(cfg.max_tracked_keys);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'call_attempt' && ev.type !== 'call_final' && ev.type !== 'call_end') return [];
    if (!ev.caller) return [];
    let acct = this.#accounts.get(ev.caller);
    if (ev.type === 'call_final') {
      if (ev.status >= 300 && acct) this.#close(acct, ev.callId, ev.at);
      return [];
    }
    if (ev.type === 'call_end') {
      if (acct) this.#close(acct, ev.callId, ev.at);
      return [];
    }
    if (!acct) {
      acct = { calls: new Map(), alerted: false };
      this.#accounts.set(ev.caller, acct);
    }
    if (!acct.calls.has(ev.callId)) acct.calls.set(ev.callId, { start: ev.at, end: undefined });
    this.#prune(acct, ev.at);
    const t = ev.at;
    let up = 0;
    for (const iv of acct.calls.values()) if (iv.start <= t && (iv.end === undefined || iv.end > t)) up++;
    if (up <= this.cfg.max_concurrent_calls) {
      acct.alerted = false;
      return [];
    }
    if (acct.alerted) return [];
    acct.alerted = true;
    return [
      {
        rule: this.rule,
        severity: 'critical',
        at: ev.at,
        evidence: { ip: ev.ip, user: ev.caller, ua: ev.ua, callId: ev.callId, count: up, window_s: 0, max: this.cfg.max_concurrent_calls },
        message: `${up} concurrent calls by ${ev.caller} (max ${this.cfg.max_concurrent_calls})`,
      },
    ];
  }

  #close(acct: AccountCalls, callId: string, at: number): void {
    const iv = acct.calls.get(callId);
    if (iv && iv.end === undefined) iv.end = at;
  }

  #prune(acct: AccountCalls, now: number): void {
    // A closed call that ended more than one max duration ago cannot overlap any later start
    // (replayed CDR rows arrive in end order, so a start is at most max_call_duration before now).
    const horizon = now - this.cfg.max_call_duration;
    for (const [id, iv] of acct.calls) {
      const stale = iv.end === undefined ? iv.start < now - 2 * this.cfg.max_call_duration : iv.end < horizon;
      if (stale) acct.calls.delete(id);
    }
    while (acct.calls.size > MAX_INTERVALS_PER_ACCOUNT) {
      const first = acct.calls.keys().next();
      if (first.done) break;
      acct.calls.delete(first.value);
    }
  }

  trackedKeys(): number {
    return this.#accounts.size;
  }
}
