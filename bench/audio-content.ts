/**
 * `chrt -f 10 node --expose-gc --import tsx bench/audio-content.ts [--pairs 30] [--seconds 5] [--reps 30] [--only on|off] [--no-write]`:
 * what the audio content analysis (issue 18: marked signal, decoding both directions,
 * P.56 level, markers) adds to a call's CPU. Two measurements:
 *
 * 1. differential, paired: in-process `probe demo` calls (both ends in this one long-lived
 *    process, PCMU, direct on 127.0.0.1) with analysis on and off, in `pairs` interleaved
 *    pairs (order alternating), after 3 warm-up calls of each (discarded). A call's CPU is
 *    process.cpuUsage() (user + system) from INVITE to the end of the BYE, plus the forced
 *    full GC right after it (--expose-gc): the call's own garbage is billed to the call,
 *    and no call is billed for the one before it. The demo peer is started and closed
 *    outside the window. Per pair the difference on − off; the median difference with a
 *    bootstrap 95 % CI (10 000 resamples of the pairs, percentile), and the same as a
 *    share of the median off call (the ratio bootstrapped on the same resamples).
 * 2. attributable: exactly the work analysis adds to such a call, run alone: both ends'
 *    CallContent (marked signal and its encoded frames), every packet of both directions
 *    decoded into the analyzer, the sender hook per packet, and both reports; median of
 *    `reps` runs (steady state), and the first run in this process (cold).
 *
 * 3. `--separate N`: each kind in processes of its own, N rounds of an on and an off
 *    process (`--only`, `pairs` calls each), so neither kind's calls run code the other
 *    kind shaped (in the paired run, switching kinds makes V8 re-optimise); adds
 *    `separate_processes` to the results file.
 *
 * `--only on|off` runs only calls of that kind (for `--cpu-prof` of each side); with it,
 * or with --no-write, nothing is written. Otherwise writes bench/results/audio-content.json;
 * the machine load is noted at start, end and per pair.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { CallContent } from '../src/call/content.js';
import { markerId, markerSamples } from '../src/audio/marker.js';
import { FIRST_MARKER_SAMPLE, MARKER_PERIOD_SAMPLES, markerCountFor } from '../src/audio/signal.js';
import { defaultAudioSource, encodedFrames } from '../src/rtp/audio.js';
import { probeCall } from '../src/probes/call/probe.js';
import { startDemoPeer } from '../src/probes/call/demo.js';
import { createDecoder } from '../src/rtp/decode.js';
import { encodeG711 } from '../src/rtp/g711.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const pairs = arg('pairs', 30);
const seconds = arg('seconds', 5);
const reps = arg('reps', 30);
const only = ((): 'on' | 'off' | undefined => {
  const i = process.argv.indexOf('--only');
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v === 'on' || v === 'off' ? v : undefined;
})();
const write = only === undefined && !process.argv.includes('--no-write');
const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  ((): never => {
    throw new Error('run with node --expose-gc (a forced GC after each call bills it its own garbage)');
  });
const logger = pino({ level: 'silent' });
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * CPU ms so far of this process's main thread and of all its other threads (V8's GC
 * helpers and compiler, libuv), from /proc/self/task/<tid>/schedstat (ns); threads that
 * ended in between are lost, so `other` is a lower bound.
 */
function threadCpu(): { main: number; other: number } {
  let main = 0;
  let other = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const ms = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      if (tid === String(process.pid)) main += ms;
      else other += ms;
    } catch {
      // the thread ended
    }
  }
  return { main, other };
}

/** This process's scheduling policy (/proc/self/stat fields 40-41), e.g. "SCHED_FIFO 10". */
function schedPolicy(): string {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const names = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE'];
  return `${names[Number(f[38])] ?? f[38]} ${f[37]}`;
}

