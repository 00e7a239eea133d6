// DTMF interop (issue 6, acceptance 5): RFC 4733 telephone-events between the
// agent and baresip 1.0 (an independent implementation), through Kamailio +
// rtpengine, checked three ways: tshark's rtpevent dissector on a capture of
// both media legs, baresip's own CALL_DTMF_START events / log, and the
// agent's RtpSession detector.
//
//  1. The agent (scenario engine, 1001) calls baresip 1003 and keys "159#";
//     then baresip keys "2580" (ctrl_tcp `sndcode`) and the scenario's
//     expect_dtmf on the caller leg must see it.
//  2. baresip 1003 dials 1002, which the agent registered and answers itself
//     (Answerer): baresip keys "*304", the answering RtpSession must detect it.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BaresipReply, capture, type CaptureHandle, LAB, labWorkdir, removeBindings, USERS } from '../lab/lab.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Answerer, type AnsweredCall } from '../../src/call/answerer.js';
import { PortAllocator } from '../../src/rtp/ports.js';
import { buildScenarioSpec, loadScenario, scenarioProbe } from '../../src/probes/scenario/index.js';
import { UserAgent } from '../../src/sip/ua.js';
import { BaresipControl, digitsByStream, tsharkRtpEvents, type TsharkDigit } from './helpers/dtmf.js';

const logger = createLogger('error');
const AGENT_RTP: [number, number] = [16600, 16699];
const BARESIP_1003_RTP: [number, number] = [17030, 17039];
const CAPTURE_FILTER =
  `udp and (port ${LAB.ports.udp} or port ${LAB.ports.baresip1003} or portrange ${LAB.rtpengineRange[0]}-${LAB.rtpengineRange[1]}` +
  ` or portrange ${AGENT_RTP[0]}-${AGENT_RTP[1]} or portrange ${BARESIP_1003_RTP[0]}-${BARESIP_1003_RTP[1]})`;

/**
 * Every RTP leg has one end in one of these: tshark decodes them as RTP even when the
 * capture missed the INVITE/200 (dumpcap reports "Capturing on" before it really
 * captures on a loaded machine: a run's pcap began 1 s into the call, after the SDP).
 */
const RTP_RANGES = [AGENT_RTP, BARESIP_1003_RTP] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const inRange = (port: number, [lo, hi]: [number, number]): boolean => port >= lo && port <= hi;

/** Key presses on the streams whose ports match, concatenated. */
function digitsWhere(streams: Map<string, TsharkDigit[]>, match: (d: TsharkDigit) => boolean): TsharkDigit[] {
  return [...streams.values()].flat().filter(match);
}

function dtmfEvents(events: readonly BaresipReply[]): string {
  return events
    .filter((e) => e.type === 'CALL_DTMF_START')
    .map((e) => String(e.param ?? ''))
    .join('');
}

/** Sends digits one key press at a time, like a user would (sndcode ends each with a key release). */
async function baresipKeys(ctrl: BaresipControl, digits: string): Promise<void> {
  for (const d of digits) {
    const r = await ctrl.command('sndcode', d);
    expect(r.ok, `baresip sndcode ${d}: ${r.data ?? ''}`).toBe(true);
    await sleep(300);
  }
}

function baresipLogSince(offset: number): string {
  const file = path.join(labWorkdir(), 'baresip-1003.log');
  if (!fs.existsSync(file)) return '';
  return fs.readFileSync(file, 'utf8').slice(offset);
}

