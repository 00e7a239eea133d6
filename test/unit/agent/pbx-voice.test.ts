// Real calls' voice quality from RTCP over HEP, through `probe agent` as shipped:
// a call's SIP (INVITE, 200, BYE) and rtpengine-format RTCP JSON (HEP type 5,
// Call-ID in the correlation id) sent to the agent's HEP listener → lost packets,
// jitter and, at the BYE, one E-model MOS per direction in /metrics; an RFC 6035
// vq-rtcpxr PUBLISH in the same stream adds its endpoint's direction.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PbxVoice, lossPercent, modelCodec, ntpMiddle, roundTripMs } from '../../../src/agent/pbx-voice.js';
import type { RtcpReportEvent } from '../../../src/analytics/events.js';
import { ProbeMetrics } from '../../../src/report/metrics.js';
import { computeQuality } from '../../../src/quality/emodel.js';
import { encodeHep3 } from '../../../src/sources/hep.js';
import { rtcpJsonToEvents } from '../../../src/sources/rtcp-json.js';
import { parseVqRtcpxr } from '../../../src/sources/vq-rtcpxr.js';
import { freeTcpPort } from '../../lab/lab.js';
import { type ReqOpts, sipRequest, sipResponse } from '../sources/sip-fixtures.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const A = 0xa0a0a0a0;
const B = 0xb0b0b0b0;

describe('RTCP JSON (rtpengine --homer) and the RFC 3550 arithmetic', () => {
  it('turns report blocks into events; garbage gives none', () => {
    const json = Buffer.from(
      JSON.stringify({ ssrc: B, type: 201, report_count: 1, report_blocks: [{ source_ssrc: A, highest_seq_no: 1500, fraction_lost: 13, ia_jitter: 40, packets_lost: 25, lsr: 7, dlsr: 9 }] }),
    );
    const { events } = rtcpJsonToEvents(json, { at: 1000, callId: 'c1', srcIp: '198.18.0.6' });
    expect(events).toEqual([
      { type: 'rtcp_report', source: 'hep', at: 1000, callId: 'c1', reporterIp: '198.18.0.6', reporterSsrc: B, sourceSsrc: A, fractionLost: 13 / 256, cumulativeLost: 25, jitterUnits: 40, lsr: 7, dlsr: 9, highestSeq: 1500 },
    ]);
    for (const bad of ['', 'not json', '[]', '{"report_blocks":[{"source_ssrc":-1}]}', '{"report_blocks":"x"}', `{${' '.repeat(20000)}}`]) {
      expect(rtcpJsonToEvents(Buffer.from(bad), { at: 0, callId: 'x' }).events).toEqual([]);
    }
  });

  it('round trip = arrival − LSR − DLSR in 1/65536 s; loss over the SR packet count', () => {
    const at = Date.UTC(2026, 11, 3, 12);
    const lsr = (ntpMiddle(at - 1000) + 2 ** 32) % 2 ** 32; // SR sent 1 s before the report arrived
    const dlsr = Math.round(0.96 * 65536); // held 960 ms by the receiver
    expect(roundTripMs(at, lsr, dlsr)).toBeCloseTo(40, 0);
    expect(roundTripMs(at, 0, 0)).toBeUndefined();
    expect(lossPercent({ lost: 25, senderPackets: 500, fractionLost: 0 })).toBe(5);
    expect(lossPercent({ lost: 3, senderPackets: undefined, fractionLost: 0.25 })).toBe(25);
  });
});

// RFC 6035 §4.7's example body, CallID and metrics as the RFC shows them
const VQ_BODY = [
  'VQSessionReport: CallTerm',
  'CallID: 6dg37f1890463',
  'LocalID: Alice <sip:alice@pbx.example.org>',
  'RemoteID: Bill <sip:bill@pbx.example.net>',
  'OrigID: Alice <sip:alice@pbx.example.org>',
  'LocalGroup: example-phone-55671',
  'RemoteGroup: example-gateway-09871',
  'LocalAddr: IP=10.10.1.100 PORT=5000 SSRC=0x2468abcd',
  'RemoteAddr: IP=11.1.1.150 PORT=5002 SSRC=0x1357ef01',
  'LocalMetrics:',
  'Timestamps: START=2004-10-10T18:23:43Z STOP=2004-10-10T18:24:01Z',
  'SessionDesc: PT=18 PD=G729 SR=8000 FD=20 FO=20 FPP=2 PPS=50 FMTP="annexb=no" PLC=3 SSUP=on',
  'JitterBuffer: JBA=3 JBR=2 JBN=40 JBM=80 JBX=120',
  'PacketLoss: NLR=5.0 JDR=2.0',
  'BurstGapLoss: BLD=0 BD=0 GLD=2.0 GD=500 GMIN=16',
  'Delay: RTD=200 ESD=140 SOWD=200 IAJ=2 MAJ=10',
  'Signal: SL=-21 NL=-50 RERL=55',
  'QualityEst: RLQ=88 RCQ=85 EXTR=90 MOSLQ=4.2 MOSCQ=4.3 QoEEstAlg=P.564',
  'RemoteMetrics:',
  'PacketLoss: NLR=9.0 JDR=1.0',
  'Delay: RTD=300 IAJ=7',
  'DialogID: 1890463548@alice.example.org;to-tag=8472761;from-tag=9123dh311',
  '',
].join('\r\n');

