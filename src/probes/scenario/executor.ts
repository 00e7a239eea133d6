// The step loop, apart from SIP: runs steps in order, each under its own time
// limit and the probe's AbortSignal; the first failed step stops the scenario
// and the rest are reported as skipped. What a step does is the driver's
// business (driver.ts for real calls, fakes in tests).
import { performance } from 'node:perf_hooks';
import type { Failure, Phase, StepReport } from '../result.js';

/** One step as reported (the `steps` section of a ProbeResult). */
export type StepResult = StepReport;

/** A step that ran and did not hold: names the phase that broke. */
export class StepFailure extends Error {
  readonly code = 'E_STEP';
  constructor(
    readonly phase: Phase,
    message: string,
    readonly expected?: number | string | boolean,
    readonly actual?: number | string | boolean | null,
    /** What the step measured before it failed (reported with the step). */
    readonly values?: Record<string, number>,
  ) {
    super(message);
  }
}

/** A step's note for the table and what it measured (StepReport.values). */
export interface StepDone {
  message: string;
  values: Record<string, number>;
}

export interface StepDriver<S> {
  /** Runs one step; resolves with a note for the table (and measured values), throws StepFailure when the step fails. */
  run(step: S, index: number, signal: AbortSignal): Promise<string | StepDone | undefined>;
  /** The step's time limit, ms. */
  timeoutMs(step: S): number;
  /** The phase a timeout of this step is charged to. */
  phaseOf(step: S): Phase;
  /** Label in results: "call 1002". */
  label(step: S): string;
  /** Kind, for the failure's check name: "step[3] expect". */
  kindOf(step: S): string;
}

export interface StepsOutcome {
  steps: StepResult[];
  /** The failed step as a probe failure; absent when every step passed. */
  failure?: Failure;
  interrupted: boolean;
}

class StepTimeout extends Error {}

/** Phase of an unexpected error: the UA layer's own phase when it has one. */
function phaseOfError(err: unknown, fallback: Phase): Phase {
  const p = (err as { phase?: unknown } | null)?.phase;
  return p === 'dns' || p === 'connect' || p === 'tls' ? p : fallback;
}

export async function executeSteps<S>(steps: readonly S[], driver: StepDriver<S>, signal: AbortSignal): Promise<StepsOutcome> {
  const results: StepResult[] = [];
  let failure: Failure | undefined;
  let interrupted = false;
  for (const [index, step] of steps.entries()) {
    const label = driver.label(step);
    if (failure !== undefined || interrupted || signal.aborted) {
      interrupted ||= failure === undefined;
      results.push({ index, step: label, ok: false, skipped: true, ms: 0 });
      continue;
    }
    const limit = driver.timeoutMs(step);
    // The step's own signal: aborted by its time limit or by the probe's signal.
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new StepTimeout(`timed out after ${limit} ms`);
        controller.abort(err);
        reject(err);
      }, limit);
      onAbort = () => {
        controller.abort(signal.reason);
        reject(new StepFailure(driver.phaseOf(step), 'interrupted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    stopped.catch(() => undefined);
    const t0 = performance.now();
    const running = driver.run(step, index, controller.signal);
    running.catch(() => undefined); // abandoned on timeout: it settles later, nobody listens
    try {
      const done = await Promise.race([running, stopped]);
      const message = typeof done === 'object' ? done.message : done;
      results.push({
        index,
        step: label,
        ok: true,
        ms: ms(t0),
        ...(message !== undefined && message !== '' ? { message } : {}),
        ...(typeof done === 'object' ? { values: done.values } : {}),
      });
    } catch (err) {
      const check = `step[${index}] ${driver.kindOf(step)}`;
      let phase: Phase;
      let message: string;
      let expected: StepFailure['expected'];
      let actual: StepFailure['actual'];
      let values: StepFailure['values'];
      if (err instanceof StepFailure) {
        ({ phase, message, expected, actual, values } = err);
        if (signal.aborted && message === 'interrupted') interrupted = true;
      } else if (err instanceof StepTimeout) {
        phase = driver.phaseOf(step);
        message = err.message;
      } else {
        const e = err instanceof Error ? err : new Error(String(err));
        const code = (e as { code?: unknown }).code;
        phase = phaseOfError(e, driver.phaseOf(step));
        message = `${e.message}${typeof code === 'string' ? ` (${code})` : ''}`;
      }
      results.push({ index, step: label, ok: false, ms: ms(t0), message, phase, ...(values !== undefined ? { values } : {}) });
      if (!interrupted) {
        failure = {
          check,
          phase,
          message: `${label}: ${message}`,
          ...(expected !== undefined ? { expected } : {}),
          ...(actual !== undefined ? { actual } : {}),
        };
      }
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }
  return { steps: results, ...(failure !== undefined ? { failure } : {}), interrupted };
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** Sleeps, waking early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or a rejection with StepFailure('interrupted') when the signal aborts first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, phase: Phase): Promise<T> {
  if (signal.aborted) return Promise.reject(new StepFailure(phase, 'interrupted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StepFailure(phase, 'interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
