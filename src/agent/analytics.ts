// Passive side of the agent: the config's `sources:` (HEP, CDR, security log)
// feed the fraud engine and the KPI tracker; their output lands in the
// metrics (fraud events by rule, ASR/NER over 5 minutes) and the log.
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { hostname } from 'node:os';
import type { FraudEvent } from '../analytics/fraud/types.js';
import { fingerprintOf, type AlertEvent } from '../report/alerts.js';
import type { ProbeMetrics } from '../report/metrics.js';
import type { Notifier } from '../report/notifier.js';

export interface RunningAnalytics {
  close(): Promise<void>;
}

const TICK_MS = 10_000;
const KPI_EVERY_MS = 15_000;
const KPI_WINDOW_MS = 5 * 60_000;

function sourcesConfigured(config: Config): boolean {
  const s = config.sources;
  return s.hep !== undefined || s.cdr !== undefined || s.security_log !== undefined;
}

/**
 * A fraud detection as a one-shot webhook alert. Fingerprinted by rule and
 * source address, so one attacker is one alert; the evidence's caller/callee
 * numbers stay out of the labels (they may be real customers).
 */
export function fraudAlert(ev: FraudEvent, labels: Record<string, string> = {}): AlertEvent {
  const at = new Date(ev.at).toISOString();
  const key = ev.evidence.ip ?? ev.evidence.user ?? ev.evidence.route ?? '';
  return {
    fingerprint: fingerprintOf('fraud', `${ev.rule}:${key}`),
    status: 'firing',
    probe: 'fraud',
    check: ev.rule,
    severity: ev.severity,
    phase: 'internal',
    expected: null,
    actual: ev.evidence.count,
    summary: ev.message,
    starts_at: at,
    ends_at: null,
    event_at: new Date().toISOString(),
    repeat: 0,
    consecutive_failures: 1,
    labels: { ...labels, rule: ev.rule, ...(ev.evidence.ip !== undefined ? { source_ip: ev.evidence.ip } : {}) },
  };
}

/** Starts sources → analytics → metrics (and webhooks); undefined when the config names no source. */
export async function startAnalytics(
  config: Config,
  deps: { metrics: ProbeMetrics; logger: Logger; notifier?: Notifier },
): Promise<RunningAnalytics | undefined> {
  if (!sourcesConfigured(config)) return undefined;
  const [{ FraudEngine }, { KpiTracker }, { startSources }] = await Promise.all([
    import('../analytics/fraud/engine.js'),
    import('../analytics/kpi.js'),
    import('../sources/index.js'),
  ]);
  const log = deps.logger.child({ component: 'analytics' });
  const engine = new FraudEngine(config.fraud, { onListenerError: (err) => log.error({ err }, 'fraud listener failed') });
  const kpi = new KpiTracker();
  engine.onFraud((ev) => {
    deps.metrics.recordFraudEvent(ev.rule);
    log.warn({ rule: ev.rule, severity: ev.severity }, ev.message);
    deps.notifier?.notify(fraudAlert(ev, { instance: hostname() })).catch((err: unknown) => log.error({ err }, 'fraud alert not spooled'));
  });
  const sources = await startSources(config.sources, {
    stateDir: config.state_dir,
    onEvent: (ev) => {
      engine.observe(ev);
      kpi.observe(ev);
    },
    onError: (source, err) => log.warn({ source, err }, 'event source error'),
  });
  const publishKpis = () => {
    // Route '*' only: per-route series would let traffic decide our cardinality.
    for (const s of kpi.snapshot(KPI_WINDOW_MS)) if (s.route === '*') deps.metrics.recordKpis(s);
  };
  const tick = setInterval(() => engine.tick(Date.now()), TICK_MS);
  const kpis = setInterval(publishKpis, KPI_EVERY_MS);
  tick.unref();
  kpis.unref();
  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= (async () => {
        clearInterval(tick);
        clearInterval(kpis);
        await sources.close();
      })();
      return closed;
    },
  };
}