async function oneCall(analysis: boolean): Promise<{ cpu_ms: number; gc_ms: number; main_ms: number; other_ms: number; ok: boolean; markers: number; failures: string[] }> {
  const peer = await startDemoPeer({ rtpPortMin: 19600, rtpPortMax: 19699, audioAnalysis: analysis, logger });
  try {
    const th0 = threadCpu();
    const t0 = process.cpuUsage();
    const r = await probeCall(
      { logger, signal: new AbortController().signal },
      {
        from: { user: 'bench' },
        to: 'demo',
        direct: peer.uri,
        directAnswerer: peer.answerer,
        localAddress: '127.0.0.1',
        durationMs: seconds * 1000,
        ringTimeoutMs: 5000,
        codecs: ['PCMU'],
        rtpPortMin: 19700,
        rtpPortMax: 19799,
        audioAnalysis: analysis,
      },
    );
    const d = process.cpuUsage(t0);
    const g0 = process.cpuUsage();
    gc();
    const g = process.cpuUsage(g0);
    const th1 = threadCpu();
    const markers = (r.media?.directions ?? []).reduce((n, x) => n + (x.audio?.markers_heard ?? 0), 0);
    return { cpu_ms: (d.user + d.system + g.user + g.system) / 1000, gc_ms: (g.user + g.system) / 1000, main_ms: th1.main - th0.main, other_ms: th1.other - th0.other, ok: r.failures.length === 0, markers, failures: r.failures.map((f) => `${analysis ? 'on' : 'off'}: ${f.check}: ${f.message ?? ''}`) };
  } finally {
    await peer.close();
  }
}

/**
 * The PCMU packets `role` of call `callId` sends in `seconds`, built without the signal
 * template (so the cold run below still pays for building it) and outside the timing
 * (the sender encodes with or without analysis).
 */
function packetsOf(callId: string, role: 'caller' | 'callee'): Uint8Array[] {
  const base = defaultAudioSource().samples;
  const n = markerCountFor(seconds * 1000);
  const source = new Int16Array(n * MARKER_PERIOD_SAMPLES);
  for (let i = 0; i < source.length; i += base.length) source.set(base.subarray(0, Math.min(base.length, source.length - i)), i);
  for (let seq = 0; seq < n; seq++) source.set(markerSamples({ id: markerId(callId, role), seq }), FIRST_MARKER_SAMPLE + seq * MARKER_PERIOD_SAMPLES);
  const out: Uint8Array[] = [];
  const frames = Math.floor(source.length / 160);
  for (let f = 0; f < seconds * 50; f++) {
    const at = (f % frames) * 160;
    out.push(encodeG711('PCMU', source.subarray(at, at + 160)));
  }
  return out;
}

/** One end's added work: build its content, hear the other end's packets (decode + analyse), send hook, report. */
function oneEnd(callId: string, role: 'caller' | 'callee', incoming: Uint8Array[]): CallContent {
  const c = new CallContent({ callId, role, durationMs: seconds * 1000, expectPeerMarkers: true });
  encodedFrames(c.source, 'PCMU', 160); // what the session does with the marked source
  const sink = c.tap({ ssrc: 1, source: '127.0.0.1:1', payloadType: 0, codec: 'PCMU', clockRate: 8000 });
  const dec = createDecoder('PCMU');
  if (!sink || !dec) throw new Error('no tap');
  const hook = c.onFrameSent;
  for (let f = 0; f < incoming.length; f++) {
    hook?.(f, 160, f * 20);
    sink.onFrame(dec.decode(incoming[f] ?? new Uint8Array(0)), 8000, f * 160, 1000 + f * 20);
  }
  return c;
}

interface ChildResult {
  calls: number[];
  median: number;
  main_median: number;
  other_median: number;
  ok: boolean;
}

/** One `--only kind` process of this bench (same node flags, same scheduler), its last JSON line. */
function child(kind: 'on' | 'off'): ChildResult {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--only', kind, '--pairs', String(pairs), '--seconds', String(seconds)], { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`--only ${kind}: exit ${r.status}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as ChildResult;
}

let callSeq = 0;
/** Both ends' added work for one call; CPU ms of both, and of the callee alone. */
function attributable(): { both: number; oneEnd: number; markers: number } {
  const id = `bench-${callSeq++}@h`;
  const caller = packetsOf(id, 'caller');
  const callee = packetsOf(id, 'callee');
  const t0 = cpuMs();
  const a = oneEnd(id, 'callee', caller);
  const t1 = cpuMs();
  const b = oneEnd(id, 'caller', callee);
  const ra = a.report(b.signal);
  const rb = b.report(a.signal);
  const t2 = cpuMs();
  return { both: t2 - t0, oneEnd: t1 - t0, markers: (ra?.markers_heard ?? 0) + (rb?.markers_heard ?? 0) };
}

/** Percentile bootstrap 95 % CI of f over resampled pair indices (deterministic LCG). */
function bootstrap(n: number, f: (idx: number[]) => number, resamples = 10_000): [number, number] {
  let state = 0x5eed;
  const rand = (): number => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const stats: number[] = [];
  const idx = new Array<number>(n).fill(0);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(rand() * n);
    stats.push(f(idx));
  }
  stats.sort((a, b) => a - b);
  return [stats[Math.floor(0.025 * resamples)] ?? Number.NaN, stats[Math.ceil(0.975 * resamples) - 1] ?? Number.NaN];
}

