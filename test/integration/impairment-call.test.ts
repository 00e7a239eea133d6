// Issue 6, acceptance 3: a real SIP call between two agents through a router
// that loses 5 % of ONE direction's RTP.
//
//   A 198.18.0.1 (probe call --direct) --- R (iptables) --- 198.18.0.6 B (probe answer)
//
// The drop rule matches A→B UDP to B's RTP range, even ports only (RTP; the odd
// RTCP port of each pair passes). `probe answer` in B reports the caller→callee
// direction as measured at its receiver; the caller reports callee→caller.
import { describe, expect, it } from 'vitest';
import { computeQuality } from '../../src/quality/emodel.js';
import type { AnsweredCallReport } from '../../src/cli/answer.js';
import type { CallResult } from '../../src/probes/call/index.js';
import {
  addCountRule,
  addDropRule,
  rulePackets,
  waitUdpBound,
} from '../lab/netns.js';
import { NsProcesses, parseJson, useTopology } from './helpers/impairment.js';
import { roundingSteps } from '../rounding.js';

const SIP_PORT = 5080;
const B_RTP: [number, number] = [17000, 17999];
const DROP_P = 0.05;

const procs = new NsProcesses();
const topo = useTopology(procs);

describe('a call with 5 % loss on one direction (network namespaces)', () => {
  it('acceptance 3: the lossy direction matches the iptables counter, the other shows 0, MOS = E-model of the measured figures', async () => {
    const match = { src: topo.addr.a, dst: topo.addr.b, dportMin: B_RTP[0], dportMax: B_RTP[1], evenPortsOnly: true };
    const count = await addCountRule(topo, match);
    const drop = await addDropRule(topo, match, DROP_P);

    const answer = procs.startProbe(topo.b, [
      'answer', '--bind', `${topo.addr.b}:${SIP_PORT}`, '--calls', '1', '--json', '--quiet',
      '--rtp-ports', `${B_RTP[0]}-${B_RTP[1]}`, '--duration-max', '30s',
    ]);
    await waitUdpBound(topo.b, SIP_PORT);
    const call = procs.startProbe(topo.a, [
      'call', 'me', 'demo', '--direct', `sip:demo@${topo.addr.b}:${SIP_PORT}`, '--local-address', topo.addr.a,
      '--duration', '10s', '--json', '--loss-max', '100', '--mos-min', '1',
    ]);
    const callDone = await procs.finish(call, 'probe call', 30_000);
    const answerDone = await procs.finish(answer, 'probe answer', 10_000);
    expect(answerDone.code, answerDone.stderr).toBe(0);
    const caller = parseJson<CallResult>(callDone.stdout, 'probe call');
    expect(caller.failures, callDone.stderr).toEqual([]);
    expect(callDone.code).toBe(0);
    const lines = answerDone.stdout.trim().split('\n');
    expect(lines, 'one JSON line per call').toHaveLength(1);
    const far = parseJson<AnsweredCallReport>(lines[0] ?? '', 'probe answer');

    const sentOnWire = await rulePackets(count);
    const dropped = await rulePackets(drop);
    const toCallee = caller.media?.directions.find((d) => d.direction === 'caller_to_callee');
    const toCaller = caller.media?.directions.find((d) => d.direction === 'callee_to_caller');
    const codec = caller.media?.codec ?? 'PCMU';
    const sent = toCallee?.packets_sent ?? 0;
    const edgeDrops = sent - far.packets_received - far.packets_lost;
    console.log(
      `[call] ${codec} ${caller.media?.duration_s} s, rtt ${caller.media?.rtt_ms} ms\n` +
        `  caller→callee (probe answer in B): sent ${sent} (wire ${sentOnWire}), iptables dropped ${dropped}, ` +
        `received ${far.packets_received}, lost ${far.packets_lost} (${far.loss_percent} %), burst ${far.burst_ratio}, ` +
        `jitter ${far.jitter_ms}/${far.jitter_mean_ms} ms, R ${far.r_factor}, MOS ${far.mos}; caller's RTCP view: lost ${toCallee?.packets_lost}\n` +
        `  callee→caller (probe call in A): received ${toCaller?.packets_received}, lost ${toCaller?.packets_lost}, ` +
        `jitter ${toCaller?.jitter_ms}/${toCaller?.jitter_mean_ms} ms, R ${toCaller?.r_factor}, MOS ${toCaller?.mos}`,
    );

    // the lossy direction: what B measured == what R dropped
    expect(far.call_id).toBe(caller.sip.call_id);
    expect(far.codec).toBe(codec);
    expect(sentOnWire, "every RTP packet the caller sent reached R").toBe(sent);
    expect(far.packets_received + dropped, 'received + dropped = sent: no other loss').toBe(sent);
    expect(edgeDrops, 'drops before the first / after the last received packet (uncountable by RFC 3550): at most 3').toBeLessThanOrEqual(3);
    expect(far.packets_lost, `lost = iptables counter ${dropped} minus ${edgeDrops} edge drop(s)`).toBe(dropped - edgeDrops);
    expect(dropped, '5 % of ~500 packets: the rule applied').toBeGreaterThan(0);

    // the other direction: untouched
    expect(toCaller?.measured_by).toBe('receiver');
    expect(toCaller?.packets_lost).toBe(0);
    expect(toCaller?.packets_received ?? 0).toBeGreaterThan(400);

    // MOS per direction = G.107 applied to that direction's measured loss and burst
    // ratio (delay rtt/2, below 100 ms: no delay impairment). burst_ratio is printed
    // with 3 decimals, hence the 0.01 tolerance.
    const expected = far.packets_received + far.packets_lost;
    const farQ = computeQuality({
      codec,
      lossPercent: expected > 0 ? (far.packets_lost / expected) * 100 : 0,
      burstRatio: far.burst_ratio,
      delayMs: (far.rtt_ms ?? 0) / 2,
    });
    // Both sides are rounded (MOS and R to 2 decimals): count rounding steps, not float differences.
    expect(roundingSteps(far.mos, farQ.mos, 2), `caller→callee MOS ${far.mos} vs E-model ${farQ.mos}`).toBeLessThanOrEqual(1);
    expect(roundingSteps(far.r_factor, farQ.r_factor, 2), `caller→callee R ${far.r_factor} vs E-model ${farQ.r_factor}`).toBeLessThanOrEqual(10);
    const backQ = computeQuality({ codec, lossPercent: 0, burstRatio: toCaller?.burst_ratio ?? 1, delayMs: (caller.media?.rtt_ms ?? 0) / 2 });
    expect(toCaller?.mos, 'callee→caller MOS = E-model with 0 loss').toBe(backQ.mos);
    expect(far.mos, 'the lossy direction scores lower').toBeLessThan(backQ.mos);
  }, 45_000);
});
