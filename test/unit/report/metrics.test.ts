import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ProbeMetrics, callResultLabel, metricsForOneResult } from '../../../src/report/metrics.js';
import { requiredInCi } from '../../ci-required.js';

const CALL_ID = 'a84b4c76e66710@pc33.example.com';

const goodCall = {
  probe: 'call-1001-1002',
  success: true,
  from: '1001',
  to: '1002',
  duration_s: 11.5,
  sip: { final_status: 200, reason: 'OK', call_id: CALL_ID, timings_ms: { register: 3.1, pdd: 12, answer: 15.2, setup: 15.2, bye: 2 } },
  media: {
    codec: 'PCMU',
    duration_s: 10,
    directions: [
      { direction: 'caller_to_callee', packets_sent: 500, packets_received: 498, packets_lost: 2, loss_percent: 0.4, jitter_ms: 0.21, jitter_max_ms: 0.45, r_factor: 93.2, mos: 4.41 },
      { direction: 'callee_to_caller', packets_sent: 500, packets_received: 500, packets_lost: 0, loss_percent: 0, jitter_ms: 0.3, jitter_max_ms: 0.5, r_factor: 92.1, mos: 4.38 },
    ],
  },
  failures: [],
};

const certResult = {
  probe: 'cert-pbx',
  success: true,
  failures: [],
  warnings: [],
  earliest_not_after_s: 1_826_000_000,
  targets: [{ target: 'sips:127.0.0.1:5061', chain_earliest_not_after: new Date(Date.now() + 364.5 * 86_400_000).toISOString(), chain_earliest_days_left: 364 }],
};
// The typed section the cert probe fills next to its own fields (reporters read only this).
const certSection = { earliest_not_after_s: certResult.earliest_not_after_s, targets: certResult.targets.map(({ target, chain_earliest_not_after }) => ({ target, chain_earliest_not_after })) };

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

let m: ProbeMetrics | undefined;
afterEach(() => m?.close());