const separate = arg('separate', 0);
if (separate > 0) {
  // Each kind in processes of its own (no code shaped by the other kind), `separate` rounds
  // of an on process and an off process (order alternating), `pairs` calls each after the
  // 3 warm-ups; per round the difference of the two processes' medians.
  const load = os.loadavg();
  const rounds: Array<{ on: ChildResult; off: ChildResult }> = [];
  for (let i = 0; i < separate; i++) {
    const got: Partial<Record<'on' | 'off', ChildResult>> = {};
    for (const k of i % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) got[k] = child(k);
    if (got.on && got.off) rounds.push({ on: got.on, off: got.off });
  }
  const d = rounds.map((r) => r.on.median - r.off.median);
  const allOn = rounds.flatMap((r) => r.on.calls);
  const allOff = rounds.flatMap((r) => r.off.calls);
  const offMed = median(rounds.map((r) => r.off.median));
  const file = path.join(ROOT, 'bench', 'results', 'audio-content.json');
  const prior = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const out = {
    method: `${separate} rounds of one process with analysis on and one with it off (order alternating), ${pairs} calls each after 3 warm-ups, same CPU figure as the paired run; per round the difference of the medians, its median and percentile bootstrap 95 % CI`,
    scheduler: schedPolicy(),
    loadavg_at_start: load.map(r2),
    loadavg_at_end: os.loadavg().map(r2),
    calls_passed: rounds.every((r) => r.on.ok && r.off.ok),
    process_medians_on: rounds.map((r) => r.on.median),
    process_medians_off: rounds.map((r) => r.off.median),
    median_call_cpu_ms_on: r1(median(allOn)),
    median_call_cpu_ms_off: r1(median(allOff)),
    median_round_diff_ms: r2(median(d)),
    median_round_diff_ci95_ms: bootstrap(d.length, (idx) => median(idx.map((i) => d[i] ?? 0))).map(r2),
    added_percent: r1((median(d) / offMed) * 100),
    added_percent_ci95: bootstrap(d.length, (idx) => (median(idx.map((i) => d[i] ?? 0)) / median(idx.map((i) => rounds[i]?.off.median ?? 0))) * 100).map(r1),
    main_thread_medians_on: rounds.map((r) => r.on.main_median),
    main_thread_medians_off: rounds.map((r) => r.off.main_median),
    other_threads_medians_on: rounds.map((r) => r.on.other_median),
    other_threads_medians_off: rounds.map((r) => r.off.other_median),
  };
  if (write) writeFileSync(file, `${JSON.stringify({ ...prior, separate_processes: out }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.exit(0);
}

const load0 = os.loadavg();
const cold = only ? { both: Number.NaN, oneEnd: Number.NaN, markers: 0 } : attributable();
gc();

const kinds: boolean[] = only === 'on' ? [true] : only === 'off' ? [false] : [true, false];
for (let w = 0; w < 3; w++) for (const k of kinds) await oneCall(k); // warm-up: module loading, G.711 tables, JIT
const on: number[] = [];
const off: number[] = [];
const gcOn: number[] = [];
const gcOff: number[] = [];
const mainOn: number[] = [];
const mainOff: number[] = [];
const otherOn: number[] = [];
const otherOff: number[] = [];
const loads: number[] = [];
let allOk = true;
const failures: string[] = [];
let markers = 0;
for (let i = 0; i < pairs; i++) {
  loads.push(r2(os.loadavg()[0] ?? 0));
  for (const analysis of i % 2 ? [...kinds].reverse() : kinds) {
    const r = await oneCall(analysis);
    allOk &&= r.ok;
    failures.push(...r.failures);
    (analysis ? on : off).push(r1(r.cpu_ms));
    (analysis ? gcOn : gcOff).push(r1(r.gc_ms));
    (analysis ? mainOn : mainOff).push(r1(r.main_ms));
    (analysis ? otherOn : otherOff).push(r1(r.other_ms));
    if (analysis) markers += r.markers;
  }
}
if (only) {
  const v = only === 'on' ? on : off;
  const [mainV, otherV] = only === 'on' ? [mainOn, otherOn] : [mainOff, otherOff];
  process.stdout.write(`${JSON.stringify({ only, calls: v, median: r1(median(v)), gc_median: r1(median(only === 'on' ? gcOn : gcOff)), main_median: r1(median(mainV)), other_median: r1(median(otherV)), ok: allOk, failures })}\n`);
  process.exit(0);
}
const diffs = on.map((x, i) => x - (off[i] ?? Number.NaN));
// The order is on off | off on | on off | ... (after warm-ups ending on an off call): an
// on call of an odd pair follows an off call, of an even pair (from 2) an on call; an off
// call of an odd pair follows an off call, of an even pair an on call. Split by what ran
// before, the same-kind medians show the steady state of each, the switch medians what
// changing between the two costs (V8 re-optimising code that saw the other kind).
const byPredecessor = {
  on_after_on: r1(median(on.filter((_, i) => i % 2 === 0 && i > 0))),
  on_after_off: r1(median(on.filter((_, i) => i % 2 === 1 || i === 0))),
  off_after_off: r1(median(off.filter((_, i) => i % 2 === 1))),
  off_after_on: r1(median(off.filter((_, i) => i % 2 === 0))),
};
const medDiff = median(diffs);
const offMedian = median(off);
const ciDiff = bootstrap(diffs.length, (idx) => median(idx.map((i) => diffs[i] ?? 0)));
const ciPct = bootstrap(diffs.length, (idx) => (median(idx.map((i) => diffs[i] ?? 0)) / median(idx.map((i) => off[i] ?? 0))) * 100);
const both: number[] = [];
const single: number[] = [];
let attributedMarkers = 0;
for (let i = 0; i < reps; i++) {
  const a = attributable();
  both.push(a.both);
  single.push(a.oneEnd);
  attributedMarkers = a.markers;
}
const pct = (x: number): number => r1((x / offMedian) * 100);
const result = {
  machine: {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    scheduler: schedPolicy(),
    loadavg_at_start: load0.map(r2),
    loadavg_at_end: os.loadavg().map(r2),
    loadavg_1min_per_pair: loads,
  },
  budget: 'audio content analysis adds <= 10 % to a call\'s CPU, and can be switched off per probe',
  method:
    `differential: ${pairs} interleaved on/off pairs of in-process probe demo calls (${seconds} s, PCMU, both ends analysed) in one process, after 3 warm-ups of each; ` +
    'CPU = process.cpuUsage() over probeCall() plus the forced full GC (--expose-gc) right after it; paired differences on - off, median and percentile bootstrap 95 % CI (10 000 resamples); ' +
    `attributable: the analysis work of one such call alone (both ends: marked signal and its frames, ${seconds * 50} packets decoded + analysed per direction, sender hook, reports), median of ${reps}, plus the first (cold) run`,
  calls_passed: allOk,
  call_failures: failures,
  markers_heard_with_analysis: markers,
  call_cpu_ms_analysis_on: on,
  call_cpu_ms_analysis_off: off,
  gc_after_call_ms_on: gcOn,
  gc_after_call_ms_off: gcOff,
  median_call_cpu_ms_on: r1(median(on)),
  median_call_cpu_ms_off: r1(offMedian),
  off_spread_ms: [Math.min(...off), Math.max(...off)],
  main_thread_ms_on: mainOn,
  main_thread_ms_off: mainOff,
  other_threads_ms_on: otherOn,
  other_threads_ms_off: otherOff,
  median_paired_diff_main_thread_ms: r2(median(mainOn.map((x, i) => x - (mainOff[i] ?? Number.NaN)))),
  median_paired_diff_other_threads_ms: r2(median(otherOn.map((x, i) => x - (otherOff[i] ?? Number.NaN)))),
  paired_diff_ms: diffs.map(r1),
  median_paired_diff_ms: r2(medDiff),
  median_paired_diff_ci95_ms: ciDiff.map(r2),
  differential_added_percent: r1((medDiff / offMedian) * 100),
  median_call_cpu_ms_by_predecessor: byPredecessor,
  same_kind_added_percent: r1(((byPredecessor.on_after_on - byPredecessor.off_after_off) / byPredecessor.off_after_off) * 100),
  differential_added_percent_ci95: ciPct.map(r1),
  attributable_cpu_ms_per_call: r2(median(both)),
  attributable_added_percent: pct(median(both)),
  attributable_markers_heard: attributedMarkers,
  cold_first_call_cpu_ms: r2(cold.both),
  cold_first_call_added_percent: pct(cold.both),
  saved_per_far_end_without_analysis_ms: r2(median(single)),
  saved_per_far_end_cold_ms: r2(cold.oneEnd),
};
if (write) writeFileSync(path.join(ROOT, 'bench', 'results', 'audio-content.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
