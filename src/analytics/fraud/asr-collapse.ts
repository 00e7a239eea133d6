// Sudden ASR collapse on a route/trunk: the answer ratio over the last window
// fell below asr_collapse_ratio × the ratio over the window before it (both
// windows need asr_collapse_min_calls seizures). A broken trunk, or a fraud
// run dialling numbers that never answer.
import { BoundedMap } from '../lru.js';
import type { AnalyticsEvent } from '../events.js';
import type { FraudConfig } from './config.js';
import type { Detector, FraudEvent } from './types.js';

// Trunks are few: 100 routes × 10 000 seizures caps the tables at ~1 M small records.
const MAX_ROUTES = 100;
const MAX_SEIZURES_PER_ROUTE = 10_000;

interface RouteState {
  /** (time, answered) per seizure in arrival order; times clamped to be non-decreasing. */
  items: { at: number; answered: boolean }[];
  /** items[head..split) are the previous window, items[split..] the current one. */
  head: number;
  split: number;
  prevN: number;
  prevA: number;
  curN: number;
  curA: number;
  latest: number;
  quietUntil: number;
}

export class AsrCollapseDetector implements Detector {
  readonly rule = 'asr_collapse' as const;
  readonly #routes: BoundedMap<string, RouteState>;

  constructor(private readonly cfg: FraudConfig) {
    this.#routes = new BoundedMap(Math.min(MAX_ROUTES, cfg.max_tracked_keys));
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    if (ev.type !== 'call_final') return [];
    const route = `${ev.source}/${ev.route ?? 'default'}`;
    let st = this.#routes.get(route);
    if (!st) {
      st = { items: [], head: 0, split: 0, prevN: 0, prevA: 0, curN: 0, curA: 0, latest: ev.at, quietUntil: -Infinity };
      this.#routes.set(route, st);
    }
    // A late event counts as "now": keeps the list sorted so windows slide in O(1).
    st.latest = Math.max(st.latest, ev.at);
    const answered = ev.status >= 200 && ev.status < 300;
    st.items.push({ at: st.latest, answered });
    st.curN++;
    if (answered) st.curA++;
    this.#slide(st);
    if (st.latest < st.quietUntil) return [];
    const min = this.cfg.asr_collapse_min_calls;
    if (st.prevN < min || st.curN < min || st.prevA === 0) return [];
    const prevAsr = st.prevA / st.prevN;
    const curAsr = st.curA / st.curN;
    if (curAsr >= prevAsr * this.cfg.asr_collapse_ratio) return [];
    const w = this.cfg.asr_collapse_window;
    st.quietUntil = st.latest + w;
    const window_s = w / 1000;
    return [
      {
        rule: this.rule,
        severity: 'critical',
        at: ev.at,
        evidence: {
          route,
          count: st.curN,
          window_s,
          asr_percent: Math.round(curAsr * 1000) / 10,
          previous_asr_percent: Math.round(prevAsr * 1000) / 10,
        },
        message: `ASR on ${route} fell to ${(curAsr * 100).toFixed(1)}% from ${(prevAsr * 100).toFixed(1)}% (last ${window_s}s, ${st.curN} calls)`,
      },
    ];
  }

  /** Moves seizures from the current to the previous window and out, as time passes. */
  #slide(st: RouteState): void {
    const w = this.cfg.asr_collapse_window;
    const curStart = st.latest - w;
    const prevStart = curStart - w;
    for (let it = st.items[st.split]; it && it.at <= curStart; it = st.items[++st.split]) {
      st.curN--;
      st.prevN++;
      if (it.answered) {
        st.curA--;
        st.prevA++;
      }
    }
    const overCap = () => st.items.length - st.head > MAX_SEIZURES_PER_ROUTE;
    for (let it = st.items[st.head]; it && (it.at <= prevStart || overCap()); it = st.items[++st.head]) {
      if (st.head < st.split) {
        st.prevN--;
        if (it.answered) st.prevA--;
      } else {
        st.curN--;
        if (it.answered) st.curA--;
        st.split++;
      }
    }
    if (st.head > 1024 && st.head * 2 > st.items.length) {
      st.items = st.items.slice(st.head);
      st.split -= st.head;
      st.head = 0;
    }
  }

  trackedKeys(): number {
    return this.#routes.size;
  }
}
