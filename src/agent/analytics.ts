// Passive side of the agent: the config's `sources:` (HEP, CDR, security log)
// feed the fraud engine and the KPI tracker (pbx-kpi.ts: bounded routes, ASR
// alerts); their output lands in the metrics (fraud events by rule, calls by
// outcome, ASR/NER over 5 m and 1 h, real calls' loss/jitter/MOS from RTCP
// over HEP: pbx-voice.ts), the webhooks (fraud detections, ASR
// alerts through the alert state machine), the fail2ban log and the log.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Counter } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { FraudEvent } from '../analytics/fraud/types.js';
import { fingerprintOf, type AlertEvent } from '../report/alerts.js';
import type { ProbeMetrics } from '../report/metrics.js';
import type { Notifier } from '../report/notifier.js';

export interface RunningAnalytics {
  /** The fail2ban log in use, if any. */
  readonly fail2banLog: string | undefined;
  /** SIGHUP: reopen the fail2ban log (after a rotation). */
  reopenLogs(): Promise<void>;
  close(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The fail2ban log file: the configured path; `false` → none; unset → the
 * systemd LogsDirectory's fraud.log when systemd started us ($LOGS_DIRECTORY,
 * or $INVOCATION_ID with the unit's /var/log/callprobe), none elsewhere.
 */
export function fail2banLogPath(config: Config, env: Env): string | undefined {
  const v = config.fraud.fail2ban_log;
  if (v === false) return undefined;
  if (typeof v === 'string') return v;
  const logs = env.LOGS_DIRECTORY?.split(':')[0];
  if (logs !== undefined && logs !== '') return join(logs, 'fraud.log');
  if (env.INVOCATION_ID !== undefined && env.INVOCATION_ID !== '') return '/var/log/callprobe/fraud.log';
  return undefined;
}

const TICK_MS = 10_000;
const KPI_EVERY_MS = 15_000;

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
  deps: { metrics: ProbeMetrics; logger: Logger; notifier?: Notifier; env?: Env },
): Promise<RunningAnalytics | undefined> {
  if (!sourcesConfigured(config)) return undefined;
  const [{ FraudEngine }, { KpiTracker }, { startSources }, { FraudLogWriter }, { PbxKpi }, { PbxVoice }] = await Promise.all([
    import('../analytics/fraud/engine.js'),
    import('../analytics/kpi.js'),
    import('../sources/start.js'),
    import('../report/fraud-log.js'),
    import('./pbx-kpi.js'),
    import('./pbx-voice.js'),
  ]);
  const log = deps.logger.child({ component: 'analytics' });
  const engine = new FraudEngine(config.fraud, { onListenerError: (err) => log.error({ err }, 'fraud listener failed') });
  const kpi = new PbxKpi(new KpiTracker(), config.kpi, deps.metrics);
  const voice = new PbxVoice(deps.metrics);
  engine.onFraud((ev) => {
    deps.metrics.recordFraudEvent(ev.rule);
    log.warn({ rule: ev.rule, severity: ev.severity }, ev.message);
    deps.notifier?.notify(fraudAlert(ev, { instance: hostname() })).catch((err: unknown) => log.error({ err }, 'fraud alert not spooled'));
  });
  const logPath = fail2banLogPath(config, deps.env ?? process.env);
  let fail2ban: InstanceType<typeof FraudLogWriter> | undefined;
  if (logPath !== undefined) {
    const errors = new Counter({
      name: 'callprobe_fraud_log_errors_total',
      help: 'Detections that could not be appended to the fail2ban log (fraud.fail2ban_log).',
      registers: [deps.metrics.registry],
    });
    errors.inc(0);
    fail2ban = new FraudLogWriter({
      path: logPath,
      onError: (err) => {
        errors.inc();
        log.error({ err, path: logPath }, 'fail2ban log not written');
      },
    });
    engine.onFraud(fail2ban.write);
    log.info({ path: logPath }, 'fail2ban log');
  }
  const sources = await startSources(config.sources, {
    stateDir: config.state_dir,
    ...(config.kpi.route_header !== undefined ? { routeHeader: config.kpi.route_header } : {}),
    onEvent: (ev) => {
      engine.observe(ev);
      kpi.observe(ev);
      voice.observe(ev);
    },
    onError: (source, err) => log.warn({ source, err }, 'event source error'),
  });
  const hep = sources.hep;
  if (hep !== undefined) {
    // The listener's own counts, read at scrape time.
    new Counter({
      name: 'callprobe_hep_packets_total',
      help: 'HEP packets received (UDP datagrams and TCP frames), whatever became of them.',
      registers: [deps.metrics.registry],
      collect() {
        this.reset();
        this.inc(hep.stats.packets);
      },
    });
    new Counter({
      name: 'callprobe_hep_packets_dropped_total',
      help: 'HEP packets dropped: reason="auth_key" (wrong or missing sources.hep_auth_key), "decode" (not HEP3).',
      labelNames: ['reason'],
      registers: [deps.metrics.registry],
      collect() {
        this.reset();
        this.inc({ reason: 'auth_key' }, hep.stats.rejectedAuth);
        this.inc({ reason: 'decode' }, hep.stats.decodeErrors);
      },
    });
  }
  // ASR verdicts go through the notifier's alert tracker: `alerts.for`, repeat and resolve as for probes.
  const judgeAsr = () => {
    for (const v of kpi.judge()) {
      deps.notifier?.observe(v.result, v.labels).catch((err: unknown) => log.error({ err, probe: v.result.probe }, 'ASR alert not spooled'));
    }
  };
  const tick = setInterval(() => engine.tick(Date.now()), TICK_MS);
  // a real call's MOS is due endGraceMs after its BYE: look every second
  const voiceSweep = setInterval(() => voice.sweep(Date.now()), 1000);
  const kpis = setInterval(() => kpi.publish(), Math.min(KPI_EVERY_MS, config.kpi.interval));
  const asr = setInterval(judgeAsr, config.kpi.interval);
  for (const t of [tick, voiceSweep, kpis, asr]) t.unref();
  let closed: Promise<void> | undefined;
  return {
    fail2banLog: logPath,
    reopenLogs: async () => fail2ban?.reopen(),
    close() {
      closed ??= (async () => {
        for (const t of [tick, voiceSweep, kpis, asr]) clearInterval(t);
        await sources.close();
        await fail2ban?.close();
      })();
      return closed;
    },
  };
}
