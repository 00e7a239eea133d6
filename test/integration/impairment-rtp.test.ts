// Issue 6, acceptance 1 and 2: media figures under REAL impairment.
//
//   A 198.18.0.1 --veth-- .2 R .5 --veth-- 198.18.0.6 B      (namespaces made here)
//
// Loss: an iptables `statistic` DROP rule (5 %) in R's FORWARD chain; its packet
// counter is the ground truth (no netem on this kernel, see docs/impairment.md).
// Delay/jitter: GStreamer netsim, uniform 30-50 ms on every packet.
// `probe rtp listen` runs in B; tshark captures B's veth as a second opinion.
// The two loss streams run at the same time, each to its own listener port with its
// own counting/drop rules and capture (loss figures are packet counts, not timing:
// 2 x 50 pps on a veth pair is no load); the jitter stream runs after them, alone.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { labWorkdir, rtpStreams, type RtpStreamRow } from '../lab/lab.js';
import {
  addCountRule,
  addDropRule,
  nsCapture,
  removeRule,
  rulePackets,
  waitUdpBound,
  type IptablesRule,
} from '../lab/netns.js';
import type { ListenResult, SendResult, StreamReport } from '../../src/rtp/listen-send.js';
import { gstSenderArgs, NsProcesses, parseJson, rtpSeqs, useTopology } from './helpers/impairment.js';

/** listener ports: the probe-sender loss stream, the gst loss stream (both at once), then the jitter stream */
const PORT = { lossProbe: 16000, lossGst: 16002, jitter: 16000 } as const;
const PACKETS = 1500; // 30 s at 20 ms: the acceptance figure
const DROP_P = 0.05;

const procs = new NsProcesses();
const topo = useTopology(procs);

interface Run {
  listen: StreamReport;
  tshark: RtpStreamRow;
  /** sequence numbers B's veth saw, in order */
  seqs: number[];
  sentOnWire: number;
  dropped: number;
}

/**
 * The two loss streams start sending only once both listeners are up, so that the
 * start-up of the other `probe rtp listen` (a node process: about a second of CPU)
 * does not overlap the probe sender's paced stream. A side that never arrives (its
 * setup failed: that test fails on its own) holds the other back at most `maxWaitMs`.
 */
function startGate(parties: number, maxWaitMs: number): () => Promise<void> {
  let arrived = 0;
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived >= parties) open();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([opened, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
  };
}
const lossGate = startGate(2, 20_000);

/**
 * Starts tshark + `probe rtp listen` in B, the counting and drop rules in R,
 * runs `sender` in A (after `opts.gate`, if any), and returns what each one saw.
 */
async function measure(
  label: string,
  port: number,
  sender: () => Promise<void>,
  opts: { drop: boolean; gate?: () => Promise<void> },
): Promise<Run> {
  const match = { src: topo.addr.a, dst: topo.addr.b, dportMin: port };
  const rules: IptablesRule[] = [];
  const count = await addCountRule(topo, match);
  rules.push(count);
  const drop = opts.drop ? await addDropRule(topo, match, DROP_P) : undefined;
  if (drop) rules.push(drop);
  const pcap = path.join(labWorkdir(), `impairment-${label}-${process.pid}.pcap`);
  const cap = await nsCapture(topo.b, topo.ifB, pcap, `udp dst port ${port}`);
  try {
    const listen = procs.startProbe(topo.b, [
      'rtp', 'listen', '--bind', `${topo.addr.b}:${port}`, '--duration', '60s', '--idle', '1500ms', '--json', '--quiet',
    ]);
    await waitUdpBound(topo.b, port);
    await opts.gate?.();
    await sender();
    const done = await procs.finish(listen, 'probe rtp listen', 15_000);
    expect(done.code, done.stderr).toBe(0);
    const result = parseJson<ListenResult>(done.stdout, 'probe rtp listen');
    expect(result.streams, 'one stream received').toHaveLength(1);
    const file = await cap.stop();
    const rows = (await rtpStreams(file, { decodeAs: [port] })).filter((r) => r.dstPort === port);
    expect(rows, 'tshark sees one stream to the listener').toHaveLength(1);
    return {
      listen: result.streams[0] as StreamReport,
      tshark: rows[0] as RtpStreamRow,
      seqs: await rtpSeqs(file, port),
      sentOnWire: await rulePackets(count),
      dropped: drop ? await rulePackets(drop) : 0,
    };
  } finally {
    await cap.stop();
    for (const r of rules) await removeRule(r);
  }
}

