// All detectors behind one observe(): sources feed events in, consumers
// (metrics counter, webhook, fail2ban log) subscribe with onFraud().
import type { AnalyticsEvent } from '../events.js';
import { AsrCollapseDetector } from './asr-collapse.js';
import { BruteForceDetector, CredentialStuffingDetector } from './auth.js';
import { CallVelocityDetector, ConcurrentCallsDetector, LongCallDetector } from './calls.js';
import { type FraudConfig, resolveFraudConfig } from './config.js';
import { HighRiskDestinationDetector, OffHoursInternationalDetector } from './destination.js';
import { EnumerationDetector } from './enumeration.js';
import { ScannerUaDetector } from './scanner.js';
import type { Detector, FraudEvent, FraudRule } from './types.js';
import { WangiriDetector } from './wangiri.js';

export type FraudListener = (ev: FraudEvent) => void;

export interface FraudEngineOptions {
  /** Rules to leave out. */
  disabled?: FraudRule[];
  /** Listener errors end up here instead of breaking the event source. */
  onListenerError?: (err: unknown) => void;
}

export function createDetectors(cfg: FraudConfig): Detector[] {
  return [
    new BruteForceDetector(cfg),
    new CredentialStuffingDetector(cfg),
    new ScannerUaDetector(cfg),
    new EnumerationDetector(cfg),
    new HighRiskDestinationDetector(cfg),
    new LongCallDetector(cfg),
    new CallVelocityDetector(cfg),
    new ConcurrentCallsDetector(cfg),
    new OffHoursInternationalDetector(cfg),
    new WangiriDetector(cfg),
    new AsrCollapseDetector(cfg),
  ];
}

export class FraudEngine {
  readonly config: FraudConfig;
  readonly #detectors: Detector[];
  readonly #listeners = new Set<FraudListener>();
  readonly #onListenerError: (err: unknown) => void;
  readonly #counts = new Map<FraudRule, number>();

  constructor(cfg: Partial<FraudConfig> = {}, opts: FraudEngineOptions = {}) {
    this.config = resolveFraudConfig(cfg);
    const disabled = new Set(opts.disabled ?? []);
    this.#detectors = createDetectors(this.config).filter((d) => !disabled.has(d.rule));
    this.#onListenerError = opts.onListenerError ?? (() => undefined);
  }

  /** Subscribe; returns the unsubscribe function. */
  onFraud(listener: FraudListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  observe(ev: AnalyticsEvent): FraudEvent[] {
    const out: FraudEvent[] = [];
    for (const d of this.#detectors) out.push(...d.observe(ev));
    this.#emit(out);
    return out;
  }

  /** Call periodically (e.g. every 10 s) so calls that are still up get judged. */
  tick(now: number): FraudEvent[] {
    const out: FraudEvent[] = [];
    for (const d of this.#detectors) if (d.tick) out.push(...d.tick(now));
    this.#emit(out);
    return out;
  }

  /** Detections so far by rule (for a metrics collector that prefers pulling). */
  counts(): ReadonlyMap<FraudRule, number> {
    return this.#counts;
  }

  /** The largest table size per rule (memory bound checks, self-metrics). */
  trackedKeys(): Record<string, number> {
    return Object.fromEntries(this.#detectors.map((d) => [d.rule, d.trackedKeys()]));
  }

  #emit(events: FraudEvent[]): void {
    for (const ev of events) {
      this.#counts.set(ev.rule, (this.#counts.get(ev.rule) ?? 0) + 1);
      for (const l of this.#listeners) {
        try {
          l(ev);
        } catch (err) {
          this.#onListenerError(err);
        }
      }
    }
  }
}