/** A PbxVoice on its own registry and clock (the reports' event time, at: 0, is the same clock). */
function voiceHarness(endGraceMs: number) {
  const m = new ProbeMetrics({ selfMetrics: false, lateness: { lateness: () => ({ count: 0, p99_ms: 0, max_ms: 0 }), resetLateness: () => undefined } });
  let now = 0;
  const voice = new PbxVoice(m, { endGraceMs, now: () => now });
  const read = async () => {
    const text = await m.registry.metrics();
    const v = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return {
      lost: v('callprobe_pbx_rtp_packets_lost_total'),
      mosCount: v('callprobe_pbx_call_mos_count'),
      mosSum: v('callprobe_pbx_call_mos_sum'),
      jitterSum: v('callprobe_pbx_rtp_jitter_seconds_sum'),
    };
  };
  return { voice, read, advance: (ms: number) => (now += ms), get now() { return now; } };
}

describe('PbxVoice: the end of a call', () => {
  const report = (o: Partial<RtcpReportEvent> & Pick<RtcpReportEvent, 'reporterSsrc' | 'sourceSsrc' | 'cumulativeLost'>): RtcpReportEvent => ({
    type: 'rtcp_report', source: 'hep', at: 0, callId: 'c1', fractionLost: 0, jitterUnits: 8, lsr: 0, dlsr: 0, ...o,
  });
  const setup = () => voiceHarness(2000);
  const end = { type: 'call_end', source: 'hep', at: 0, callId: 'c1' } as const;

  it('the RTCP BYE report that follows the SIP BYE counts for the call, once; later ones are dropped', async () => {
    const t = setup();
    // A sends (SR 300 packets); B reports 10 lost of A's stream
    t.voice.observe(report({ reporterSsrc: A, reporterPackets: 300, sourceSsrc: B, cumulativeLost: 0 }));
    t.voice.observe(report({ reporterSsrc: B, reporterPackets: 300, sourceSsrc: A, cumulativeLost: 10 }));
    t.voice.observe(end as never);
    t.advance(500);
    t.voice.sweep(t.now);
    expect((await t.read()).mosCount).toBe(0); // within the grace: not finished yet
    // the endpoints' last compound packets (RTCP BYE) after the SIP BYE: A sent 500 in all, B lost 25
    t.voice.observe(report({ reporterSsrc: A, reporterPackets: 500, sourceSsrc: B, cumulativeLost: 0 }));
    t.voice.observe(report({ reporterSsrc: B, reporterPackets: 500, sourceSsrc: A, cumulativeLost: 25 }));
    t.advance(1600);
    t.voice.sweep(t.now);
    let r = await t.read();
    expect(r.lost).toBe(25); // 10 + 15, not 10 + 25
    expect(r.mosCount).toBe(2);
    // loss over what A had sent by its last SR (25 of 500 = 5 %), not its first one (300)
    const lossy = computeQuality({ codec: 'PCMA', lossPercent: 5 }).mos;
    const clean = computeQuality({ codec: 'PCMA', lossPercent: 0 }).mos;
    expect(r.mosSum).toBeCloseTo(lossy + clean, 6);
    // a straggler after the finish is no new call
    t.voice.observe(report({ reporterSsrc: B, reporterPackets: 500, sourceSsrc: A, cumulativeLost: 25 }));
    t.advance(200_000);
    t.voice.sweep(t.now);
    r = await t.read();
    expect(r.lost).toBe(25);
    expect(r.mosCount).toBe(2);
    expect(t.voice.calls).toBe(0);
  });
});