/** Packets that arrived after a higher sequence number (16-bit wrap aware). */
function behindHighest(seqs: number[]): number {
  let highest: number | undefined;
  let behind = 0;
  for (const seq of seqs) {
    if (highest === undefined || ((seq - highest) & 0xffff) < 0x8000) highest = seq;
    else behind++;
  }
  return behind;
}

/** Acceptance 1: lost == the drop rule's counter (and == tshark's Lost). */
function assertLoss(label: string, run: Run, sent: number): void {
  const { listen, tshark, dropped } = run;
  // RFC 3550 A.3 counts from the first to the last packet received: a packet
  // dropped before the first or after the last one is invisible to the receiver
  // (and to tshark). That happens with probability ~2 x 5 % per run.
  const edgeDrops = sent - listen.packets_received - listen.packets_lost;
  console.log(
    `[${label}] sent ${sent} (wire ${run.sentOnWire}), iptables dropped ${dropped} (${((dropped / sent) * 100).toFixed(2)} %), ` +
      `probe: received ${listen.packets_received} lost ${listen.packets_lost} (${listen.loss_percent} %) burst ${listen.burst_ratio} ` +
      `MOS ${listen.mos}; tshark: pkts ${tshark.packets} lost ${tshark.lost} (${tshark.lostPercent} %), ` +
      `seq ${run.seqs[0]}..${run.seqs[run.seqs.length - 1]}; edge drops ${edgeDrops}`,
  );
  expect(run.sentOnWire, 'every packet the sender sent reached R (counting rule)').toBe(sent);
  expect(listen.packets_received + dropped, 'received + dropped by iptables = sent: no other loss on the path').toBe(sent);
  expect(edgeDrops, 'drops at the very start/end of the stream (not countable by RFC 3550): at most 3').toBeLessThanOrEqual(3);
  expect(edgeDrops).toBeGreaterThanOrEqual(0);
  expect(
    listen.packets_lost,
    `probe's lost = iptables counter ${dropped} minus ${edgeDrops} drop(s) before the first / after the last received packet`,
  ).toBe(dropped - edgeDrops);
  expect(tshark.lost, "probe's lost = tshark's Lost on the same stream").toBe(listen.packets_lost);
  expect(tshark.packets, "probe's received = tshark's Pkts").toBe(listen.packets_received);
  expect(listen.duplicates + listen.out_of_order, 'no duplicates or reordering').toBe(0);
  // 5 % of 1500 = 75, sigma 8.4: a counter far outside means the rule did not apply
  expect(dropped).toBeGreaterThan(sent * DROP_P - 5 * Math.sqrt(sent * DROP_P * (1 - DROP_P)));
  expect(dropped).toBeLessThan(sent * DROP_P + 5 * Math.sqrt(sent * DROP_P * (1 - DROP_P)));
}

