// The probe runner owns what every kind shares (blackbox_exporter's split):
// timing, the timeout, catching, common thresholds, and handing the result to
// the reporters. Probe functions only probe; they never see prom-client.
import { performance } from 'node:perf_hooks';
import type { ProbeDefinition } from '../config/probes.js';
import { effectiveTimeoutMs } from '../config/probes.js';
import type { Config } from '../config/schema.js';
import type { PacketRecorder } from '../evidence/recorder.js';
import type { Logger } from '../log.js';
import { PROBE_KIND_MAP, type ProbeKindEntry, type ProbeKindMap } from './kinds.js';
import type { Failure, Phase, ProbeResult } from './result.js';
import { effectiveThresholds, evaluateThresholds } from './thresholds.js';

export interface RunnerDeps {
  config: Config;
  logger: Logger;
  /** Kind → function map (tests inject their own). */
  kinds?: ProbeKindMap;
  /** Aborted when the agent shuts down: every probe hangs up and returns. */
  signal?: AbortSignal;
  /** Receives every finished result (metrics, alerts). Not called for runs cut short by shutdown. */
  report?: (result: ProbeResult, def: ProbeDefinition) => void;
  /** How long to wait for a probe after aborting it before giving up on it (default 2000 ms). */
  abortGraceMs?: number;
  /** Handed to the probe: keeps the run's SIP and RTP packets (the agent's evidence pcaps). */
  recorder?: PacketRecorder;
}

/** Result fields the runner adds to whatever the probe returned. */
export interface RunnerFields {
  kind: ProbeDefinition['kind'];
  labels: Record<string, string>;
  started_at: string;
  duration_s: number;
  /** Set when the agent's shutdown cut the run short. */
  aborted?: true;
}

export type RunResult = ProbeResult & RunnerFields;

function failureResult(def: ProbeDefinition, failure: Failure): ProbeResult {
  return { probe: def.name, success: false, failures: [failure] };
}

const TIMED_OUT = Symbol('timed out');

/**
 * Runs one probe once. Never throws: a missing kind, a throwing probe or one
 * that ignores its timeout all become a failed result with a phase.
 */