describe('ProbeMetrics.recordResult', () => {
  it('maps a call result onto per-direction, per-phase and counter metrics in base units', async () => {
    m = new ProbeMetrics();
    m.recordResult(goodCall, { name: 'call-1001-1002', kind: 'call' });
    const text = await m.metrics();
    expect(value(text, 'probe_success{probe="call-1001-1002",kind="call"}')).toBe(1);
    expect(value(text, 'probe_duration_seconds{probe="call-1001-1002",kind="call"}')).toBe(11.5);
    expect(value(text, 'callprobe_sip_phase_seconds{probe="call-1001-1002",phase="pdd"}')).toBe(0.012);
    expect(value(text, 'callprobe_sip_responses_total{probe="call-1001-1002",code="200"}')).toBe(1);
    expect(value(text, 'callprobe_calls_total{probe="call-1001-1002",result="answered"}')).toBe(1);
    expect(value(text, 'callprobe_mos{probe="call-1001-1002",direction="caller_to_callee"}')).toBe(4.41);
    expect(value(text, 'callprobe_r_factor{probe="call-1001-1002",direction="callee_to_caller"}')).toBe(92.1);
    expect(value(text, 'callprobe_rtp_jitter_seconds{probe="call-1001-1002",direction="caller_to_callee"}')).toBeCloseTo(0.00021, 8);
    expect(value(text, 'callprobe_rtp_loss_ratio{probe="call-1001-1002",direction="caller_to_callee"}')).toBeCloseTo(0.004, 8);
    expect(value(text, 'callprobe_rtp_packets_lost_total{probe="call-1001-1002",direction="caller_to_callee"}')).toBe(2);
    m.recordResult(goodCall, { name: 'call-1001-1002', kind: 'call' });
    const twice = await m.metrics();
    expect(value(twice, 'callprobe_rtp_packets_sent_total{probe="call-1001-1002",direction="callee_to_caller"}')).toBe(1000);
  });

  it('counts SRTP packets our receivers dropped, by direction and reason (0 series on a clean SRTP call, none without SRTP)', async () => {
    m = new ProbeMetrics();
    const srtp = { suite: 'AES_CM_128_HMAC_SHA1_80' as const, packets_authenticated: 148, auth_failures: 1, replays: 1, malformed: 0 };
    const [there, back] = goodCall.media.directions;
    const srtpCall = { ...goodCall, media: { ...goodCall.media, directions: [{ ...there, srtp: null }, { ...back, srtp }] } };
    m.recordResult(srtpCall as typeof goodCall, { name: 'call-srtp', kind: 'call' });
    m.recordResult(srtpCall as typeof goodCall, { name: 'call-srtp', kind: 'call' });
    m.recordResult(goodCall, { name: 'call-plain', kind: 'call' });
    const text = await m.metrics();
    expect(value(text, 'callprobe_srtp_failures_total{probe="call-srtp",direction="callee_to_caller",reason="auth"}')).toBe(2);
    expect(value(text, 'callprobe_srtp_failures_total{probe="call-srtp",direction="callee_to_caller",reason="replay"}')).toBe(2);
    expect(value(text, 'callprobe_srtp_failures_total{probe="call-srtp",direction="callee_to_caller",reason="malformed"}')).toBe(0);
    expect(text).not.toMatch(/callprobe_srtp_failures_total\{probe="call-srtp",direction="caller_to_callee"/);
    expect(text).not.toMatch(/callprobe_srtp_failures_total\{probe="call-plain"/);
  });

  it('never exposes Call-IDs or phone numbers', async () => {
    m = new ProbeMetrics();
    m.recordResult(goodCall, { name: 'call-1001-1002', kind: 'call' });
    const text = await m.metrics();
    expect(text).not.toContain(CALL_ID);
    expect(text).not.toMatch(/"1001"|"1002"/);
  });

  it('drops MOS and jitter of a probe whose last call failed, and counts the failure', async () => {
    m = new ProbeMetrics();
    const def = { name: 'c', kind: 'call' };
    m.recordResult(goodCall, def);
    m.recordResult(
      { probe: 'c', success: false, sip: { final_status: 486, call_id: 'c1' }, failures: [{ check: 'answered', phase: 'invite' }] },
      def,
    );
    const text = await m.metrics();
    expect(value(text, 'probe_success{probe="c",kind="call"}')).toBe(0);
    expect(text).not.toMatch(/callprobe_mos\{probe="c"/);
    expect(text).not.toMatch(/callprobe_sip_phase_seconds\{probe="c"/);
    expect(value(text, 'callprobe_calls_total{probe="c",result="busy"}')).toBe(1);
    expect(value(text, 'callprobe_probe_failures_total{probe="c",check="answered",phase="invite"}')).toBe(1);
  });

  it('exports blackbox-compatible certificate expiry and days left', async () => {
    m = new ProbeMetrics();
    m.recordResult({ ...certResult, cert: certSection }, { name: 'cert-pbx', kind: 'cert' });
    const text = await m.metrics();
    expect(value(text, 'probe_ssl_earliest_cert_expiry{probe="cert-pbx"}')).toBe(1_826_000_000);
    const left = value(text, 'callprobe_cert_time_left_seconds{probe="cert-pbx",target="sips:127.0.0.1:5061"}') ?? 0;
    expect(left / 86_400).toBeCloseTo(364.5, 2);
  });

  it('removes every series of a probe that was unconfigured', async () => {
    m = new ProbeMetrics();
    m.recordResult(goodCall, { name: 'gone', kind: 'call' });
    m.removeProbe('gone', 'call');
    const text = await m.metrics();
    expect(text).not.toMatch(/probe_success\{probe="gone"/);
    expect(text).not.toMatch(/callprobe_mos\{probe="gone"/);
  });

  it('records fraud events, KPI ratios and skips', async () => {
    m = new ProbeMetrics();
    m.recordFraudEvent('auth_bruteforce');
    m.recordFraudEvent('auth_bruteforce');
    m.recordKpis({ source: 'hep', route: '*', window_s: 300, asr: 0.5, ner: 0.9 });
    m.recordSkip('x', 'overlap');
    const text = await m.metrics();
    expect(value(text, 'callprobe_fraud_events_total{rule="auth_bruteforce"}')).toBe(2);
    expect(value(text, 'callprobe_asr_ratio{source="hep",route="*",window="300s"}')).toBe(0.5);
    expect(value(text, 'callprobe_probe_skipped_total{probe="x",reason="overlap"}')).toBe(1);
  });
});

describe('callResultLabel', () => {
  it('classifies final statuses', () => {
    expect([200, 486, 600, 408, 480, 487, 603, 404, 503].map((s) => callResultLabel(s, false))).toEqual([
      'answered', 'busy', 'busy', 'no_answer', 'no_answer', 'no_answer', 'rejected', 'failed', 'failed',
    ]);
    expect(callResultLabel(null, false)).toBe('no_response');
  });
});

describe.skipIf(!requiredInCi(existsSync('/usr/bin/promtool'), 'promtool (package prometheus)'))('promtool check metrics', () => {
  it('passes on a full agent registry (self-metrics included)', async () => {
    let reset = 0;
    const lateness = { lateness: () => ({ count: 500, p99_ms: 0.4, max_ms: 1.2 }), resetLateness: () => void reset++ };
    m = new ProbeMetrics({ selfMetrics: true, lateness });
    m.recordResult(goodCall, { name: 'call-1001-1002', kind: 'call' });
    m.recordResult({ ...certResult, cert: certSection }, { name: 'cert-pbx', kind: 'cert' });
    m.recordResult({ probe: 'o', success: true, sip: { final_status: 200, timings_ms: { rtt: 1.2 } }, failures: [] }, { name: 'o', kind: 'options' });
    m.recordFraudEvent('scanner');
    const text = await m.metrics();
    expect(value(text, 'callprobe_rtp_send_lateness_p99_seconds')).toBeCloseTo(0.0004, 9);
    expect(value(text, 'callprobe_rtp_send_lateness_max_seconds')).toBeCloseTo(0.0012, 9);
    expect(reset).toBe(1);
    const r = promtoolCheck(text);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('passes on a one-result /probe body', async () => {
    const r = promtoolCheck(await metricsForOneResult(goodCall, { name: 'call-1001-1002', kind: 'call' }));
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});
