// Prometheus surfacer: maps ProbeResults (plain data) onto metrics in its own
// Registry. Probes never import this. Label values are probe names, kinds,
// phases, directions, SIP codes and rule names only: never Call-IDs, numbers
// of real callers or anything from a secret.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProbeResult } from '../probes/result.js';

/** The media engine's pacing lateness since the last read (src/rtp's shared pacer fits). */
export interface LatenessSource {
  lateness(): { count: number; p99_ms: number; max_ms: number };
  resetLateness(): void;
}

export interface MetricsOptions {
  /** Process, Node.js and agent self-metrics (off for one-shot /probe registries). */
  selfMetrics?: boolean;
  version?: string;
  /** RTP send lateness, read (and reset) at each scrape. */
  lateness?: LatenessSource;
}

/** What recordResult needs to know about the probe definition. */
export interface ProbeIdentity {
  name: string;
  kind: string;
}

/** A traffic KPI snapshot (src/analytics' KpiSnapshot fits). Ratios 0..1, null when undefined. */
export interface KpiRatios {
  source: string;
  route: string;
  window_s: number;
  asr: number | null;
  ner: number | null;
}

type Labels = Record<string, string>;

// Label sets that several series share: a series of the same family must carry
// the same labels, so they are named once here.
/** Per probe run: `removeProbe` drops these by { probe, kind }. */
const BY_RUN: readonly string[] = ['probe', 'kind'];
/** Per call direction (caller→callee, callee→caller, ...): the RTP and quality series. */
const BY_DIRECTION: readonly string[] = ['probe', 'direction'];
/** Traffic KPIs from event sources. */
const BY_ROUTE_WINDOW: readonly string[] = ['source', 'route', 'window'];

/** Label value for a SIP phase key ("pdd", "register", "options_rtt") kept to a safe charset. */
function phaseLabel(key: string): string {
  return key.replace(/_ms$/, '').replace(/[^a-z0-9_]/gi, '_').slice(0, 32);
}

/** How a call attempt ended, by final status (the ASR/NER source). */
export function callResultLabel(status: number | null, success: boolean): string {
  if (status === null) return success ? 'answered' : 'no_response';
  if (status >= 200 && status < 300) return 'answered';
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480 || status === 487) return 'no_answer';
  if (status === 603) return 'rejected';
  return 'failed';
}

export class ProbeMetrics {
  readonly registry = new Registry();
  readonly #eventLoop: IntervalHistogram | undefined;
  /** Label sets written per probe for gauges that must vanish when a probe stops measuring them. */
  readonly #perProbe = new Map<string, Map<string, { gauge: Gauge<string>; labels: Labels }>>();
  readonly #gaugeIds = new Map<Gauge<string>, number>();

  readonly success = this.#gauge('probe_success', 'Whether the last run of the probe succeeded (1) or not (0).', BY_RUN);
  readonly duration = this.#gauge('probe_duration_seconds', 'How long the last run of the probe took.', BY_RUN);
  readonly lastRun = this.#gauge('callprobe_probe_last_run_timestamp_seconds', 'When the probe last finished (Unix time).', BY_RUN);
  readonly runs = this.#counter('callprobe_probe_runs_total', 'Probe runs by outcome.', [...BY_RUN, 'result']);
  readonly failures = this.#counter('callprobe_probe_failures_total', 'Failed checks by check name and phase.', ['probe', 'check', 'phase']);
  readonly skipped = this.#counter('callprobe_probe_skipped_total', 'Scheduled runs skipped because the previous one was still running or queued.', ['probe', 'reason']);
  readonly sipPhase = this.#gauge('callprobe_sip_phase_seconds', 'SIP phase timings of the last run (register, pdd, answer, setup, bye, rtt...).', ['probe', 'phase']);
  readonly sipResponses = this.#counter('callprobe_sip_responses_total', 'Final SIP responses received, by status code.', ['probe', 'code']);
  readonly calls = this.#counter('callprobe_calls_total', 'Test calls by result (answered, busy, no_answer, rejected, failed, no_response).', ['probe', 'result']);
  readonly rtpSent = this.#counter('callprobe_rtp_packets_sent_total', 'RTP packets sent, by direction.', BY_DIRECTION);
  readonly rtpReceived = this.#counter('callprobe_rtp_packets_received_total', 'RTP packets received, by direction.', BY_DIRECTION);
  readonly rtpLost = this.#counter('callprobe_rtp_packets_lost_total', 'RTP packets lost (RFC 3550 expected minus received), by direction.', BY_DIRECTION);
  readonly srtpFailures = this.#counter('callprobe_srtp_failures_total', 'SRTP/SRTCP packets dropped at our receiver, by direction and reason (auth: tag did not verify; replay; malformed).', [...BY_DIRECTION, 'reason']);
  readonly lossRatio = this.#gauge('callprobe_rtp_loss_ratio', 'RTP loss of the last call, 0..1, by direction.', BY_DIRECTION);
  readonly jitter = this.#gauge('callprobe_rtp_jitter_seconds', 'RFC 3550 interarrival jitter at the end of the last call, by direction.', BY_DIRECTION);
  readonly jitterMax = this.#gauge('callprobe_rtp_jitter_max_seconds', 'Largest interarrival jitter seen during the last call, by direction.', BY_DIRECTION);
  readonly mos = this.#gauge('callprobe_mos', 'Mean opinion score (ITU-T G.107 E-model, 1..4.5) of the last call, by direction.', BY_DIRECTION);
  readonly rFactor = this.#gauge('callprobe_r_factor', 'E-model transmission rating R (0..100) of the last call, by direction.', BY_DIRECTION);
  readonly certExpiry = this.#gauge('probe_ssl_earliest_cert_expiry', 'Earliest certificate not-after over the probe targets and their chains (Unix time, blackbox_exporter compatible).', ['probe']);
  // Seconds, not days: promtool lints non-base units; dashboards divide by 86400.
  readonly certTimeLeft = this.#gauge('callprobe_cert_time_left_seconds', 'Time until the earliest certificate of the target chain expires, at the last run (negative: expired).', ['probe', 'target']);
  readonly asr = this.#gauge('callprobe_asr_ratio', 'Answer-seizure ratio over the window, 0..1.', BY_ROUTE_WINDOW);
  readonly ner = this.#gauge('callprobe_ner_ratio', 'Network effectiveness ratio over the window, 0..1.', BY_ROUTE_WINDOW);
  readonly fraudEvents = this.#counter('callprobe_fraud_events_total', 'Fraud detector events by rule.', ['rule']);