export async function runProbe(def: ProbeDefinition, deps: RunnerDeps): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const timeoutMs = effectiveTimeoutMs(def, deps.config);
  const graceMs = deps.abortGraceMs ?? 2000;
  const logger = deps.logger.child({ probe: def.name, kind: def.kind });

  const controller = new AbortController();
  const onShutdown = () => controller.abort(deps.signal?.reason ?? new Error('shutdown'));
  if (deps.signal?.aborted) onShutdown();
  else deps.signal?.addEventListener('abort', onShutdown, { once: true });

  let timedOut = false;
  let giveUp: ((v: typeof TIMED_OUT) => void) | undefined;
  const abandoned = new Promise<typeof TIMED_OUT>((resolve) => (giveUp = resolve));
  let graceTimer: NodeJS.Timeout | undefined;
  const startGrace = () => {
    graceTimer ??= setTimeout(() => giveUp?.(TIMED_OUT), graceMs);
  };
  const timeoutTimer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timeout after ${timeoutMs} ms`));
    startGrace();
  }, timeoutMs);
  controller.signal.addEventListener('abort', startGrace, { once: true });

  let result: ProbeResult;
  try {
    const entry = (deps.kinds ?? PROBE_KIND_MAP)[def.kind] as ProbeKindEntry<typeof def.kind> | undefined;
    if (entry === undefined) {
      result = failureResult(def, {
        check: 'kind_available',
        expected: def.kind,
        actual: false,
        phase: 'config',
        message: `probe kind "${def.kind}" is not available in this build`,
      });
    } else {
      const run = (entry.run as ProbeKindEntry<ProbeDefinition['kind']>['run'])(
        { logger, signal: controller.signal, ...(deps.recorder ? { recorder: deps.recorder } : {}) },
        def as never,
        deps.config,
      );
      const outcome = await Promise.race([run, abandoned]);
      if (outcome === TIMED_OUT) {
        run.catch(() => undefined); // it may still settle later; nobody listens
        result = failureResult(def, {
          check: 'timeout',
          expected: timeoutMs,
          actual: Math.round(performance.now() - t0),
          phase: 'internal',
          message: `probe did not finish within ${timeoutMs} ms and ignored the abort`,
        });
      } else {
        result = outcome;
      }
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    logger.error({ err: e }, 'probe threw');
    result = failureResult(def, {
      check: 'exception',
      phase: 'internal',
      message: `${e.message}${typeof code === 'string' ? ` (${code})` : ''}`,
    });
  } finally {
    clearTimeout(timeoutTimer);
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    deps.signal?.removeEventListener('abort', onShutdown);
  }

  const failures: Failure[] = Array.isArray(result.failures) ? [...result.failures] : [];
  if (timedOut && !failures.some((f) => f.check === 'timeout')) {
    const phase: Phase = failures[0]?.phase ?? 'internal';
    failures.push({ check: 'timeout', expected: timeoutMs, actual: Math.round(performance.now() - t0), phase });
  }
  const base: ProbeResult = { ...result, failures };
  const judged = (deps.kinds ?? PROBE_KIND_MAP)[def.kind]?.ownThresholds === true;
  const thresholdFailures = result.success && !judged ? evaluateThresholds(base, effectiveThresholds(def, deps.config)) : [];
  failures.push(...thresholdFailures);
  const shutdown = deps.signal?.aborted === true;
  const final: RunResult = {
    ...base,
    probe: def.name,
    kind: def.kind,
    labels: { ...def.labels },
    started_at: startedAt.toISOString(),
    success: result.success === true && !timedOut && thresholdFailures.length === 0,
    duration_s: Math.round(performance.now() - t0) / 1000,
    failures,
    ...(shutdown ? { aborted: true as const } : {}),
  };

  if (!shutdown && deps.report !== undefined) {
    try {
      deps.report(final, def);
    } catch (err) {
      logger.error({ err }, 'reporter failed');
    }
  }
  return final;
}

export interface SuiteResult {
  success: boolean;
  passed: number;
  failed: number;
  started_at: string;
  duration_s: number;
  results: RunResult[];
}

/** Runs every probe once, at most `concurrency` at a time, results in definition order. */
export async function runSuite(defs: readonly ProbeDefinition[], deps: RunnerDeps & { concurrency?: number }): Promise<SuiteResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const results: RunResult[] = new Array<RunResult>(defs.length);
  let next = 0;
  const worker = async () => {
    while (next < defs.length) {
      const i = next++;
      const def = defs[i] as ProbeDefinition;
      results[i] = await runProbe(def, deps);
    }
  };
  const n = Math.max(1, Math.min(deps.concurrency ?? 1, defs.length));
  await Promise.all(Array.from({ length: n }, worker));
  const passed = results.filter((r) => r.success).length;
  return {
    success: passed === results.length,
    passed,
    failed: results.length - passed,
    started_at: startedAt.toISOString(),
    duration_s: Math.round(performance.now() - t0) / 1000,
    results,
  };
}

export type SuiteOutcome = 'passed' | 'failed' | 'config' | 'internal';

/**
 * How a suite ended, worst first: a probe that threw (a bug) → internal; a kind
 * this build lacks → config; any other failure → failed. The CLI maps these
 * onto exit codes 3 / 2 / 1 / 0.
 */
export function suiteOutcome(results: readonly ProbeResult[]): SuiteOutcome {
  const failures = results.filter((r) => !r.success || r.failures.length > 0).flatMap((r) => r.failures);
  if (failures.some((f) => f.check === 'exception')) return 'internal';
  if (failures.some((f) => f.phase === 'config')) return 'config';
  return results.every((r) => r.success && r.failures.length === 0) ? 'passed' : 'failed';
}
