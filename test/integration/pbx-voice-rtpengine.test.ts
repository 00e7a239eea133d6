// Issue 15 item 4, lab acceptance: the voice quality of a PBX's real call, as the
// shipped agent learns it from rtpengine's RTCP over HEP, against ground truth.
//
//   A 198.18.0.1  probe call 1001 → 1002 (RTCP SR/RR every 2.5-7.5 s)
//        │
//   R    iptables FORWARD: 5 % of A → B RTP (even relay ports) dropped, counted
//        198.18.0.5  probe answer = extension 1002 (SIPp registers it, Contact → its port)
//        │
//   B 198.18.0.6  Kamailio (lab kamailio.cfg, rtpengine_manage, SIP mirrored over HEP to
//                 127.0.0.1:9060) + rtpengine --homer=127.0.0.1:9060 (RTCP of every
//                 relayed call as HEP type 5, Call-ID as correlation id) + `probe agent`
//                 from a config file with sources.hep = 127.0.0.1:9060
//
// The PBX stack runs inside B (its own 127.0.0.1), so nothing clashes with the lab on
// the root namespace's loopback. The lossy leg is caller → relay: the relay forwards
// the gaps, the callee counts them (RFC 3550) and its RTCP RR, relayed by rtpengine,
// tells the agent. rtpengine keeps its default --delete-delay (30 s) as in
// production, so the endpoints' RTCP BYE (sent after the SIP BYE) still reaches it.
import { mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { AnsweredCallReport } from '../../src/cli/answer.js';
import type { CallResult } from '../../src/probes/call/index.js';
import { computeQuality } from '../../src/quality/emodel.js';
import { addCountRule, addDropRule, nsExec, rulePackets, waitUdpBound } from '../lab/netns.js';
import { NsProcesses, ROOT, parseJson, probeCommand, useTopology } from './helpers/impairment.js';

const RELAY_PORTS: [number, number] = [20000, 20099];
const CALLEE_SIP = 5080;
const METRICS = 9464;
const HEP = 9060;
const DROP_P = 0.05;

const procs = new NsProcesses();
const topo = useTopology(procs);
const dir = mkdtempSync(join(tmpdir(), 'cp-pbxvoice-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** GET on the agent's metrics listener inside B (B's loopback is not the test's). */
async function agentGet(path: string): Promise<string> {
  return (await nsExec(topo.b, 'curl', ['-sf', '--max-time', '3', `http://127.0.0.1:${METRICS}${path}`])).stdout;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

/** rtpengine, Kamailio and the agent inside B; resolves when all three listen. */
async function startPbx(): Promise<void> {
  const b = topo.b;
  cpSync(join(ROOT, 'test/lab/kamailio.cfg'), join(dir, 'kamailio.cfg'));
  cpSync(join(ROOT, 'test/lab/dbtext'), join(dir, 'dbtext'), { recursive: true });
  procs.start(b, 'rtpengine', [
    '--config-file=none', '--foreground', '--log-stderr', '--table=-1',
    `--interface=${topo.addr.b}`, '--listen-ng=127.0.0.1:22222',
    `--port-min=${RELAY_PORTS[0]}`, `--port-max=${RELAY_PORTS[1]}`,
    `--homer=127.0.0.1:${HEP}`, '--homer-protocol=udp', '--homer-id=2001',
  ]);
  writeFileSync(join(dir, 'callprobe.yaml'), stringify({
    pbx: { uri: 'sip:127.0.0.1:5060', transport: 'udp' },
    listen: { metrics: `127.0.0.1:${METRICS}` },
    state_dir: join(dir, 'state'),
    sources: { hep: `127.0.0.1:${HEP}` },
  }));
  writeFileSync(join(dir, 'probes.yaml'), stringify({ probes: [{ name: 'opt', kind: 'options', interval: '1h' }] }));
  const [node, agentArgs] = probeCommand(['agent', '--config', join(dir, 'callprobe.yaml'), '--probes', join(dir, 'probes.yaml'), '--log-level', 'warn']);
  const agent = procs.start(b, node, agentArgs);
  await waitUdpBound(b, 22222);
  procs.start(b, 'kamailio', [
    '-f', join(dir, 'kamailio.cfg'), '-DD', '-E', '-m', '64', '-M', '8', '-P', join(dir, 'kamailio.pid'), '-Y', dir,
    '-A', `LAB_DBURL="text://${join(dir, 'dbtext')}"`, '-A', `LAB_CTL="unix:${join(dir, 'kamailio_ctl')}"`, '-A', 'WITH_RTPENGINE',
    '-l', `udp:${topo.addr.b}:5060`,
  ]);
  await waitUdpBound(b, 5060);
  await until('the agent to be ready', async () => ((await agentGet('/-/ready')) !== undefined ? true : undefined), 30_000).catch((err: unknown) => {
    throw new Error(`${String(err)}\nagent stderr: ${agent.stderr().slice(-2000)}`);
  });
}

describe('real-call voice quality from rtpengine RTCP over HEP (issue 15 item 4)', () => {
  it('5 % loss on the caller → relay leg: the agent’s lost packets match the iptables counter (±3), its MOS the E-model of that loss (±0.1)', async () => {
    const { a, r, addr } = topo;
    await startPbx();
    const match = { src: addr.a, dst: addr.b, dportMin: RELAY_PORTS[0], dportMax: RELAY_PORTS[1], evenPortsOnly: true };
    const count = await addCountRule(topo, match);
    const drop = await addDropRule(topo, match, DROP_P);

    // 1002 = `probe answer` in R, registered at Kamailio by SIPp with its Contact
    const answer = procs.startProbe(r, [
      'answer', '--bind', `${addr.rB}:${CALLEE_SIP}`, '--calls', '1', '--json', '--quiet', '--rtp-ports', '17000-17999', '--duration-max', '60s',
    ]);
    await waitUdpBound(r, CALLEE_SIP);
    const reg = procs.start(r, 'sipp', [
      `${addr.b}:5060`, '-sf', join(ROOT, 'test/lab/sipp/reg_auth.xml'), '-m', '1', '-i', addr.rB, '-p', '5071',
      '-s', '1002', '-au', '1002', '-ap', 'lab1002pw', '-key', 'contact_port', String(CALLEE_SIP), '-key', 'expires', '300', '-nostdin',
    ]);
    const regDone = await procs.finish(reg, 'SIPp REGISTER 1002', 15_000);
    expect(regDone.code, regDone.stderr).toBe(0);

    writeFileSync(join(dir, 'caller.yaml'), stringify({
      pbx: { uri: `sip:${addr.b}:5060`, transport: 'udp' },
      accounts: { '1001': { password: 'lab1001pw' } },
      allowed_destinations: ['1002'],
    }));
    const call = procs.startProbe(a, [
      'call', '1001', '1002', '--config', join(dir, 'caller.yaml'), '--local-address', addr.a,
      '--duration', '10s', '--json', '--loss-max', '100', '--mos-min', '1',
    ]);
    const callDone = await procs.finish(call, 'probe call', 40_000);
    const answerDone = await procs.finish(answer, 'probe answer', 10_000);
    const caller = parseJson<CallResult>(callDone.stdout, 'probe call');
    expect(caller.sip.final_status, callDone.stderr).toBe(200);
    const far = parseJson<AnsweredCallReport>(answerDone.stdout.trim().split('\n')[0] ?? '', 'probe answer');
    const sentOnWire = await rulePackets(count);
    const dropped = await rulePackets(drop);

    // the agent finishes a call a moment after its BYE (the endpoints' RTCP BYE come after it)
    const metrics = await until('the call’s two MOS observations', async () => {
      const m = await agentGet('/metrics');
      return metric(m, 'callprobe_pbx_call_mos_count') === 2 ? m : undefined;
    }, 15_000);
    const lost = metric(metrics, 'callprobe_pbx_rtp_packets_lost_total') ?? NaN;
    const mosSum = metric(metrics, 'callprobe_pbx_call_mos_sum') ?? NaN;
    const jitterReports = metric(metrics, 'callprobe_pbx_rtp_jitter_seconds_count') ?? NaN;
    // the clean direction (callee → caller, 0 lost) scores the E-model's no-loss MOS; delay: a
    // round trip on veths is far below the E-model's 100 ms knee
    const cleanMos = computeQuality({ codec: 'PCMA', lossPercent: 0, delayMs: 0 }).mos;
    const lossyMos = mosSum - cleanMos;
    const truthLoss = (100 * dropped) / sentOnWire;
    const truthMos = computeQuality({ codec: 'PCMA', lossPercent: truthLoss }).mos;
    console.log(
      `[pbx-voice] ${caller.media?.codec} call ${caller.sip.call_id}: caller sent ${sentOnWire} RTP packets to the relay, iptables dropped ${dropped} ` +
        `(${truthLoss.toFixed(2)} %), the callee counted ${far.packets_lost} lost of ${far.packets_received + far.packets_lost}; ` +
        `agent: lost ${lost}, ${jitterReports} report blocks, MOS sum ${mosSum} → lossy direction ${lossyMos.toFixed(2)} vs E-model of the drop counter ${truthMos}`,
    );

    expect(far.call_id).toBe(caller.sip.call_id);
    expect(dropped, '5 % of ~500 packets: the rule applied').toBeGreaterThan(5);
    expect(sentOnWire).toBeGreaterThan(400);
    // ±3: drops after the callee's last received packet cannot be counted (RFC 3550 A.3)
    expect(Math.abs(lost - dropped), `agent lost ${lost} vs iptables ${dropped}`).toBeLessThanOrEqual(3);
    expect(jitterReports, 'RR blocks of both directions arrived over HEP').toBeGreaterThanOrEqual(2);
    expect(Math.abs(lossyMos - truthMos), `lossy-direction MOS ${lossyMos} vs ${truthMos}`).toBeLessThanOrEqual(0.1);
    expect(lossyMos).toBeLessThan(cleanMos);
  }, 90_000);
});
