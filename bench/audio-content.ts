/**
 * `node --import tsx bench/audio-content.ts [--runs 4] [--seconds 6]`: what the audio
 * content analysis (issue 18: marked signal, decoding both directions, P.56 level,
 * markers) adds to a call's CPU. In-process `probe demo` calls (both ends in this
 * process, PCMU, direct on 127.0.0.1), with analysis on and off interleaved; CPU =
 * process.cpuUsage() (user + system) over each call, from INVITE to the end of the BYE,
 * so process start-up does not dilute the share. Writes bench/results/audio-content.json.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { probeCall } from '../src/probes/call/probe.js';
import { startDemoPeer } from '../src/probes/call/demo.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('runs', 4);
const seconds = arg('seconds', 6);
const logger = pino({ level: 'silent' });
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function oneCall(analysis: boolean): Promise<{ cpu_ms: number; ok: boolean; markers: number }> {
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
    return { cpu_ms: (d.user + d.system) / 1000, ok: r.failures.length === 0, markers };
  } finally {
    await peer.close();
  }
}

const on: number[] = [];
const off: number[] = [];
const load0 = os.loadavg();
await oneCall(true); // warm-up: module loading, G.711 tables, JIT
await oneCall(false);
let allOk = true;
let markers = 0;
for (let i = 0; i < runs; i++) {
  for (const analysis of i % 2 ? [false, true] : [true, false]) {
    const r = await oneCall(analysis);
    allOk &&= r.ok;
    (analysis ? on : off).push(Math.round(r.cpu_ms * 10) / 10);
    if (analysis) markers += r.markers;
  }
}
const result = {
  machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg_at_start: load0.map((x) => Math.round(x * 100) / 100), loadavg_at_end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  budget: 'audio content analysis adds <= 10 % to a call\'s CPU, and can be switched off per probe',
  method: `${runs} interleaved pairs of in-process probe demo calls (${seconds} s, PCMU, both ends analysed), after one warm-up of each; CPU = process.cpuUsage() over probeCall()`,
  calls_passed: allOk,
  markers_heard_with_analysis: markers,
  cpu_ms_analysis_on: on,
  cpu_ms_analysis_off: off,
  median_cpu_ms_on: Math.round(median(on) * 10) / 10,
  median_cpu_ms_off: Math.round(median(off) * 10) / 10,
  added_percent: Math.round(((median(on) - median(off)) / median(off)) * 1000) / 10,
};
writeFileSync(path.join(ROOT, 'bench', 'results', 'audio-content.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
