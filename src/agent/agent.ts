// The daemon's lifecycle: load (config errors stop us before we listen), run
// the schedule, serve HTTP, reload on demand (a bad config keeps the old one),
// stop (abort every probe so calls hang up, close everything, within budget).
import { hostname } from 'node:os';
import type { ProbeDefinition } from '../config/probes.js';
import { agentStartIssues, configWarnings } from '../config/check.js';
import { loadProbeFiles } from '../config/probes.js';
import { ConfigError, formatIssues } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ProbeKindMap } from '../probes/kinds.js';
import type { ProbeResult } from '../probes/result.js';
import { runProbe, type RunResult } from '../probes/runner.js';
import { ProbeMetrics, metricsForOneResult, type LatenessSource } from '../report/metrics.js';
import type { Notifier } from '../report/notifier.js';
import { registerNotifierMetrics } from '../report/notifier-metrics.js';
import { startAnalytics, type RunningAnalytics } from './analytics.js';
import { AgentEvidence } from './evidence.js';
import { exposureIssue } from '../config/http.js';
import { readTlsMaterial } from '../config/tls-files.js';
import { HttpAuthenticator } from './http-auth.js';
import { startHttpServer, type HttpServer, type HttpServerOptions, type ProbeAnswer } from './http.js';
import { OnDemandLimiter } from './on-demand.js';
import type { SdNotifier } from './systemd.js';
import { Scheduler } from './scheduler.js';

export interface AgentOptions {
  logger: Logger;
  /** Config file (default search otherwise). */
  configFile?: string;
  /** Probe files instead of the continuous ones in probes_dir. */
  probeFiles?: string[];
  /** Overrides listen.metrics ("127.0.0.1:0" picks a free port). */
  listen?: string;
  /** Probe runs at once (default 4). */
  concurrency?: number;
  maxStartOffsetMs?: number;
  env?: Readonly<Record<string, string | undefined>>;
  kinds?: ProbeKindMap;
  /** systemd readiness / watchdog (sd_notify). */
  systemd?: SdNotifier;
  /** Extra consumers of every result (alerts, webhooks). Errors are logged, never fatal. */
  reporters?: ((result: ProbeResult, def: ProbeDefinition) => void)[];
  version?: string;
}

export interface AgentState {
  file: string;
  config: Config;
  probes: ProbeDefinition[];
}

/** Loads config and probes; throws ConfigError with every issue. */
export function loadAgentState(opts: Pick<AgentOptions, 'configFile' | 'probeFiles' | 'env' | 'listen'>): AgentState {
  const { file, config } = loadConfig({ file: opts.configFile, env: opts.env });
  const { files, issues } = agentStartIssues(config, opts.probeFiles);
  // --listen overrides listen.metrics: the exposure rule applies to the address actually bound.
  const exposed = opts.listen === undefined ? undefined : exposureIssue(opts.listen, config.http, '--listen');
  if (exposed !== undefined) issues.push(exposed);
  if (issues.length > 0) throw new ConfigError(file, issues);
  return { file, config, probes: loadProbeFiles(files, config) };
}

/** The webhook notifier, when the config names webhooks (alerts spool under state_dir). */
async function openNotifier(config: Config, logger: Logger): Promise<Notifier | undefined> {
  if (config.webhooks.length === 0) return undefined;
  const { Notifier } = await import('../report/notifier.js');
  return Notifier.open({
    stateDir: config.state_dir,
    webhooks: config.webhooks.flatMap((w) => (typeof w.url === 'string' ? [w.url] : w.url).map((url) => ({ ...w, url }))).map((w) => ({
      url: w.url,
      format: w.format,
      min_severity: w.min_severity,
      ...(w.secret !== undefined ? { secret: w.secret } : {}),
    })),
    logger,
    rules: { for: config.alerts.for, repeat_interval_ms: config.alerts.repeat_interval, resolve_after: config.alerts.resolve_after },
    thresholds: { mos_critical: config.thresholds.mos_min, call_success_critical_percent: config.thresholds.asr_min_percent },
    labels: { instance: hostname() },
  });
}

/** Stop budget: systemd's default TimeoutStopSec is 90 s, ours is 10 s (unit file). */
const STOP_BUDGET_MS = 8000;

export class Agent {
  readonly metrics: ProbeMetrics;
  #state: AgentState;
  readonly #opts: AgentOptions;
  readonly #scheduler: Scheduler<ProbeDefinition>;
  readonly #shutdown = new AbortController();
  readonly #onDemand: OnDemandLimiter;
  #http: HttpServer | undefined;
  #notifier: Notifier | undefined;
  #analytics: RunningAnalytics | undefined;
  #evidence: AgentEvidence | undefined;
  #ready = false;
  #stopping: Promise<void> | undefined;

