/**
 * `node --import tsx bench/audio-content.ts [--pairs 10] [--seconds 5] [--reps 30]`: what the
 * audio content analysis (issue 18: marked signal, decoding both directions, P.56 level,
 * markers) adds to a call's CPU. Two measurements, because the first alone is at the
 * mercy of a shared machine:
 *
 * 1. differential: in-process `probe demo` calls (both ends in this process, PCMU, direct on
 *    127.0.0.1) with analysis on and off, in interleaved pairs (order alternating), after
 *    two warm-up calls of each; CPU = process.cpuUsage() (user + system) over probeCall(),
 *    from INVITE to the end of the BYE. Medians and spread reported.
 * 2. attributable: exactly the work analysis adds to such a call, run alone: both ends'
 *    CallContent (marked signal built from the template), every packet of both directions
 *    decoded into the analyzer, the sender hook per packet, and both reports; median of
 *    `reps` runs (steady state), and the first run in this process (cold: a one-call
 *    `probe call` process pays the JIT warm-up once).
 *
 * The share is each against the median CPU of the call with analysis off. Also the CPU a
 * far end saves by not analysing (issue 18 item 4: scenario answerers): one end's part.
 * Writes bench/results/audio-content.json; the machine load is noted at start and end.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { CallContent } from '../src/call/content.js';
import { markerId, markerSamples } from '../src/audio/marker.js';
import { FIRST_MARKER_SAMPLE, MARKER_PERIOD_SAMPLES, markerCountFor } from '../src/audio/signal.js';
import { defaultAudioSource } from '../src/rtp/audio.js';
import { probeCall } from '../src/probes/call/probe.js';
import { startDemoPeer } from '../src/probes/call/demo.js';
import { createDecoder } from '../src/rtp/decode.js';
import { encodeG711 } from '../src/rtp/g711.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const pairs = arg('pairs', 10);
const seconds = arg('seconds', 5);
const reps = arg('reps', 30);
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

async function oneCall(analysis: boolean): Promise<{ cpu_ms: number; ok: boolean; markers: number; failures: string[] }> {
  const peer = await startDemoPeer({ rtpPortMin: 19600, rtpPortMax: 19699, audioAnalysis: analysis, logger });
  try {
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
    const markers = (r.media?.directions ?? []).reduce((n, x) => n + (x.audio?.markers_heard ?? 0), 0);
    return { cpu_ms: (d.user + d.system) / 1000, ok: r.failures.length === 0, markers, failures: r.failures.map((f) => `${analysis ? 'on' : 'off'}: ${f.check}: ${f.message ?? ''}`) };
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

const load0 = os.loadavg();
const cold = attributable();

await oneCall(true); // warm-up: module loading, G.711 tables, JIT
await oneCall(false);
await oneCall(true);
await oneCall(false);
const on: number[] = [];
const off: number[] = [];
let allOk = true;
const failures: string[] = [];
let markers = 0;
for (let i = 0; i < pairs; i++) {
  for (const analysis of i % 2 ? [false, true] : [true, false]) {
    const r = await oneCall(analysis);
    allOk &&= r.ok;
    failures.push(...r.failures);
    (analysis ? on : off).push(r1(r.cpu_ms));
    if (analysis) markers += r.markers;
  }
}
const both: number[] = [];
const single: number[] = [];
let attributedMarkers = 0;
for (let i = 0; i < reps; i++) {
  const a = attributable();
  both.push(a.both);
  single.push(a.oneEnd);
  attributedMarkers = a.markers;
}
const offMedian = median(off);
const pct = (x: number): number => r1((x / offMedian) * 100);
const result = {
  machine: {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg_at_start: load0.map(r2),
    loadavg_at_end: os.loadavg().map(r2),
  },
  budget: 'audio content analysis adds <= 10 % to a call\'s CPU, and can be switched off per probe',
  method:
    `differential: ${pairs} interleaved pairs of in-process probe demo calls (${seconds} s, PCMU, both ends analysed), after 2 warm-ups of each, CPU = process.cpuUsage() over probeCall(); ` +
    `attributable: the analysis work of one such call alone (both ends: marked signal, ${seconds * 50} packets decoded + analysed per direction, sender hook, reports), median of ${reps}, plus the first (cold) run`,
  calls_passed: allOk,
  call_failures: failures,
  markers_heard_with_analysis: markers,
  call_cpu_ms_analysis_on: on,
  call_cpu_ms_analysis_off: off,
  median_call_cpu_ms_on: r1(median(on)),
  median_call_cpu_ms_off: r1(offMedian),
  off_spread_ms: [Math.min(...off), Math.max(...off)],
  differential_added_percent: r1(((median(on) - offMedian) / offMedian) * 100),
  attributable_cpu_ms_per_call: r2(median(both)),
  attributable_added_percent: pct(median(both)),
  attributable_markers_heard: attributedMarkers,
  cold_first_call_cpu_ms: r2(cold.both),
  cold_first_call_added_percent: pct(cold.both),
  saved_per_far_end_without_analysis_ms: r2(median(single)),
  saved_per_far_end_cold_ms: r2(cold.oneEnd),
};
writeFileSync(path.join(ROOT, 'bench', 'results', 'audio-content.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
