// The lab transcoding hook (test/lab/kamailio.cfg route XCODE) driven by the shipped CLI:
// `probe call 1001 1002 --dial xc.m-PCMU.t-PCMA.at.1002` reaches 1002 with a PCMA-only
// offer while the caller's leg stays PCMU, so rtpengine transcodes PCMU <-> PCMA. The
// test signal's markers must survive the transcode, and audio_delay_ms must agree with
// the pcap (first packet of each marker leaving the caller vs reaching the callee).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, kamailioLog, removeBindings, rtpStreams } from '../lab/lab.js';
import { AudioAnalyzer } from '../../src/audio/analyzer.js';
import { createDecoder } from '../../src/rtp/decode.js';
import { writeCallConfig } from './helpers/call-config.js';
import type { CallResult } from '../../src/probes/call/index.js';

const execFileP = promisify(execFile);

/** Markers found in one leg of the pcap (our detector, tshark's payload bytes and capture times). */
async function pcapMarkers(pcap: string, srcPort: number, dstPort: number, codec: 'PCMU' | 'PCMA'): Promise<Map<number, number>> {
  const { stdout } = await execFileP(
    'tshark',
    ['-r', pcap, '-n', '-Y', `rtp && udp.srcport == ${srcPort} && udp.dstport == ${dstPort}`, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'rtp.timestamp', '-e', 'rtp.payload'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const an = new AudioAnalyzer(8000);
  const dec = createDecoder(codec);
  if (!dec) throw new Error(codec);
  for (const line of stdout.trim().split('\n')) {
    const [t, ts, hex] = line.split('\t');
    if (!t || !ts || !hex) continue;
    an.onFrame(dec.decode(Buffer.from(hex.replace(/:/g, ''), 'hex')), 8000, Number(ts), Number(t) * 1000);
  }
  return new Map(an.markers.map((m) => [m.seq, m.arrivalMs ?? Number.NaN]));
}
const ROOT = path.resolve(import.meta.dirname, '../..');
const RTP: [number, number] = [16950, 16969];

beforeAll(async () => {
  await removeBindings(['1001', '1002']);
});

async function cli(args: string[]): Promise<{ r: CallResult; stderr: string }> {
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 30_000 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
  }
  if (!stdout.trim()) throw new Error(`probe ${args.join(' ')}: no JSON on stdout; stderr:\n${stderr}`);
  return { r: JSON.parse(stdout) as CallResult, stderr };
}

describe('lab transcoding hook through rtpengine (PCMU caller, PCMA callee)', () => {
  it('probe call --dial xc.m-PCMU.t-PCMA.at.1002: caller legs PCMU, callee legs PCMA; markers match both ways, audio_delay_ms within 5 ms of the pcap', async () => {
    const cfg = writeCallConfig('audio-xcode', { rtp: RTP });
    fs.appendFileSync(cfg, 'allowed_destinations: ["xc.*"]\n');
    const cap = await capture({ filter: `udp and (port 5060 or portrange 10000-14999 or portrange ${RTP[0]}-${RTP[1]})` });
    let out: Awaited<ReturnType<typeof cli>>;
    try {
      out = await cli(['call', '1001', '1002', '--dial', 'xc.m-PCMU.t-PCMA.at.1002', '--codec', 'PCMU,PCMA', '--duration', '4s', '--json', '--config', cfg]);
    } finally {
      await cap.stop();
    }
    const { r, stderr } = out;
    expect(r.failures, stderr).toEqual([]);
    expect(r.media?.codec).toBe('PCMU');
    expect(kamailioLog()).toMatch(/LAB-XCODE from=1001 to=1002 flags=" codec-mask-PCMU codec-transcode-PCMA always-transcode"/);
    const streams = await rtpStreams(await cap.stop());
    expect(streams.length).toBe(4);
    const callerPort = r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.local_rtp_port;
    const calleePort = r.media?.directions.find((d) => d.direction === 'caller_to_callee')?.local_rtp_port;
    for (const s of streams) {
      const leg = s.srcPort === callerPort || s.dstPort === callerPort ? 'caller' : s.srcPort === calleePort || s.dstPort === calleePort ? 'callee' : 'other';
      expect(`${leg} ${s.payload}`).toBe(leg === 'caller' ? 'caller g711U' : 'callee g711A');
    }
    // content: 4 s carries markers at 0.3 s and 2.8 s in each direction
    for (const d of r.media?.directions ?? []) {
      expect(d.audio, d.direction).toBeDefined();
      expect(d.audio?.present).toBe(true);
      expect(d.audio?.marker_match).toBe(true);
      expect(d.audio?.markers_heard).toBeGreaterThanOrEqual(1);
      expect(d.audio?.markers_foreign).toBe(0);
      expect(Math.abs(d.audio?.marker_gain_db ?? 99)).toBeLessThan(1.5);
      expect(d.audio?.audio_delay_ms).not.toBeNull();
    }
    // pcap: caller → rtpengine (PCMU), rtpengine → callee (PCMA); and back
    const pcap = await cap.stop();
    const legs = (from: number | undefined, to: number | undefined): { out?: (typeof streams)[number]; into?: (typeof streams)[number] } => ({
      out: streams.find((s) => s.srcPort === from),
      into: streams.find((s) => s.dstPort === to),
    });
    for (const [dir, from, to, outCodec, inCodec] of [
      ['caller_to_callee', callerPort, calleePort, 'PCMU', 'PCMA'],
      ['callee_to_caller', calleePort, callerPort, 'PCMA', 'PCMU'],
    ] as const) {
      const { out, into } = legs(from, to);
      if (!out || !into) throw new Error(`${dir}: legs not found in ${JSON.stringify(streams)}`);
      const sent = await pcapMarkers(pcap, out.srcPort, out.dstPort, outCodec);
      const got = await pcapMarkers(pcap, into.srcPort, into.dstPort, inCodec);
      const delays = [...got.entries()].filter(([seq]) => sent.has(seq)).map(([seq, at]) => at - (sent.get(seq) ?? Number.NaN));
      expect(delays.length, dir).toBeGreaterThanOrEqual(1);
      delays.sort((a, b) => a - b);
      const pcapDelay = delays.length % 2 ? (delays[delays.length >> 1] ?? 0) : ((delays[delays.length / 2 - 1] ?? 0) + (delays[delays.length / 2] ?? 0)) / 2;
      const reported = r.media?.directions.find((d) => d.direction === dir)?.audio?.audio_delay_ms ?? Number.NaN;
      console.log(`${dir}: audio_delay_ms ${reported}, pcap ${pcapDelay.toFixed(2)} ms (markers ${delays.map((x) => x.toFixed(2)).join(', ')})`);
      expect(Math.abs(reported - pcapDelay), dir).toBeLessThanOrEqual(5);
    }
  });
});