describe('PbxVoice: the call\'s clock and codec from its SDP (media_format)', () => {
  const setup = () => voiceHarness(0);
  const format = (callId: string, codec: string, clockRate: number, answer: boolean) => ({ type: 'media_format', source: 'hep', at: 0, callId, answer, codec, clockRate }) as const;
  const report = (callId: string, jitterUnits: number, cumulativeLost = 0): RtcpReportEvent => ({
    type: 'rtcp_report', source: 'hep', at: 0, callId, reporterSsrc: B, reporterPackets: 100, senderPackets: 100, sourceSsrc: A, fractionLost: 0, cumulativeLost, jitterUnits, lsr: 0, dlsr: 0,
  });

  it('jitter units are read on the call\'s clock: Opus 48 kHz, G.722 8 kHz (RFC 3551), 8 kHz without SDP', async () => {
    const t = setup();
    t.voice.observe(format('opus', 'opus', 48000, true));
    t.voice.observe(report('opus', 480)); // 10 ms at 48 kHz
    expect((await t.read()).jitterSum).toBeCloseTo(0.01, 9);
    t.voice.observe(format('g722', 'G722', 8000, true));
    t.voice.observe(report('g722', 80)); // 10 ms at 8 kHz
    expect((await t.read()).jitterSum).toBeCloseTo(0.02, 9);
    t.voice.observe(report('nosdp', 160)); // 20 ms at the default 8 kHz
    expect((await t.read()).jitterSum).toBeCloseTo(0.04, 9);
  });

  it('the answer wins over the offer, whatever order they come in', async () => {
    const t = setup();
    t.voice.observe(format('c', 'G722', 8000, true));
    t.voice.observe(format('c', 'opus', 48000, false)); // a late offer copy does not override the answer
    t.voice.observe(report('c', 80));
    expect((await t.read()).jitterSum).toBeCloseTo(0.01, 9);
  });

  it('the MOS is the codec\'s: G.722 on the wideband model; a codec the model lacks falls back to G.711', async () => {
    const t = setup();
    t.voice.observe(format('w', 'G722', 8000, true));
    t.voice.observe(report('w', 8, 2)); // 2 of 100 lost
    t.voice.observe({ type: 'call_end', source: 'hep', at: 0, callId: 'w' } as never);
    t.advance(1);
    t.voice.sweep(t.now);
    const wb = computeQuality({ codec: 'G722', lossPercent: 2 }).mos;
    expect(wb).not.toBeCloseTo(computeQuality({ codec: 'PCMA', lossPercent: 2 }).mos, 2);
    expect((await t.read()).mosSum).toBeCloseTo(wb, 6);
    expect(modelCodec('GSM')).toBe('PCMA');
    expect(modelCodec(undefined)).toBe('PCMA');
    expect(modelCodec('opus')).toBe('opus');
  });
});

describe('RFC 6035 vq-rtcpxr', () => {
  it('reads the local metrics of a session report; anything else is no report', () => {
    expect(parseVqRtcpxr(VQ_BODY, { at: 5, ip: '10.10.1.100' })).toEqual({
      type: 'vq_report', source: 'hep', at: 5, callId: '6dg37f1890463', final: true, reporterIp: '10.10.1.100',
      lossPercent: 5, rttMs: 200, jitterMs: 2, reportedMos: 4.2,
    });
    expect(parseVqRtcpxr(VQ_BODY.replace('VQSessionReport', 'VQIntervalReport'), { at: 5 })?.final).toBe(false);
    for (const bad of ['', 'v=0\r\no=- 1 1 IN IP4 1.2.3.4', VQ_BODY.replace(/CallID: \S+/, 'CallID: '), 'x'.repeat(9000)]) expect(parseVqRtcpxr(bad, { at: 0 })).toBeUndefined();
  });
});

