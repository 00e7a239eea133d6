// The scenario probe kind: runs a scenario's steps against the PBX and reports
// each step, the call (SIP and media per direction, like the call probe) and
// the first failure with the phase that broke. ProbeFn signature, so the
// runner's kind map and `probe run` call the same function.
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config/schema.js';
import { networkSettings } from '../../config/network.js';
import type { ProbeContext } from '../context.js';
import type { Failure, ProbeResult } from '../result.js';
import { baseThresholds, evaluateThresholds, overlayThresholds, type ThresholdSet } from '../thresholds.js';
import { ScenarioDriver, type ScenarioCall, type ScenarioTarget } from './driver.js';
import { executeSteps, type StepResult } from './executor.js';
import { loadScenario, scenarioDir, ScenarioError } from './load.js';
import type { Scenario } from './schema.js';
import { signallingOf, srtpSignallingError, type SrtpMode } from '../../config/srtp-keys.js';

export interface ScenarioSpec extends ScenarioTarget {
  /** The scenario file (absolute); relative audio paths are resolved next to it. */
  file?: string;
  /** Base thresholds (config, probe definition); the scenario's own override them. */
  thresholds: ThresholdSet;
}

export interface ScenarioResult extends ProbeResult {
  probe: 'scenario';
  name: string;
  file?: string;
  steps: StepResult[];
  call?: ScenarioCall;
  interrupted?: boolean;
}

/** A next hop named for this run (probe definition, `probe run --server`): wins over the scenario file's. */
export interface ScenarioHop {
  server?: string;
  transport?: 'udp' | 'tcp' | 'tls';
  /** media.srtp of the probe / `probe run --srtp` (default off). */
  srtp?: SrtpMode;
  allowInsecureKeys?: boolean;
}

/** The spec for a scenario from the config: credentials, PBX, RTP range, thresholds. */
export function buildScenarioSpec(scenario: Scenario, config: Config, file?: string, thresholds?: ThresholdSet, hop: ScenarioHop = {}): ScenarioSpec {
  const explicit = hop.server ?? scenario.server;
  const transport = hop.transport ?? (hop.server === undefined ? scenario.transport : undefined) ?? (explicit === undefined ? config.pbx.transport : undefined);
  return {
    scenario,
    ...(file !== undefined ? { file } : {}),
    accounts: config.accounts,
    server: explicit ?? config.pbx.uri,
    // Accounts with their own registrar use it unless the run names a server.
    serverExplicit: explicit !== undefined,
    ...(transport !== undefined ? { transport } : {}),
    codecs: config.rtp.codecs,
    rtpPortMin: config.rtp.port_min,
    rtpPortMax: config.rtp.port_max,
    mediaTimeoutMs: config.rtp.media_timeout,
    network: networkSettings(config),
    ...(hop.srtp !== undefined && hop.srtp !== 'off' ? { srtp: hop.srtp } : {}),
    ...(hop.allowInsecureKeys === true ? { allowInsecureKeys: true } : {}),
    thresholds: thresholds ?? baseThresholds(config),
  };
}

/**
 * SDES keys only over TLS signalling, unless allowed (config/srtp-keys.ts): the message
 * when this run would break that rule. The scenario file may name its own server, so
 * this is checked on the built spec (`probe run`, the agent), not in config check.
 */
export function scenarioKeysError(spec: Pick<ScenarioSpec, 'srtp' | 'transport' | 'server' | 'allowInsecureKeys'>): string | undefined {
  const sig = signallingOf(spec.transport, spec.server, { uri: spec.server, transport: 'udp' });
  return srtpSignallingError(spec.srtp ?? 'off', sig.transport, sig.target, spec.allowInsecureKeys === true);
}

/** Rough upper bound of a run, ms: what a runner's timeout should allow. */
export function scenarioBudgetMs(scenario: Scenario): number {
  let ms = 5000;
  for (const step of scenario.steps) {
    switch (step.kind) {
      case 'wait':
      case 'cancel_after':
        ms += step.ms + 1000;
        break;
      case 'call':
        ms += step.ring_timeout;
        break;
      case 'expect_dtmf':
        ms += step.timeout;
        break;
      case 'send_dtmf':
        ms += step.digits.length * (step.duration + step.pause) + 1000;
        break;
      default:
        ms += Math.min(scenario.step_timeout, 5000);
    }
  }
  return ms;
}