  private constructor(state: AgentState, opts: AgentOptions, lateness: LatenessSource) {
    this.#state = state;
    this.#opts = opts;
    this.metrics = new ProbeMetrics({ selfMetrics: true, version: opts.version, lateness });
    this.#onDemand = new OnDemandLimiter(state.config.http.probe_min_interval);
    this.#scheduler = new Scheduler<ProbeDefinition>({
      concurrency: opts.concurrency ?? 4,
      maxStartOffsetMs: opts.maxStartOffsetMs,
      run: (def) => this.#run(def),
      onSkip: (def, reason) => {
        this.metrics.recordSkip(def.name, reason);
        opts.logger.warn({ probe: def.name, reason }, 'probe run skipped: previous run still busy');
      },
      onError: (def, err) => opts.logger.error({ probe: def.name, err }, 'probe run failed unexpectedly'),
    });
  }

  /** Loads everything first: a config error throws before anything listens. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const state = loadAgentState(opts);
    // The process-wide RTP pacer: its lateness is an agent self-metric.
    const { sharedPacer } = await import('../rtp/pacer.js');
    const agent = new Agent(state, opts, sharedPacer());
    for (const w of configWarnings(state.config)) opts.logger.warn({ path: w.path }, w.message);
    try {
      agent.#notifier = await openNotifier(state.config, opts.logger);
      const notifier = agent.#notifier;
      if (notifier !== undefined) registerNotifierMetrics(agent.metrics.registry, () => notifier.stats());
      agent.#analytics = await startAnalytics(state.config, {
        metrics: agent.metrics,
        logger: opts.logger,
        ...(opts.env !== undefined ? { env: opts.env } : {}),
        ...(agent.#notifier !== undefined ? { notifier: agent.#notifier } : {}),
      });
      agent.#http = await startHttpServer(
        opts.listen ?? state.config.listen.metrics,
        {
          metrics: async () => ({ contentType: agent.metrics.contentType, body: await agent.metrics.metrics() }),
          probe: (name, format) => agent.#probeNow(name, format),
          healthy: () => agent.#stopping === undefined,
          degraded: () => agent.#notifier?.degraded(),
          ready: () => agent.#ready,
          probeNames: () => agent.#state.probes.map((p) => p.name),
          evidence: (probe, run) => agent.#evidence?.read(probe, run),
        },
        (err) => opts.logger.error({ err }, 'http error'),
        agent.#httpOptions(state),
      );
    } catch (err) {
      await agent.#analytics?.close();
      await agent.#notifier?.close();
      agent.metrics.close();
      throw err;
    }
    agent.#evidence = agent.#openEvidence(state.config);
    agent.#scheduler.schedule(state.probes);
    agent.#ready = true;
    const { host, port } = agent.address();
    opts.logger.info({ listen: `${host}:${port}`, probes: state.probes.length, config: state.file }, 'agent started');
    await opts.systemd?.ready(`${state.probes.length} probes, listening on ${host}:${port}`);
    opts.systemd?.startWatchdog(() => agent.#stopping === undefined);
    return agent;
  }

  get state(): AgentState {
    return this.#state;
  }

  address(): { host: string; port: number } {
    if (this.#http === undefined) throw new Error('agent not listening');
    return this.#http.address();
  }

  /** The evidence store under state_dir (none when it cannot be opened: probes still run). */
  #openEvidence(config: Config): AgentEvidence | undefined {
    try {
      return new AgentEvidence(config.evidence, config.state_dir, () => config.evidence.url ?? baseUrl(this.address()), this.#opts.logger);
    } catch (err) {
      this.#opts.logger.error({ err }, 'evidence store not usable; probes run without evidence pcaps');
      return undefined;
    }
  }

  async #run(def: ProbeDefinition): Promise<RunResult> {
    const recorder = this.#evidence?.recorder();
    return runProbe(def, {
      config: this.#state.config,
      logger: this.#opts.logger,
      kinds: this.#opts.kinds,
      signal: this.#shutdown.signal,
      ...(recorder ? { recorder } : {}),
      report: (result, d) => {
        this.#evidence?.attach(result, d.name, recorder);
        this.metrics.recordResult(result, d);
        const level = result.success ? 'info' : 'warn';
        this.#opts.logger[level](
          { probe: d.name, kind: d.kind, success: result.success, duration_s: result.duration_s, failures: result.failures },
          'probe finished',
        );
        this.#notifier?.observe(result, { ...d.labels, kind: d.kind }).catch((err: unknown) => {
          this.#opts.logger.error({ err, probe: d.name }, 'alert notifier failed');
        });
        for (const r of this.#opts.reporters ?? []) {
          try {
            r(result, d);
          } catch (err) {
            this.#opts.logger.error({ err, probe: d.name }, 'reporter failed');
          }
        }
      },
    });
  }

  /** TLS and authentication of the listener (http:); the files were checked by loadAgentState. */
  #httpOptions(state: AgentState): HttpServerOptions {
    const { http } = state.config;
    const out: HttpServerOptions = {};
    const auth = new HttpAuthenticator(http);
    if (auth.enabled) out.auth = auth;
    const files = http.tls_server_config;
    if (files !== undefined) {
      const read = () => {
        const m = readTlsMaterial(files);
        if (!Array.isArray(m)) return m;
        this.#opts.logger.error({ errors: formatIssues(m) }, 'TLS certificate or key changed but is not usable; keeping the loaded one');
        return null;
      };
      const material = read();
      if (material === null) throw new ConfigError(state.file, [{ path: 'http.tls_server_config', message: 'not usable' }]);
      out.tls = { files, material, reread: read };
      out.onTlsReload = (loaded) => loaded && this.#opts.logger.info({ cert: files.cert_file }, 'TLS certificate reloaded');
    }
    return out;
  }

  async #probeNow(name: string, format: 'prometheus' | 'json'): Promise<ProbeAnswer> {
    const def = this.#state.probes.find((p) => p.name === name);
    if (def === undefined) return { status: 'unknown' };
    // A run in progress (scheduled or on demand) is joined: it costs nothing more. A new run must wait its turn.
    const joining = this.#scheduler.busy(name);
    if (!joining) {
      const wait = this.#onDemand.waitMs(name);
      if (wait > 0) return { status: 'limited', retryAfterS: Math.ceil(wait / 1000) };
    }
    const result = (await this.#scheduler.trigger(name)) as RunResult | undefined;
    if (!joining) this.#onDemand.ended(name);
    const final: ProbeResult = result ?? { probe: name, success: false, failures: [{ check: 'agent', phase: 'internal', message: 'agent stopping' }] };
    if (format === 'json') return { status: 'ran', contentType: 'application/json', body: `${JSON.stringify(final, null, 2)}\n` };
    return { status: 'ran', contentType: this.metrics.contentType, body: await metricsForOneResult(final, def) };
  }

  /** SIGHUP: re-read config and probes. An invalid config keeps the running one. */
  reload(): { ok: true; probes: number } | { ok: false; message: string } {
    if (this.#stopping !== undefined) return { ok: false, message: 'stopping' };
    // SIGHUP is also logrotate's "reopen your logs", whatever becomes of the config.
    void this.#analytics?.reopenLogs();
    let next: AgentState;
    try {
      next = loadAgentState({ configFile: this.#state.file, probeFiles: this.#opts.probeFiles, env: this.#opts.env, listen: this.#opts.listen });
    } catch (err) {
      const message = err instanceof ConfigError ? formatIssues(err.issues) : String(err);
      this.#opts.logger.error({ errors: message }, 'reload failed; keeping the running config');
      return { ok: false, message };
    }
    const names = new Set(next.probes.map((p) => p.name));
    for (const old of this.#state.probes) {
      const now = next.probes.find((p) => p.name === old.name);
      if (!names.has(old.name) || now?.kind !== old.kind) this.metrics.removeProbe(old.name, old.kind);
    }
    if (JSON.stringify([next.config.evidence, next.config.state_dir]) !== JSON.stringify([this.#state.config.evidence, this.#state.config.state_dir])) {
      this.#evidence = this.#openEvidence(next.config);
    }
    for (const key of ['webhooks', 'sources', 'fraud'] as const) {
      if (JSON.stringify(next.config[key]) !== JSON.stringify(this.#state.config[key])) {
        this.#opts.logger.warn({ key }, `${key} changed: takes effect after a restart`);
      }
    }
    if (next.config.listen.metrics !== this.#state.config.listen.metrics && this.#opts.listen === undefined) {
      this.#opts.logger.warn({ listen: next.config.listen.metrics }, 'listen address changed: takes effect after a restart');
    }
    if (JSON.stringify(next.config.http) !== JSON.stringify(this.#state.config.http)) {
      this.#opts.logger.warn({ key: 'http' }, 'http changed: takes effect after a restart');
    }
    this.#onDemand.retain(names);
    this.#state = next;
    this.#scheduler.schedule(next.probes);
    this.#opts.logger.info({ probes: next.probes.length }, 'config reloaded');
    return { ok: true, probes: next.probes.length };
  }

  /** Aborts every probe (calls hang up), stops the schedule and the server. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      await this.#opts.systemd?.stopping();
      this.#shutdown.abort(new Error('agent stopping'));
      let budget: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => (budget = setTimeout(() => resolve('timeout'), STOP_BUDGET_MS)));
      const outcome = await Promise.race([this.#scheduler.stop().then(() => 'done' as const), gaveUp]);
      clearTimeout(budget);
      if (outcome === 'timeout') this.#opts.logger.warn('probes did not stop within the budget; exiting anyway');
      await this.#http?.close();
      await this.#analytics?.close();
      // Undelivered alerts stay spooled on disk for the next start; give delivery a moment first.
      await this.#notifier?.idle(1000).catch(() => false);
      await this.#notifier?.close();
      this.#opts.systemd?.close();
      this.metrics.close();
      this.#opts.logger.info('agent stopped');
    })();
    return this.#stopping;
  }
}

/** http://host:port of the listener; a wildcard bind is named by this host's name. */
function baseUrl(a: { host: string; port: number }): string {
  const host = a.host === '0.0.0.0' || a.host === '::' ? hostname() : a.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
}