  constructor(opts: MetricsOptions = {}) {
    if (opts.selfMetrics === true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total: promtool rejects them, and handle counts are not what we watch.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
      const pacing = opts.lateness;
      if (pacing !== undefined) {
        // One read per scrape feeds both gauges; the window is "since the previous scrape".
        let window = { count: 0, p99_ms: 0, max_ms: 0 };
        new Gauge({
          name: 'callprobe_rtp_send_lateness_p99_seconds',
          help: 'p99 lateness of RTP packets behind their pacing deadline since the previous scrape (agent self-metric).',
          registers: [this.registry],
          collect() {
            window = pacing.lateness();
            pacing.resetLateness();
            this.set(window.p99_ms / 1000);
          },
        });
        new Gauge({
          name: 'callprobe_rtp_send_lateness_max_seconds',
          help: 'Largest RTP send lateness since the previous scrape (agent self-metric).',
          registers: [this.registry],
          collect() {
            this.set(window.max_ms / 1000);
          },
        });
      }
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      this.#eventLoop = loop;
      new Gauge({
        name: 'callprobe_event_loop_delay_p99_seconds',
        help: 'p99 event-loop delay since the previous scrape (timer and RTP pacing health).',
        registers: [this.registry],
        collect() {
          this.set(loop.percentile(99) / 1e9);
          loop.reset();
        },
      });
      const info = new Gauge({ name: 'callprobe_build_info', help: 'Agent version.', labelNames: ['version'], registers: [this.registry] });
      info.set({ version: opts.version ?? '0.1.0' }, 1);
    }
  }

