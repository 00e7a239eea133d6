import { describe, expect, it } from 'vitest';
import { executeSteps, sleep, StepFailure, untilAborted, type StepDriver } from '../../../../src/probes/scenario/executor.js';

interface FakeStep {
  kind: string;
  /** What the fake does: resolve after ms with a note, fail, throw, or hang. */
  ms?: number;
  fail?: StepFailure;
  throws?: Error;
  hang?: boolean;
  timeout?: number;
}

function fakeDriver(log: string[] = []): StepDriver<FakeStep> {
  return {
    label: (s) => `${s.kind} label`,
    kindOf: (s) => s.kind,
    phaseOf: (s) => (s.kind === 'bye' ? 'bye' : 'media'),
    timeoutMs: (s) => s.timeout ?? 1000,
    async run(s, index, signal) {
      log.push(`start ${index}`);
      if (s.hang) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        log.push(`aborted ${index}`);
        return 'late';
      }
      await sleep(s.ms ?? 0, signal);
      if (s.fail) throw s.fail;
      if (s.throws) throw s.throws;
      return `done ${index}`;
    },
  };
}

describe('executeSteps', () => {
  it('runs every step in order and reports each with its time and note', async () => {
    const log: string[] = [];
    const out = await executeSteps([{ kind: 'a', ms: 20 }, { kind: 'b' }], fakeDriver(log), new AbortController().signal);
    expect(log).toEqual(['start 0', 'start 1']);
    expect(out.failure).toBeUndefined();
    expect(out.interrupted).toBe(false);
    expect(out.steps.map((s) => [s.index, s.step, s.ok, s.message])).toEqual([
      [0, 'a label', true, 'done 0'],
      [1, 'b label', true, 'done 1'],
    ]);
    expect(out.steps[0]?.ms).toBeGreaterThanOrEqual(15);
  });

  it('the first failed step stops the run: its failure names the step and phase, the rest are skipped', async () => {
    const log: string[] = [];
    const out = await executeSteps(
      [{ kind: 'a' }, { kind: 'expect', fail: new StepFailure('invite', 'expected 486, got 200 OK', 486, 200) }, { kind: 'c' }, { kind: 'd' }],
      fakeDriver(log),
      new AbortController().signal,
    );
    expect(log).toEqual(['start 0', 'start 1']);
    expect(out.failure).toEqual({ check: 'step[1] expect', phase: 'invite', message: 'expect label: expected 486, got 200 OK', expected: 486, actual: 200 });
    expect(out.steps.map((s) => (s.skipped ? 'skipped' : s.ok ? 'ok' : `FAIL ${s.phase}`))).toEqual(['ok', 'FAIL invite', 'skipped', 'skipped']);
  });

  it('a step over its time limit fails with the phase of its kind, and its signal is aborted', async () => {
    const log: string[] = [];
    const out = await executeSteps([{ kind: 'bye', hang: true, timeout: 50 }, { kind: 'x' }], fakeDriver(log), new AbortController().signal);
    expect(out.failure).toMatchObject({ check: 'step[0] bye', phase: 'bye', message: 'bye label: timed out after 50 ms' });
    await sleep(10);
    expect(log).toEqual(['start 0', 'aborted 0']);
  });

  it('an unexpected error becomes a failure; a UA error keeps its dns/connect phase', async () => {
    const err = Object.assign(new Error('cannot resolve'), { code: 'EDNS', phase: 'dns' });
    const out = await executeSteps([{ kind: 'a', throws: err }], fakeDriver(), new AbortController().signal);
    expect(out.failure).toMatchObject({ check: 'step[0] a', phase: 'dns', message: 'a label: cannot resolve (EDNS)' });
    const out2 = await executeSteps([{ kind: 'a', throws: new TypeError('boom') }], fakeDriver(), new AbortController().signal);
    expect(out2.failure).toMatchObject({ phase: 'media', message: 'a label: boom' });
  });

  it('the probe signal interrupts the running step; the run is marked interrupted, not failed', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('SIGINT')), 30);
    const out = await executeSteps([{ kind: 'a', hang: true, timeout: 5000 }, { kind: 'b' }], fakeDriver(), controller.signal);
    expect(out.interrupted).toBe(true);
    expect(out.failure).toBeUndefined();
    expect(out.steps.map((s) => (s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAIL'))).toEqual(['FAIL', 'skipped']);
  });

  it('an already-aborted signal runs nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const log: string[] = [];
    const out = await executeSteps([{ kind: 'a' }], fakeDriver(log), controller.signal);
    expect(log).toEqual([]);
    expect(out.interrupted).toBe(true);
    expect(out.steps[0]?.skipped).toBe(true);
  });
});

describe('untilAborted', () => {
  it('passes the value through, or rejects with StepFailure("interrupted") on abort', async () => {
    const c = new AbortController();
    await expect(untilAborted(Promise.resolve(7), c.signal, 'media')).resolves.toBe(7);
    const pending = untilAborted(new Promise(() => undefined), c.signal, 'invite');
    c.abort();
    await expect(pending).rejects.toMatchObject({ phase: 'invite', message: 'interrupted' });
  });
});