describe('impairment in network namespaces (iptables statistic loss, GStreamer netsim jitter)', () => {
  // concurrent: these two overlap (vitest runs adjacent it.concurrent together), the jitter test waits for both
  it.concurrent('acceptance 1: probe rtp send → 5 % iptables loss → probe rtp listen: lost == the rule counter == tshark', async () => {
    let send: SendResult | undefined;
    const run = await measure(
      'loss-probe',
      PORT.lossProbe,
      async () => {
        const p = procs.startProbe(topo.a, [
          'rtp', 'send', '--to', `${topo.addr.b}:${PORT.lossProbe}`, '--bind', `${topo.addr.a}:16010`,
          '--duration', `${(PACKETS * 20) / 1000}s`, '--codec', 'PCMA', '--json', '--quiet',
        ]);
        const done = await procs.finish(p, 'probe rtp send', 45_000);
        expect(done.code, done.stderr).toBe(0);
        send = parseJson<SendResult>(done.stdout, 'probe rtp send');
      },
      { drop: true, gate: lossGate },
    );
    const sent = send?.packets_sent ?? 0;
    // `rtp send` is duration-based (no packet count): the first packet waits for
    // the shared pacer's next tick, and a tick the pacer is too late for sends
    // nothing (a timestamp gap, not a lost sequence number). So 30 s gives
    // 1500 packets give or take a few; the loss check below uses the real count.
    console.log(`[probe sender] ${sent} packets, ${send?.send_skipped ?? 0} skipped ticks, send lateness p99 ${send?.send_lateness.p99_ms} ms`);
    expect(sent, `a ~${PACKETS}-packet (30 s) stream`).toBeGreaterThanOrEqual(PACKETS * 0.99);
    expect(sent).toBeLessThanOrEqual(PACKETS + 2);
    assertLoss('probe sender', run, sent);
  }, 60_000);

  it.concurrent('acceptance 1: GStreamer PCMA sender → 5 % iptables loss → probe rtp listen: lost == the rule counter == tshark', async () => {
    const run = await measure(
      'loss-gst',
      PORT.lossGst,
      async () => {
        const p = procs.start(topo.a, 'gst-launch-1.0', gstSenderArgs({
          host: topo.addr.b, port: PORT.lossGst, bindAddress: topo.addr.a, bindPort: 16012, packets: PACKETS,
        }));
        const done = await procs.finish(p, 'gst-launch-1.0', 45_000);
        expect(done.code, done.stderr).toBe(0);
      },
      { drop: true, gate: lossGate },
    );
    assertLoss('gst sender', run, PACKETS);
    // gst numbers its packets 0..1499: the edge drops are exactly the numbers
    // missing before the first and after the last packet B received
    const first = run.seqs[0] ?? 0;
    const last = run.seqs[run.seqs.length - 1] ?? 0;
    expect(first + (PACKETS - 1 - last), `edge drops: seq 0..${first - 1} and ${last + 1}..${PACKETS - 1}`).toBe(
      PACKETS - run.listen.packets_received - run.listen.packets_lost,
    );
    expect(run.listen.codec).toBe('PCMA');
  }, 60_000);

  it('acceptance 2: GStreamer netsim uniform 30-50 ms → probe rtp listen: mean jitter within 10 % of tshark, not below the discrete netsim E|D|', async () => {
    const packets = 1000; // 20 s: the mean settles well within 1 %
    const run = await measure(
      'jitter-gst',
      PORT.jitter,
      async () => {
        const p = procs.start(topo.a, 'gst-launch-1.0', gstSenderArgs({
          host: topo.addr.b, port: PORT.jitter, bindAddress: topo.addr.a, bindPort: 16014, packets, delayMs: [30, 50],
        }));
        const done = await procs.finish(p, 'gst-launch-1.0 (netsim)', 40_000);
        expect(done.code, done.stderr).toBe(0);
      },
      { drop: false },
    );
    const { listen, tshark } = run;
    // Uniform delay on [30, 50] ms = 40 ± j with j = 10 ms; at 20 ms spacing the RFC 3550
    // estimator converges to E|D| = 2j/3 = 6.67 ms for a continuous uniform. netsim draws whole
    // milliseconds (21 values), so what the wire carries is E|D| = (21² − 1)/(3·21) = 6.98 ms
    // (comparing with 6.67 left 5 % for the source's own pacing noise: a CI run at load 5 saw
    // 7.408 ms, tshark 7.415 ms, and failed at 11.1 %).
    const theory = (21 ** 2 - 1) / (3 * 21);
    console.log(
      `[jitter] received ${listen.packets_received}/${packets}, out of order ${listen.out_of_order} ` +
        `(capture order: ${behindHighest(run.seqs)}), probe mean jitter ${listen.jitter_mean_ms} ms ` +
        `(final ${listen.jitter_ms}, max ${listen.jitter_max_ms}), tshark mean ${tshark.meanJitter} ms (max ${tshark.maxJitter}), ` +
        `theory (discrete netsim) ${theory.toFixed(2)} ms, continuous 2j/3 = 6.67 ms`,
    );
    // ±10 ms at 20 ms spacing reorders only a 50 ms / 30 ms pair that ties and is
    // tipped by the live source's own pacing noise (4 of 1000 in one CI run, 0-2
    // usually): how many is the machine's luck, so the check is against the
    // packets' arrival order on B's wire, where tshark saw them
    expect(listen.out_of_order, 'reordered: packets behind the highest sequence number so far, in capture order').toBe(
      behindHighest(run.seqs),
    );
    // netsim drops its last queued (delayed) packets at EOS: at most a few missing at the tail
    expect(listen.packets_received).toBeGreaterThanOrEqual(packets - 5);
    expect(listen.packets_lost, 'no loss configured').toBe(0);
    expect(Math.abs(listen.jitter_mean_ms - tshark.meanJitter) / tshark.meanJitter, 'probe vs tshark mean jitter').toBeLessThan(0.1);
    // netsim delays inside the gst sender process: that process's own lateness on a loaded CPU
    // adds to the configured variation (a run at load 7 measured 17.09 ms, tshark 17.11), it never
    // removes from it. So the configured impairment is a floor; above it, tshark is the reference.
    expect((listen.jitter_mean_ms - theory) / theory, 'probe mean jitter vs the discrete netsim E|D| (floor)').toBeGreaterThan(-0.1);
  }, 60_000);
});
