// SRTP through the lab (issue 17 item 4), driven by the shipped CLI over TLS
// signalling (Kamailio 5061) with rtpengine relaying the media:
//  - probe call 1001 1002 --srtp required: both legs of the probe SRTP, both
//    directions measured at our receivers, and their counts are the wire's: each
//    sender's packets (+ its 2 tail frames) are the RTP datagrams tshark sees leaving
//    its port, each receiver's (+ the tail that arrived) the datagrams rtpengine
//    delivered to it (the counts are not a fixed 150: under load the pacer skips
//    ticks it is late for, src/rtp/pacer.ts, so a 3 s call may send ~140 a way);
//    tshark on every probe port finds no packet carrying one of the G.711 frames we
//    send (ciphertext only);
//  - probe call 1001 xc.avp.1003 --srtp required: rtpengine bridges our
//    RTP/SAVP leg to baresip 1003's plain RTP/AVP (lab hook route XCODE, token
//    "avp"): on our leg no clear frame, on baresip's leg our frames in clear,
//    as many as we sent (rtpengine authenticated and decrypted every one), and
//    what baresip sends reaches us as SRTP that authenticates;
//  - probe run <scenario> --srtp required (register 1002, call, wait, bye) over TLS
//    (the lab certificate as the trust anchor, verification on): the scenario's call
//    and its own answering side are SRTP, both directions authenticate every packet;
//    the same run over UDP is refused (exit 2) before anything is sent.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, kamailioLog, LAB, labWorkdir, removeBindings } from '../lab/lab.js';
import type { ScenarioResult } from '../../src/probes/scenario/index.js';
import { writeCallConfig } from './helpers/call-config.js';
import type { CallResult } from '../../src/probes/call/index.js';
import { defaultAudioSource, encodedFrames } from '../../src/rtp/audio.js';
import type { AudioCodec } from '../../src/rtp/codec.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const RTP: [number, number] = [16970, 16989];
const BARESIP_RTP: [number, number] = [17030, 17039];
const TLS = ['--transport', 'tls', '--server', `sip:127.0.0.1:${LAB.ports.tls}`, '--insecure'];

beforeAll(async () => {
  await removeBindings(['1001', '1002']);
});

