// Per-key sliding-window counters that fire once when a threshold is reached
// and then stay quiet for one window (so one attack burst = one detection).
import type { AnalyticsEvent } from '../events.js';
import { BoundedMap } from '../lru.js';
import type { Detector, FraudEvent, FraudEvidence, FraudRule, Severity } from './types.js';

export interface Crossing<V> {
  /** The count at the moment of crossing (= the limit). */
  count: number;
  /** The values in the window (for distinct counters: the distinct values). */
  values: V[];
}

interface KeyState<V> {
  /** (time, value) pairs inside the window, oldest first; at most `limit` of them. */
  items: { at: number; value: V }[];
  /** Latest event time seen for this key: out-of-order events never move the window back. */
  latest: number;
  /** After a crossing, additions before this time are counted as suppressed, not stored. */
  quietUntil: number;
  suppressed: number;
}

/**
 * Counts events per key over (t − windowMs, t]; `distinct` counts distinct values
 * instead (re-seeing a value refreshes its time). Fires once when the count
 * reaches `limit`, then clears and ignores the key for `windowMs`.
 */
export class ThresholdWindow<K, V = undefined> {
  readonly #keys: BoundedMap<K, KeyState<V>>;

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
    maxKeys: number,
    private readonly distinct = false,
  ) {
    this.#keys = new BoundedMap(maxKeys);
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Removes one value from a key (e.g. a user that later authenticated fine). */
  forget(key: K, value: V): void {
    const st = this.#keys.peek(key);
    if (st) st.items = st.items.filter((i) => i.value !== value);
  }

  /** Suppressed additions since the last crossing of this key. */
  suppressed(key: K): number {
    return this.#keys.peek(key)?.suppressed ?? 0;
  }

  add(key: K, at: number, value: V): Crossing<V> | null {
    let st = this.#keys.get(key);
    if (!st) {
      st = { items: [], latest: at, quietUntil: -Infinity, suppressed: 0 };
      this.#keys.set(key, st);
    }
    st.latest = Math.max(st.latest, at);
    if (st.latest < st.quietUntil) {
      st.suppressed++;
      return null;
    }
    const cutoff = st.latest - this.windowMs;
    if (this.distinct) st.items = st.items.filter((i) => i.value !== value);
    st.items.push({ at, value });
    st.items = st.items.filter((i) => i.at > cutoff);
    if (st.items.length > this.limit) st.items.shift();
    if (st.items.length >= this.limit) {
      const values = st.items.map((i) => i.value);
      st.items = [];
      st.quietUntil = st.latest + this.windowMs;
      st.suppressed = 0;
      return { count: this.limit, values };
    }
    return null;
  }
}

/**
 * A detector that counts per key in one ThresholdWindow (string keys: an IP, a
 * number prefix, an account): it owns the window, reports its size, and builds
 * the one detection a crossing gives.
 */
export abstract class WindowDetector<V> implements Detector {
  abstract readonly rule: FraudRule;
  protected readonly win: ThresholdWindow<string, V>;
  /** The window in seconds, as evidence and messages give it. */
  protected readonly windowS: number;

  constructor(windowMs: number, limit: number, maxKeys: number, distinct = false) {
    this.win = new ThresholdWindow(windowMs, limit, maxKeys, distinct);
    this.windowS = windowMs / 1000;
  }

  abstract observe(ev: AnalyticsEvent): FraudEvent[];

  trackedKeys(): number {
    return this.win.size;
  }

  protected detection(severity: Severity, at: number, evidence: FraudEvidence, message: string): FraudEvent[] {
    return [{ rule: this.rule, severity, at, evidence, message }];
  }

  /**
   * A distinct-user rule (stuffing, enumeration): counts `user` under the event's
   * IP; at the limit, one detection listing the first 20 users:
   * "<count> distinct <what> from <ip> within <window>s".
   */
  protected distinctUsersFrom(
    this: WindowDetector<string>,
    ev: { ip: string; at: number; ua?: string | undefined },
    user: string,
    severity: Severity,
    what: string,
    extra: Partial<FraudEvidence> = {},
  ): FraudEvent[] {
    const hit = this.win.add(ev.ip, ev.at, user);
    if (!hit) return [];
    const window_s = this.windowS;
    return this.detection(
      severity,
      ev.at,
      { ip: ev.ip, user, ua: ev.ua, count: hit.count, window_s, ...extra, users: hit.values.slice(0, 20).join(',') },
      `${hit.count} distinct ${what} from ${ev.ip} within ${window_s}s`,
    );
  }
}