describe('probe agent: voice quality of real calls from RTCP over HEP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-voice-'));
  let child: ReturnType<typeof spawn> | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('loss, jitter and a per-direction MOS at the BYE', async () => {
    const port = await freeTcpPort();
    const hepPort = await freeTcpPort();
    mkdirSync(join(dir, 'probes'));
    writeFileSync(join(dir, 'probes', 'p.yaml'), 'probes:\n  - { name: c, kind: cert, targets: ["/nonexistent/cert.pem"], interval: 1h }\n');
    writeFileSync(
      join(dir, 'callprobe.yaml'),
      `pbx: { uri: "sip:127.0.0.1" }\nlisten: { metrics: "127.0.0.1:${port}" }\nprobes_dir: probes\nstate_dir: state\nsources: { hep: "127.0.0.1:${hepPort}" }\n`,
    );
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', join(dir, 'callprobe.yaml'), '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    for (let i = 0; i < 200 && !stderr.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toContain('listening on');

    const t0 = Date.now() - 20_000;
    const sec = (ms: number) => ({ timeSec: Math.floor(ms / 1000), timeUsec: (ms % 1000) * 1000 });
    const sip = (text: string, at: number) => encodeHep3({ srcIp: '127.0.0.1', dstIp: '127.0.0.1', srcPort: 5060, dstPort: 5060, ...sec(at), protocolType: 1, payload: Buffer.from(text) });
    const rtcp = (body: object, at: number) =>
      encodeHep3({ srcIp: '127.0.0.1', dstIp: '127.0.0.1', srcPort: 10001, dstPort: 16001, ...sec(at), protocolType: 5, correlationId: 'voice-1', payload: Buffer.from(JSON.stringify(body)) });
    const inv: ReqOpts = { method: 'INVITE', callId: 'voice-1', cseq: 1, from: '1001', to: '1002' };
    const rr = (from: number, about: number, lost: number, fraction: number, jitter: number, lsr = 0, dlsr = 0) => ({
      ssrc: from, type: 201, report_count: 1,
      report_blocks: [{ source_ssrc: about, highest_seq_no: 1000, fraction_lost: fraction, ia_jitter: jitter, packets_lost: lost, lsr, dlsr }],
    });
    const srAt = t0 + 9000;
    const pub = sipRequest({ method: 'PUBLISH', callId: 'vq-pub-1', cseq: 1, from: '1003', to: '1003' })
      .replace('Content-Length: 0\r\n\r\n', `Event: vq-rtcpxr\r\nContent-Type: application/vq-rtcpxr\r\nContent-Length: ${Buffer.byteLength(VQ_BODY)}\r\n\r\n${VQ_BODY}`);
    const publish = sip(pub, t0 + 12_000);
    const packets = [
      sip(sipRequest(inv), t0),
      sip(sipResponse(200, inv), t0 + 1000),
      // A's SR: 500 packets sent so far; B's reports about A: 10, then 25 lost (5 % of 500), RTT 40 ms
      rtcp({ ssrc: A, type: 200, sender_information: { ntp_timestamp_sec: 0, ntp_timestamp_usec: 0, octets: 80000, rtp_timestamp: 0, packets: 500 } }, srAt),
      rtcp(rr(B, A, 10, 12, 16), t0 + 6000),
      rtcp(rr(B, A, 25, 13, 80, ntpMiddle(srAt), Math.round(0.96 * 65536)), srAt + 1000),
      // A about B: nothing lost
      rtcp(rr(A, B, 0, 0, 8), t0 + 10_000),
      sip(sipRequest({ ...inv, method: 'BYE', cseq: 2, toTag: 't-voice-1' }), t0 + 11_000),
      // a phone's RFC 6035 report of another call, and the proxy's copy of it (counted once)
      publish, publish,
      sip(sipResponse(200, { ...inv, method: 'BYE', cseq: 2 }), t0 + 11_010),
    ];
    const udp = createSocket('udp4');
    for (const p of packets) await new Promise<void>((r) => udp.send(p, hepPort, '127.0.0.1', () => r()));
    udp.close();

    let metrics = '';
    // the MOS is due 2 s after the BYE (the agent sweeps every second)
    for (let i = 0; i < 150 && !/^callprobe_pbx_call_mos_count 3$/m.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    }
    expect(metrics).toMatch(/^callprobe_pbx_rtp_packets_lost_total 25$/m);
    expect(metrics).toMatch(/^callprobe_pbx_rtp_jitter_seconds_count 4$/m);
    expect(metrics).toMatch(/^callprobe_pbx_call_mos_count 3$/m);
    const lossy = computeQuality({ codec: 'PCMA', lossPercent: 5, delayMs: 20 }).mos;
    const clean = computeQuality({ codec: 'PCMA', lossPercent: 0, delayMs: 0 }).mos;
    const phone = computeQuality({ codec: 'PCMA', lossPercent: 5, delayMs: 100 }).mos;
    const sum = Number(/^callprobe_pbx_call_mos_sum (\S+)$/m.exec(metrics)?.[1]);
    expect(sum).toBeCloseTo(lossy + clean + phone, 1);
    expect(metrics).toMatch(/^callprobe_pbx_call_mos_bucket\{le="3\.5"\} 0$/m);
  }, 30_000);
});