  #gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
    const g = new Gauge({ name, help, labelNames, registers: [this.registry] });
    this.#gaugeIds.set(g, this.#gaugeIds.size);
    return g;
  }

  #counter(name: string, help: string, labelNames: readonly string[]): Counter<string> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** Sets a per-probe gauge and remembers the series so it can be dropped when no longer measured. */
  #set(gauge: Gauge<string>, probe: string, labels: Labels, value: number, seen: Set<string>): void {
    gauge.set(labels, value);
    const key = `${this.#gaugeIds.get(gauge) ?? -1} ${JSON.stringify(labels)}`;
    seen.add(key);
    let written = this.#perProbe.get(probe);
    if (written === undefined) this.#perProbe.set(probe, (written = new Map()));
    written.set(key, { gauge, labels });
  }

  /** Maps one result onto the metrics. */
  recordResult(result: ProbeResult, def: ProbeIdentity): void {
    const probe = def.name;
    const base = { probe, kind: def.kind };
    this.success.set(base, result.success && result.failures.length === 0 ? 1 : 0);
    if (result.duration_s !== undefined && Number.isFinite(result.duration_s)) this.duration.set(base, result.duration_s);
    this.lastRun.set(base, Date.now() / 1000);
    this.runs.inc({ ...base, result: result.success ? 'success' : 'failure' });
    for (const f of result.failures) this.failures.inc({ probe, check: String(f.check).slice(0, 40), phase: f.phase });

    const seen = new Set<string>();
    const sip = result.sip;
    for (const [key, ms] of Object.entries(sip?.timings_ms ?? {})) {
      if (ms !== undefined && Number.isFinite(ms)) this.#set(this.sipPhase, probe, { probe, phase: phaseLabel(key) }, ms / 1000, seen);
    }
    const status = sip?.final_status ?? null;
    if (status !== null) this.sipResponses.inc({ probe, code: String(Math.trunc(status)) });
    // Every run that placed a call (call probe, scenario with a call step) counts as a test call.
    if (sip?.call_id !== undefined) this.calls.inc({ probe, result: callResultLabel(status, result.success) });

    for (const dir of result.media?.directions ?? []) {
      const labels = { probe, direction: dir.direction.replace(/[^a-z0-9_]/gi, '_').slice(0, 32) };
      const { packets_sent: sent, packets_received: received, packets_lost: lost } = dir;
      if (typeof sent === 'number' && sent > 0) this.rtpSent.inc(labels, sent);
      if (typeof received === 'number' && received > 0) this.rtpReceived.inc(labels, received);
      if (typeof lost === 'number' && lost > 0) this.rtpLost.inc(labels, lost);
      const srtp = dir.srtp;
      if (srtp) {
        for (const [reason, n] of [['auth', srtp.auth_failures], ['replay', srtp.replays], ['malformed', srtp.malformed]] as const) {
          // inc(0) creates the series: a dashboard sees 0, not "no data", on a clean SRTP call
          this.srtpFailures.inc({ ...labels, reason }, n);
        }
      }
      const gauges: [Gauge<string>, number | null | undefined][] = [
        [this.lossRatio, typeof dir.loss_percent === 'number' ? dir.loss_percent / 100 : null],
        [this.jitter, typeof dir.jitter_ms === 'number' ? dir.jitter_ms / 1000 : null],
        [this.jitterMax, typeof dir.jitter_max_ms === 'number' ? dir.jitter_max_ms / 1000 : null],
        [this.mos, dir.mos],
        [this.rFactor, dir.r_factor],
      ];
      for (const [g, v] of gauges) if (typeof v === 'number' && Number.isFinite(v)) this.#set(g, probe, labels, v, seen);
    }

    const cert = result.cert;
    if (cert?.earliest_not_after_s != null) this.#set(this.certExpiry, probe, { probe }, cert.earliest_not_after_s, seen);
    for (const target of cert?.targets ?? []) {
      const notAfter = target.chain_earliest_not_after !== null ? Date.parse(target.chain_earliest_not_after) : Number.NaN;
      if (Number.isFinite(notAfter)) {
        const left = Math.round((notAfter - Date.now()) / 1000);
        this.#set(this.certTimeLeft, probe, { probe, target: target.target.slice(0, 200) }, left, seen);
      }
    }

    // A failed call has no MOS: drop the last good values instead of showing them as current.
    this.#dropUnseen(probe, seen);
  }

  #dropUnseen(probe: string, seen: Set<string>): void {
    const written = this.#perProbe.get(probe);
    if (written === undefined) return;
    for (const [key, { gauge, labels }] of written) {
      if (seen.has(key)) continue;
      gauge.remove(labels);
      written.delete(key);
    }
  }

  /** Drops every series of a probe that is no longer configured (after a reload). */
  removeProbe(probe: string, kind: string): void {
    this.#dropUnseen(probe, new Set());
    this.#perProbe.delete(probe);
    for (const g of [this.success, this.duration, this.lastRun]) g.remove({ probe, kind });
  }

  recordSkip(probe: string, reason: string): void {
    this.skipped.inc({ probe, reason });
  }

  recordFraudEvent(rule: string): void {
    this.fraudEvents.inc({ rule: rule.replace(/[^a-z0-9_]/gi, '_').slice(0, 40) });
  }

  recordKpis(k: KpiRatios): void {
    const labels = { source: k.source, route: k.route, window: `${k.window_s}s` };
    if (k.asr === null) this.asr.remove(labels);
    else this.asr.set(labels, k.asr);
    if (k.ner === null) this.ner.remove(labels);
    else this.ner.set(labels, k.ner);
  }

  /** Exposition text (Prometheus text format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#eventLoop?.disable();
    this.registry.clear();
  }
}

/** A registry holding one result only: the body of a blackbox-style /probe answer. */
export async function metricsForOneResult(result: ProbeResult, def: ProbeIdentity): Promise<string> {
  const m = new ProbeMetrics();
  try {
    m.recordResult(result, def);
    return await m.metrics();
  } finally {
    m.close();
  }
}
