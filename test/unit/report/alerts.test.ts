import { describe, expect, it } from 'vitest';
import {
  AlertTracker,
  atLeast,
  classifySeverity,
  failingChecks,
  fingerprintOf,
  type AlertEvent,
} from '../../../src/report/alerts.js';
import type { Failure, ProbeResult } from '../../../src/probes/result.js';

const MIN = 60_000;

function clock(start = Date.UTC(2026, 10, 25, 12)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const ok = (probe = 'call-1001'): ProbeResult => ({ probe, success: true, failures: [] });
const mosBad = (mos = 3.1, probe = 'call-1001'): ProbeResult => ({
  probe,
  success: false,
  failures: [{ check: 'mos_min', expected: 3.5, actual: mos, phase: 'media' }],
});

function run(tracker: AlertTracker, c: ReturnType<typeof clock>, results: ProbeResult[], step = MIN): AlertEvent[] {
  const out: AlertEvent[] = [];
  for (const r of results) {
    out.push(...tracker.observe(r));
    c.advance(step);
  }
  return out;
}

describe('severity (runbooks)', () => {
  const f = (check: string, actual: number | boolean, extra: Partial<Failure> = {}): Failure => ({ check, actual, expected: 0, phase: 'media', ...extra });
  it('MOS < 3.5 is critical, a failing MOS above it a warning', () => {
    expect(classifySeverity(f('mos_min', 3.49))).toBe('critical');
    expect(classifySeverity(f('mos_min', 3.8))).toBe('warning');
  });
  it('call success < 95 % is critical (percent or ratio)', () => {
    expect(classifySeverity(f('asr_min_percent', 94.9))).toBe('critical');
    expect(classifySeverity(f('asr_min_percent', 96))).toBe('warning');
    expect(classifySeverity(f('call_success_ratio', 0.9))).toBe('critical');
  });
  it('brute force and anything unknown are critical; explicit severity wins', () => {
    expect(classifySeverity(f('brute_force', 25))).toBe('critical');
    expect(classifySeverity(f('register', false))).toBe('critical');
    expect(classifySeverity({ ...f('x', 1), severity: 'info' } as Failure)).toBe('info');
  });
  it('cert warnings come from result.warnings, cert failures are critical', () => {
    const r: ProbeResult & { warnings: Failure[] } = {
      probe: 'cert',
      success: true,
      failures: [],
      warnings: [{ check: 'cert_days_left', expected: 30, actual: 19, phase: 'cert' }],
    };
    expect(failingChecks(r).get('cert_days_left')?.severity).toBe('warning');
    const crit: ProbeResult = { probe: 'cert', success: false, failures: [{ check: 'cert_days_left', expected: 7, actual: 4, phase: 'cert' }] };
    expect(failingChecks(crit).get('cert_days_left')?.severity).toBe('critical');
  });
  it('a failed probe without failures gets a probe_success check', () => {
    expect([...failingChecks({ probe: 'p', success: false, failures: [] }).keys()]).toEqual(['probe_success']);
  });
  it('orders severities', () => {
    expect(atLeast('critical', 'warning')).toBe(true);
    expect(atLeast('info', 'warning')).toBe(false);
  });
});

describe('AlertTracker transitions', () => {
  it('none → pending on the first failure (nothing sent), → firing after `for`', () => {
    const c = clock();
    const t = new AlertTracker({ for: 3 }, undefined, c.now);
    expect(t.observe(mosBad())).toEqual([]);
    expect(t.active()[0]?.status).toBe('pending');
    expect(t.observe(mosBad())).toEqual([]);
    const [e] = t.observe(mosBad());
    expect(e).toMatchObject({ status: 'firing', probe: 'call-1001', check: 'mos_min', severity: 'critical', repeat: 0, consecutive_failures: 3 });
    expect(e?.fingerprint).toBe(fingerprintOf('call-1001', 'mos_min'));
    expect(e?.starts_at).toBe(new Date(Date.UTC(2026, 10, 25, 12)).toISOString());
    expect(e?.ends_at).toBeNull();
    expect(e?.summary).toContain('measured 3.1, threshold 3.5');
    expect(t.firingCount()).toBe(1);
  });

  it('for = 1 fires on the first failure', () => {
    const t = new AlertTracker({ for: 1 });
    expect(t.observe(mosBad()).map((e) => e.status)).toEqual(['firing']);
  });

  it('pending → none on success, without any notification', () => {
    const c = clock();
    const t = new AlertTracker({ for: 2 }, undefined, c.now);
    expect(run(t, c, [mosBad(), ok(), mosBad(), ok()])).toEqual([]);
    expect(t.active()).toEqual([]);
  });

  it('firing repeats at most every repeat_interval while failing', () => {
    const c = clock();
    const t = new AlertTracker({ for: 1, repeat_interval_ms: 10 * MIN }, undefined, c.now);
    const events = run(t, c, Array.from({ length: 25 }, () => mosBad()));
    // minute 0 fires, then minutes 10 and 20 repeat
    expect(events.map((e) => [e.status, e.repeat])).toEqual([
      ['firing', 0],
      ['firing', 1],
      ['firing', 2],
    ]);
  });

  it('a raised severity is sent at once, a lowered one waits for the repeat', () => {
    const c = clock();
    const t = new AlertTracker({ for: 1, repeat_interval_ms: 60 * MIN }, undefined, c.now);
    expect(run(t, c, [mosBad(3.8)]).map((e) => e.severity)).toEqual(['warning']);
    expect(run(t, c, [mosBad(3.0)]).map((e) => e.severity)).toEqual(['critical']);
    expect(run(t, c, [mosBad(3.8), mosBad(3.0)])).toEqual([]);
  });

  it('firing → exactly one resolved on recovery', () => {
    const c = clock();
    const t = new AlertTracker({ for: 2 }, undefined, c.now);
    const events = run(t, c, [mosBad(), mosBad(), mosBad(), ok(), ok(), ok()]);
    expect(events.map((e) => e.status)).toEqual(['firing', 'resolved']);
    const resolved = events[1];
    expect(resolved?.ends_at).toBe(new Date(Date.UTC(2026, 10, 25, 12) + 3 * MIN).toISOString());
    expect(resolved?.starts_at).toBe(events[0]?.starts_at);
    expect(resolved?.fingerprint).toBe(events[0]?.fingerprint);
    expect(t.active()).toEqual([]);
  });

  it('flapping is damped by resolve_after: one firing, one resolved', () => {
    const c = clock();
    const t = new AlertTracker({ for: 1, resolve_after: 3 }, undefined, c.now);
    const flap = [mosBad(), ok(), mosBad(), ok(), ok(), mosBad(), ok(), ok(), ok()];
    const events = run(t, c, flap);
    expect(events.map((e) => e.status)).toEqual(['firing', 'resolved']);
  });

  it('checks of one probe are independent; other probes do not resolve them', () => {
    const c = clock();
    const t = new AlertTracker({ for: 1 }, undefined, c.now);
    const two: ProbeResult = {
      probe: 'call-1001',
      success: false,
      failures: [
        { check: 'mos_min', expected: 3.5, actual: 3.0, phase: 'media' },
        { check: 'loss_max_percent', expected: 1, actual: 5, phase: 'media' },
      ],
    };
    expect(t.observe(two).map((e) => e.check).sort()).toEqual(['loss_max_percent', 'mos_min']);
    expect(t.observe(ok('other-probe'))).toEqual([]);
    expect(t.observe(mosBad()).map((e) => [e.check, e.status])).toEqual([['loss_max_percent', 'resolved']]);
  });

  it('snapshot/restore keeps the owed resolved across a restart', () => {
    const c = clock();
    const t = new AlertTracker({ for: 1 }, undefined, c.now);
    t.observe(mosBad());
    const saved = JSON.parse(JSON.stringify(t.snapshot()));
    const t2 = new AlertTracker({ for: 1 }, undefined, c.now);
    t2.restore(saved);
    expect(t2.observe(mosBad())).toEqual([]); // not a new episode
    expect(t2.observe(ok()).map((e) => e.status)).toEqual(['resolved']);
  });

  it('rejects nonsense rules', () => {
    expect(() => new AlertTracker({ for: 0 })).toThrow(RangeError);
    expect(() => new AlertTracker({ resolve_after: 0 })).toThrow(RangeError);
  });
});
