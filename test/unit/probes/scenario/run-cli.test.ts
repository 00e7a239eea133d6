// `probe run` rendering: the step table and the JUnit cases, from a result object.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { junitCases, register, renderScenario } from '../../../../src/cli/run.js';
import { junitXml } from '../../../../src/report/junit.js';
import type { ScenarioResult } from '../../../../src/probes/scenario/index.js';

function failedResult(): ScenarioResult {
  return {
    probe: 'scenario',
    name: 'broken',
    success: false,
    duration_s: 3.2,
    steps: [
      { index: 0, step: 'register 1002', ok: true, ms: 12.4, message: '200 OK in 12 ms' },
      { index: 1, step: 'call 1002', ok: true, ms: 30.1, message: '200 OK' },
      { index: 2, step: 'expect 486', ok: false, ms: 0.2, phase: 'invite', message: 'expected 486, got 200 OK' },
      { index: 3, step: 'bye', ok: false, skipped: true, ms: 0 },
    ],
    call: {
      from: '1001',
      to: '1002',
      call_id: 'abc',
      final_status: 200,
      reason: 'OK',
      timings_ms: { pdd: 11, setup: 30 },
      media: {
        codec: 'PCMU',
        duration_s: 0.1,
        rtt_ms: null,
        directions: [
          { direction: 'caller_to_callee', measured_by: 'none', local_rtp_port: 17100, packets_sent: 5, packets_expected: null, packets_received: null, packets_lost: null, loss_percent: null, duplicates: null, out_of_order: null, jitter_ms: null, jitter_max_ms: null, jitter_mean_ms: null, burst_ratio: null, longest_silence_ms: null, r_factor: null, mos: null, emodel: null },
          { direction: 'callee_to_caller', measured_by: 'receiver', local_rtp_port: 17100, packets_sent: 5, packets_expected: 5, packets_received: 5, packets_lost: 0, loss_percent: 0, duplicates: 0, out_of_order: 0, jitter_ms: 0.1, jitter_max_ms: 0.2, jitter_mean_ms: 0.1, burst_ratio: 1, longest_silence_ms: 20, r_factor: 93.2, mos: 4.41, emodel: 'G.107' },
        ],
      },
    },
    failures: [
      { check: 'step[2] expect', phase: 'invite', expected: 486, actual: 200, message: 'expect 486: expected 486, got 200 OK' },
      { check: 'mos_min', phase: 'media', expected: 4.5, actual: 4.41 },
    ],
  };
}

describe('renderScenario', () => {
  it('one row per step with result, time and note; media per direction; every failure', () => {
    const text = renderScenario(failedResult());
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('scenario broken');
    expect(lines[2]).toMatch(/^ {2}0 +register 1002 +ok +12 +200 OK in 12 ms$/);
    expect(lines[4]).toMatch(/^ {2}2 +expect 486 +FAIL +0 +\[invite\] expected 486, got 200 OK$/);
    expect(lines[5]).toMatch(/^ {2}3 +bye +skipped$/);
    expect(text).toContain('call 1001 → 1002: 200 OK (pdd 11 ms, setup 30 ms)');
    expect(text).toContain('callee_to_caller  5/5 pkts, loss 0%, jitter 0.1 ms, MOS 4.41');
    expect(text).toContain('caller_to_callee  sent 5 (not measured: the far end is not ours)');
    expect(text).toContain('FAIL step[2] expect [invite] expect 486: expected 486, got 200 OK');
    expect(text).toContain('FAIL mos_min [media]');
    expect(text).not.toContain('PASS');
  });
});

describe('junitCases', () => {
  it('a testcase per step plus one for the checks after the steps', () => {
    const cases = junitCases(failedResult());
    expect(cases.map((c) => [c.probe, c.success, c.failures.map((f) => f.check)])).toEqual([
      ['broken step[0] register 1002', true, []],
      ['broken step[1] call 1002', true, []],
      ['broken step[2] expect 486', false, ['step[2] expect']],
      ['broken step[3] bye', true, []],
      ['broken checks', false, ['mos_min']],
    ]);
    const xml = junitXml(cases, { suite: 'scenario broken' });
    expect(xml.match(/<testcase /g)).toHaveLength(5);
    expect(xml.match(/<failure /g)).toHaveLength(2);
  });
});

describe('register', () => {
  it('adds `run <scenario>` with the common flags and examples', () => {
    const program = new Command();
    register(program);
    const cmd = program.commands.find((c) => c.name() === 'run');
    expect(cmd).toBeDefined();
    expect(cmd?.options.map((o) => o.long)).toEqual(['--trace', '--pcap', '--config', '--server', '--srtp', '--allow-insecure-keys', '--json', '--junit', '--quiet', '--log-level']);
    let help = '';
    cmd?.configureOutput({ writeOut: (s) => (help += s) });
    cmd?.outputHelp();
    expect(help).toContain('probe run hold-resume --json');
    expect(help).toContain('probe run basic-call --srtp required');
  });
});