function baresipLogSize(): number {
  const file = path.join(labWorkdir(), 'baresip-1003.log');
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

let ctrl: BaresipControl | undefined;
let cap: CaptureHandle | undefined;
afterEach(async () => {
  if (ctrl) {
    await ctrl.command('hangup').catch(() => undefined);
    ctrl.close();
    ctrl = undefined;
  }
  await cap?.stop();
  cap = undefined;
});

beforeAll(async () => {
  // Bindings other tests left behind would fork INVITEs to dead contacts.
  await removeBindings(['1001', '1002']);
});

describe('DTMF interop with baresip (RFC 4733)', () => {
  it('agent → baresip "159#" and baresip → agent "2580" in one call through rtpengine', async () => {
    const w = labWorkdir();
    const scenarioFile = path.join(w, 'dtmf-interop.yaml');
    fs.writeFileSync(
      scenarioFile,
      `name: dtmf-interop
description: 1001 calls baresip 1003, keys 159#, then listens for baresip's 2580
from: "1001"
to: "1003"
steps:
  - call: { codec: PCMA }
  - expect: { status: 200 }
  - wait: 1s
  - send_dtmf: { digits: "159#", duration: 100ms, pause: 100ms }
  - expect_dtmf: { digits: "2580", leg: caller, timeout: 15s }
  - wait: 500ms
  - bye: {}
`,
    );
    const configFile = path.join(w, 'dtmf-interop-config.yaml');
    fs.writeFileSync(
      configFile,
      `pbx: { uri: "sip:127.0.0.1:${LAB.ports.udp}", transport: udp }
accounts:
  "1001": { password: "${USERS['1001']}" }
rtp: { port_min: ${AGENT_RTP[0]}, port_max: ${AGENT_RTP[1]}, codecs: [PCMA, PCMU] }
allowed_destinations: ["1003"]
state_dir: ${w}/state
`,
    );
    const { config } = loadConfig({ file: configFile });
    const { file, scenario } = loadScenario(scenarioFile, { config });
    const logOffset = baresipLogSize();
    ctrl = await BaresipControl.connect(LAB.ports.baresipCtrl1003);
    cap = await capture({ filter: CAPTURE_FILTER });

    const run = scenarioProbe({ logger, signal: new AbortController().signal }, buildScenarioSpec(scenario, config, file));
    await ctrl.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000, 'CALL_ESTABLISHED');
    // Let the agent's four digits go first (≈ 1 s wait + 4 × 260 ms), so the two directions do not overlap.
    await ctrl.waitForEvent(() => dtmfEvents(ctrl?.events ?? []).length >= 4, 6_000, 'four CALL_DTMF_START').catch(() => undefined);
    await sleep(300);
    await baresipKeys(ctrl, '2580');
    const result = await run;
    const pcap = await cap.stop();
    cap = undefined;

    // The agent: the scenario passed, so expect_dtmf saw "2580" on the caller leg.
    expect(result.failures, JSON.stringify(result.steps, null, 1)).toEqual([]);
    expect(result.success).toBe(true);
    const expectStep = result.steps.find((s) => s.step.startsWith('expect_dtmf'));
    expect(expectStep?.ok).toBe(true);
    expect(expectStep?.message).toContain('"2580" detected on the caller leg');

    // baresip: what it reported receiving.
    const baresipGot = dtmfEvents(ctrl.events);
    expect(baresipGot).toBe('159#');
    const log = baresipLogSince(logOffset);
    const logged = [...log.matchAll(/received DTMF: '(.)'/g)].map((m) => m[1]).join('');
    if (logged !== '') expect(logged).toBe('159#');

    // tshark: both legs of both directions carry the digits, each ended with E=1 packets.
    const streams = digitsByStream(await tsharkRtpEvents(pcap, { decodeAs: RTP_RANGES }));
    const agentOut = digitsWhere(streams, (d) => inRange(d.srcPort, AGENT_RTP));
    const toBaresip = digitsWhere(streams, (d) => inRange(d.dstPort, BARESIP_1003_RTP));
    const baresipOut = digitsWhere(streams, (d) => inRange(d.srcPort, BARESIP_1003_RTP));
    const toAgent = digitsWhere(streams, (d) => inRange(d.dstPort, AGENT_RTP));
    const summary = JSON.stringify([...streams.entries()]);
    expect(agentOut.map((d) => d.digit).join(''), summary).toBe('159#');
    expect(toBaresip.map((d) => d.digit).join(''), summary).toBe('159#');
    expect(baresipOut.map((d) => d.digit).join(''), summary).toBe('2580');
    expect(toAgent.map((d) => d.digit).join(''), summary).toBe('2580');
    for (const d of [...agentOut, ...toBaresip, ...baresipOut, ...toAgent]) expect(d.endPackets, summary).toBeGreaterThanOrEqual(1);
    // Ours: 5 packets of 100 ms (800 timestamp units) + 3 end packets (RFC 4733 §2.5.1.4).
    for (const d of agentOut) {
      expect(d.endPackets).toBe(3);
      expect(d.duration).toBe(800);
    }
    console.log(`dtmf-interop call: tshark ${summary}; baresip CALL_DTMF_START "${baresipGot}", log "${logged}"`);
  });

  it('baresip 1003 dials 1002 (answered by the agent): "*304" detected by the answering RtpSession', async () => {
    const ua = await UserAgent.create({ server: `sip:127.0.0.1:${LAB.ports.udp}`, user: '1002', password: USERS['1002'], localAddress: '127.0.0.1', logger });
    const ports = new PortAllocator({ min: AGENT_RTP[0], max: AGENT_RTP[1], address: '127.0.0.1' });
    let answerer: Answerer | undefined;
    try {
      const reg = await ua.register({ expires: 60 });
      expect(reg.ok, reg.reason).toBe(true);
      let resolveCall: (c: AnsweredCall) => void = () => undefined;
      const answered = new Promise<AnsweredCall>((r) => (resolveCall = r));
      answerer = new Answerer({ ua, ports, mediaAddress: '127.0.0.1', codecs: ['PCMA', 'PCMU'], onAnswered: (c) => resolveCall(c), logger });
      ctrl = await BaresipControl.connect(LAB.ports.baresipCtrl1003);
      cap = await capture({ filter: CAPTURE_FILTER });
      const dial = await ctrl.command('dial', '1002');
      expect(dial.ok, dial.data).toBe(true);
      const call = await Promise.race([answered, sleep(15_000).then(() => undefined)]);
      expect(call, 'the agent did not answer baresip within 15 s').toBeDefined();
      if (!call) return;
      expect(await call.session.waitForRtp(5000)).toBe(true);
      await ctrl.waitForEvent((e) => e.type === 'CALL_RTPESTAB' || e.type === 'CALL_ESTABLISHED', 5_000, 'CALL_ESTABLISHED');
      await sleep(500);
      await baresipKeys(ctrl, '*304');
      const deadline = Date.now() + 5000;
      while (call.session.receivedDigits.length < 4 && Date.now() < deadline) await sleep(50);
      const agentGot = call.session.receivedDigits;
      await ctrl.command('hangup').catch(() => undefined);
      const pcap = await cap.stop();
      cap = undefined;

      expect(agentGot).toBe('*304');
      const streams = digitsByStream(await tsharkRtpEvents(pcap, { decodeAs: RTP_RANGES }));
      const summary = JSON.stringify([...streams.entries()]);
      const baresipOut = digitsWhere(streams, (d) => inRange(d.srcPort, BARESIP_1003_RTP));
      const toAgent = digitsWhere(streams, (d) => inRange(d.dstPort, AGENT_RTP));
      expect(baresipOut.map((d) => d.digit).join(''), summary).toBe('*304');
      expect(toAgent.map((d) => d.digit).join(''), summary).toBe('*304');
      for (const d of toAgent) expect(d.endPackets, summary).toBeGreaterThanOrEqual(1);
      console.log(`dtmf-interop answer: agent detected "${agentGot}"; tshark ${summary}`);
    } finally {
      await answerer?.close();
      await ua.unregister().catch(() => undefined);
      ua.close();
    }
  });
});