async function cli(args: string[]): Promise<{ r: CallResult; code: number; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  try {
    ({ stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 30_000 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
    code = typeof e.code === 'number' ? e.code : -1;
  }
  if (!stdout.trim()) throw new Error(`probe ${args.join(' ')}: no JSON on stdout (exit ${code}); stderr:\n${stderr}`);
  return { r: JSON.parse(stdout) as CallResult, code, stderr };
}

/** An SRTP call over TLS to `to` with a capture of the given UDP port ranges around it; passes (exit 0, no failures). */
async function capturedCall(cfg: string, to: string, ranges: Array<readonly [number, number]>): Promise<{ r: CallResult; pcap: string }> {
  const cap = await capture({ filter: `udp and (${ranges.map(([lo, hi]) => `portrange ${lo}-${hi}`).join(' or ')})` });
  let out: Awaited<ReturnType<typeof cli>>;
  try {
    // --no-audio-analysis: the probe then sends defaultAudioSource() unmarked, the frames clearFrames() looks for
    out = await cli(['call', '1001', to, ...TLS, '--srtp', 'required', '--duration', '3s', '--json', '--no-audio-analysis', '--config', cfg]);
  } finally {
    await cap.stop();
  }
  expect(out.r.failures, out.stderr).toEqual([]);
  expect(out.code).toBe(0);
  return { r: out.r, pcap: cap.file };
}

interface Datagram {
  src: number;
  dst: number;
  payload: Buffer;
}

/** Every UDP datagram of the capture (tshark), with its RTP payload bytes after the fixed header and CSRCs. */
async function datagrams(pcap: string): Promise<Datagram[]> {
  const { stdout } = await execFileP('tshark', ['-r', pcap, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'udp.payload'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [src, dst, hex] = l.split('\t');
      const raw = Buffer.from((hex ?? '').replace(/:/g, ''), 'hex');
      const cc = (raw[0] ?? 0) & 0x0f;
      return { src: Number(src), dst: Number(dst), payload: raw.subarray(12 + 4 * cc) };
    });
}

/** RTP, not RTCP: SRTCP keeps its first 8 bytes clear, so packet type 200-204 (RFC 5761 §4) tells them apart. */
async function rtpDatagrams(pcap: string): Promise<Array<{ src: number; dst: number }>> {
  const { stdout } = await execFileP('tshark', ['-r', pcap, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'udp.payload'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t'))
    .filter(([, , hex]) => {
      const pt = parseInt((hex ?? '').replace(/:/g, '').slice(2, 4), 16);
      return !(pt >= 200 && pt <= 204);
    })
    .map(([src, dst]) => ({ src: Number(src), dst: Number(dst) }));
}

const inRange = (p: number, [lo, hi]: readonly [number, number]): boolean => p >= lo && p <= hi;
const isRtp = (d: Datagram): boolean => inRange(d.src, [10000, 14999]) || inRange(d.dst, [10000, 14999]);

/** Is this payload (SRTP tag included, if any) one of the frames our built-in source sends, in clear? */
function clearFrames(codec: AudioCodec): (payload: Buffer) => boolean {
  const frames = new Set(encodedFrames(defaultAudioSource(), codec, 160).map((f) => Buffer.from(f).toString('hex')));
  return (payload) => frames.has(payload.subarray(0, 160).toString('hex')) && payload.length === 160;
}

describe('SRTP over TLS through rtpengine', () => {
  it('probe call 1001 1002 --srtp required: SRTP on every probe leg, no clear frame on the wire, both directions measured', async () => {
    const cfg = writeCallConfig('srtp-lab', { rtp: RTP });
    const { r, pcap } = await capturedCall(cfg, '1002', [LAB.rtpengineRange, RTP]);
    expect(r.target).toMatch(/5061/);
    expect(r.media?.srtp).toMatchObject({ mode: 'required', key_exchange: 'sdes' });
    expect(r.media?.srtp?.suite).toMatch(/^AES_CM_128_HMAC_SHA1_(80|32)$/);
    const dirs = r.media?.directions ?? [];
    expect(dirs).toHaveLength(2);
    const rtp = await rtpDatagrams(pcap);
    for (const d of dirs) {
      // both ends are ours: the sender's port is the other direction's receiving port
      const senderPort = dirs.find((o) => o !== d)?.local_rtp_port;
      const left = rtp.filter((x) => x.src === senderPort && inRange(x.dst, LAB.rtpengineRange)).length;
      const arrived = rtp.filter((x) => x.dst === d.local_rtp_port && inRange(x.src, LAB.rtpengineRange)).length;
      process.stderr.write(`srtp-lab ${d.direction}: sent ${d.packets_sent} (+2 tail), on the wire out ${left}; received ${d.packets_received} (+${d.tail_packets ?? 0} tail), delivered by rtpengine ${arrived}\n`);
      expect(d.measured_by).toBe('receiver');
      expect(d.packets_lost).toBe(0);
      expect(d.packets_received, d.direction).toBe(d.packets_sent);
      expect(left, `${d.direction}: datagrams leaving the sender`).toBe((d.packets_sent ?? NaN) + 2);
      expect(arrived, `${d.direction}: datagrams rtpengine delivered`).toBe((d.packets_received ?? NaN) + (d.tail_packets ?? 0));
      // about 3 s of 20 ms packets; fewer only by ticks a loaded pacer skipped
      expect(d.packets_sent).toBeGreaterThan(100);
      expect(d.srtp).toMatchObject({ auth_failures: 0, replays: 0, malformed: 0 });
      expect(d.srtp?.packets_authenticated).toBeGreaterThanOrEqual(d.packets_received ?? 0);
    }
    const isClear = clearFrames('PCMU');
    const ours = (await datagrams(pcap)).filter((d) => isRtp(d) && (inRange(d.src, RTP) || inRange(d.dst, RTP)) && (d.payload.length > 0));
    const out1 = ours.filter((d) => inRange(d.src, RTP));
    const in1 = ours.filter((d) => inRange(d.dst, RTP));
    process.stderr.write(`srtp-lab: probe legs ${out1.length} datagrams out, ${in1.length} in; clear frames ${ours.filter((d) => isClear(d.payload)).length}\n`);
    // what our two receivers authenticated was all on the wire
    expect(in1.length).toBeGreaterThanOrEqual(dirs.reduce((n, d) => n + (d.srtp?.packets_authenticated ?? 0), 0));
    expect(ours.filter((d) => isClear(d.payload))).toHaveLength(0);
  });

  it('probe call 1001 xc.avp.1003 --srtp required: rtpengine bridges our RTP/SAVP leg to baresip\'s plain RTP/AVP', async () => {
    const cfg = writeCallConfig('srtp-lab-avp', { rtp: RTP });
    fs.appendFileSync(cfg, 'allowed_destinations: ["xc.*"]\n');
    const { r, pcap } = await capturedCall(cfg, 'xc.avp.1003', [LAB.rtpengineRange, RTP, BARESIP_RTP]);
    expect(kamailioLog()).toMatch(/LAB-XCODE from=1001 to=1003 flags=" transport-protocol=RTP\/AVP"/);
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    const there = r.media?.directions.find((d) => d.direction === 'caller_to_callee');
    expect(back?.measured_by).toBe('receiver');
    expect(back?.packets_received).toBeGreaterThan(120);
    expect(back?.packets_lost).toBe(0);
    expect(back?.srtp).toMatchObject({ auth_failures: 0, replays: 0 });
    const codec = (r.media?.codec ?? 'PCMU') as AudioCodec;
    const isClear = clearFrames(codec);
    const all = (await datagrams(pcap)).filter(isRtp);
    const ourLeg = all.filter((d) => inRange(d.src, RTP) || inRange(d.dst, RTP));
    const baresipLeg = all.filter((d) => inRange(d.dst, BARESIP_RTP));
    const clearToBaresip = baresipLeg.filter((d) => isClear(d.payload)).length;
    process.stderr.write(`srtp-lab avp: our leg ${ourLeg.length} datagrams, clear ${ourLeg.filter((d) => isClear(d.payload)).length}; to baresip ${baresipLeg.length}, our frames in clear ${clearToBaresip}, we sent ${there?.packets_sent}\n`);
    // what our sender counted is what left our port (baresip is not ours: no tail frames)
    const ourPort = r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.local_rtp_port;
    expect((await rtpDatagrams(pcap)).filter((d) => d.src === ourPort && inRange(d.dst, LAB.rtpengineRange)).length).toBe(there?.packets_sent);
    expect(there?.packets_sent).toBeGreaterThan(100);
    expect(ourLeg.filter((d) => isClear(d.payload))).toHaveLength(0);
    // every packet we sent arrived at baresip decrypted: rtpengine drops what fails authentication
    expect(Math.abs(clearToBaresip - (there?.packets_sent ?? 0))).toBeLessThanOrEqual(2);
  });

  it('probe run <scenario> --srtp required over TLS: the scenario\'s call and its own callee speak SRTP; over UDP refused', async () => {
    const cfg = writeCallConfig('srtp-lab-scenario', { rtp: RTP });
    const scenario = path.join(labWorkdir(), 'srtp-lab-scenario-steps.yaml');
    fs.writeFileSync(
      scenario,
      [
        'name: srtp-call',
        'from: "1001"',
        'to: "1002"',
        'steps:',
        '  - register: { account: "1002" }',
        '  - call: { codec: PCMU }',
        '  - expect: { status: 200 }',
        '  - wait: 2s',
        '  - bye: {}',
        '',
      ].join('\n'),
    );
    const run = async (server: string): Promise<{ r: ScenarioResult; code: number; stderr: string }> => {
      let stdout = '';
      let stderr = '';
      let code = 0;
      try {
        ({ stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', scenario, '--config', cfg, '--server', server, '--srtp', 'required', '--json'], {
          cwd: ROOT,
          timeout: 30_000,
          // TLS verified against the lab's own certificate (SAN IP:127.0.0.1), not --insecure
          env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(labWorkdir(), 'tls', 'pbx.crt') },
        }));
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: number };
        stdout = e.stdout ?? '';
        stderr = e.stderr ?? '';
        code = typeof e.code === 'number' ? e.code : -1;
      }
      return { r: (stdout.trim() ? JSON.parse(stdout) : {}) as ScenarioResult, code, stderr };
    };
    const udp = await run(`sip:127.0.0.1:${LAB.ports.udp}`);
    expect(udp.code, udp.stderr).toBe(2);
    expect(udp.stderr).toMatch(/SDES keys would be sent in clear over UDP/);

    const { r, code, stderr } = await run(`sip:127.0.0.1:${LAB.ports.tls};transport=tls`);
    expect(r.failures, stderr).toEqual([]);
    expect(code).toBe(0);
    expect(r.call?.media?.srtp).toMatchObject({ mode: 'required', key_exchange: 'sdes' });
    expect(r.call?.media?.srtp?.suite).toMatch(/^AES_CM_128_HMAC_SHA1_(80|32)$/);
    for (const d of r.call?.media?.directions ?? []) {
      expect(d.measured_by, d.direction).toBe('receiver');
      expect(d.packets_received, d.direction).toBeGreaterThan(80);
      expect(d.packets_lost, d.direction).toBe(0);
      // our receivers accept nothing but SRTP that authenticates: every packet counted did
      expect(d.srtp, d.direction).toMatchObject({ auth_failures: 0, replays: 0, malformed: 0 });
      expect(d.srtp?.packets_authenticated, d.direction).toBeGreaterThanOrEqual(d.packets_received ?? Infinity);
    }
    expect(r.call?.media?.directions).toHaveLength(2);
  });
});