/** Runs a scenario. Never throws for network trouble: every failure is in the result. */
export async function scenarioProbe(ctx: ProbeContext, spec: ScenarioSpec): Promise<ScenarioResult> {
  const started = performance.now();
  const { scenario } = spec;
  const result: ScenarioResult = {
    probe: 'scenario',
    name: scenario.name,
    ...(spec.file !== undefined ? { file: spec.file } : {}),
    success: false,
    steps: [],
    failures: [],
  };
  const keys = scenarioKeysError(spec);
  if (keys !== undefined) {
    result.failures.push({ check: 'srtp', phase: 'config', message: keys });
    result.duration_s = 0;
    return result;
  }
  const { file, thresholds: _thresholds, ...target } = spec;
  const driver = new ScenarioDriver({ ...target, baseDir: file !== undefined ? scenarioDir(file) : process.cwd(), logger: ctx.logger, ...(ctx.recorder ? { recorder: ctx.recorder } : {}) });
  try {
    const outcome = await executeSteps(scenario.steps, driver, ctx.signal);
    result.steps = outcome.steps;
    if (outcome.failure) result.failures.push(outcome.failure);
    if (outcome.interrupted) {
      result.interrupted = true;
      const at = outcome.steps.find((s) => !s.ok);
      result.failures.push({ check: 'interrupted', phase: at?.phase ?? 'internal', message: 'interrupted by signal: hung up' });
    }
  } finally {
    await driver.close();
    const call = driver.callReport();
    if (call) {
      result.call = call;
      // The same typed sections as the call probe: reporters read these.
      result.sip = { final_status: call.final_status, reason: call.reason, call_id: call.call_id, timings_ms: { ...call.timings_ms } };
      result.media = call.media;
    }
    result.duration_s = Math.round(performance.now() - started) / 1000;
  }
  if (result.failures.length === 0) {
    const unchecked = driver.uncheckedFinal();
    if (unchecked) {
      result.failures.push({
        check: 'call',
        phase: 'invite',
        expected: 200,
        actual: unchecked.final_status,
        message: `the call ended ${unchecked.final_status ?? ''} ${unchecked.reason} and no expect step checked it`.replace(/\s+/g, ' '),
      });
    }
  }
  if (result.failures.length === 0 && result.call) result.failures.push(...callThresholds(result.call, spec));
  result.success = result.failures.length === 0;
  return result;
}

/** MOS/loss/jitter per direction and PDD, with the scenario's thresholds over the base ones. */
function callThresholds(call: ScenarioCall, spec: ScenarioSpec): Failure[] {
  const t = overlayThresholds(spec.thresholds, spec.scenario.thresholds);
  const view: ProbeResult = { probe: 'scenario', success: true, failures: [], media: call.media, sip: { final_status: call.final_status, timings_ms: call.timings_ms } };
  return evaluateThresholds(view, t);
}

/**
 * For the runner's kind map: load the scenario file (relative to the config's
 * scenarios_dir) and run it. A bad file is a failed result with phase "config".
 */
export async function runScenarioFile(ctx: ProbeContext, opts: { file: string; config: Config; thresholds?: ThresholdSet } & ScenarioHop): Promise<ScenarioResult> {
  let loaded;
  try {
    loaded = loadScenario(opts.file, { config: opts.config, cwd: opts.config.scenarios_dir });
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    return { probe: 'scenario', name: opts.file, success: false, steps: [], failures: [{ check: 'scenario_file', phase: 'config', message: err.message }] };
  }
  const hop: ScenarioHop = {
    ...(opts.server !== undefined ? { server: opts.server } : {}),
    ...(opts.transport !== undefined ? { transport: opts.transport } : {}),
    ...(opts.srtp !== undefined ? { srtp: opts.srtp } : {}),
    ...(opts.allowInsecureKeys !== undefined ? { allowInsecureKeys: opts.allowInsecureKeys } : {}),
  };
  return scenarioProbe(ctx, buildScenarioSpec(loaded.scenario, opts.config, loaded.file, opts.thresholds ?? baseThresholds(opts.config), hop));
}
