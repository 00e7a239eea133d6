/**
 * RTP scale benchmark: N RtpSessions in one process (N/2 loopback pairs, so
 * every session both sends and receives one G.711 stream with RFC 3550
 * statistics), on the shared pacer, for a fixed measurement window.
 * Reports CPU per stream-second (process.cpuUsage), pacer send lateness as
 * |send time − deadline| (early sends count as much as late ones),
 * self-inflicted loss (packets sent in the window that the peer never
 * received, PLUS every pacer tick skipped in the window: a packet the pacer
 * never sent is lost as surely as a dropped one, even though its sequence
 * number shows no gap; ticks the pacer caught up after a stall, sent late but
 * sent, are counted apart and their lateness is in the histogram), kernel UDP receive-buffer drops, RSS and receive
 * jitter. 127.0.0.1 only.
 */
import { readFileSync } from 'node:fs';
import { sharedPacer } from '../src/rtp/pacer.js';
import { bindPair, type PortPair } from '../src/rtp/ports.js';
import { RtpSession } from '../src/rtp/session.js';
import { SharedPort } from '../src/rtp/shared-port.js';

export interface ScaleRun {
  streams: number;
  pairs: number;
  window_s: number;
  cpu_s: number;
  cpu_ms_per_stream_second: number;
  /** |send time − deadline| over the window. */
  send_lateness_abs_ms: { p50: number; p99: number; max: number; count: number };
  /** Ticks the pacer skipped in the window (part of self_inflicted_loss). */
  pacer_skipped_ticks: number;
  /** Ticks sent more than one ptime late (caught up after a stall, within the pacer's catchUpMs): jitter, not loss. */
  pacer_caught_up_ticks: number;
  packets_sent: number;
  packets_received: number;
  /** Sent but never received by the peer (whole run, warm-up included). */
  packets_lost: number;
  /** packets_lost + pacer_skipped_ticks. */
  self_inflicted_loss: number;
  /** per-socket: one RTP/RTCP pair per session; shared-port: each side's sessions on one pair. */
  mode: 'per-socket' | 'shared-port';
  /** shared-port: datagrams the demultiplexer matched to no session (should be 0). */
  demux_unmatched?: number;
  kernel_udp_rcvbuf_errors: number;
  /** Receive jitter (RFC 3550, as seen inside this busy process): mean over streams of each stream's mean, and the max. */
  jitter_ms: { mean: number; max: number };
  rss_mb: number;
  loadavg_1m_after: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const [head, values] = lines;
    if (!head || !values) return 0;
    const i = head.split(/\s+/).indexOf('RcvbufErrors');
    return Number(values.split(/\s+/)[i] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * `count` RTP/RTCP port pairs on 127.0.0.1 from 20000 up: clear of the lab's
 * RTP range (10000-19999, which the integration tests use meanwhile) and below
 * the kernel's ephemeral range (32768+). Ports in use are skipped.
 */
async function benchPorts(count: number): Promise<PortPair[]> {
  const ports: PortPair[] = [];
  for (let port = 20000; ports.length < count; port += 2) {
    if (port > 32766) throw new Error(`bench: not ${count} free port pairs in 20000-32767`);
    try {
      ports.push(await bindPair('127.0.0.1', port));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return ports;
}

/** Two shared ports (src/rtp/shared-port.ts) on 127.0.0.1 from 20000 up, the first free even pairs. */
async function sharedPorts(): Promise<[SharedPort, SharedPort]> {
  const found: SharedPort[] = [];
  for (let port = 20000; found.length < 2; port += 2) {
    if (port > 32766) throw new Error('bench: no two free port pairs in 20000-32767');
    try {
      found.push(await SharedPort.open({ address: '127.0.0.1', port, capacity: 100_000 }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return found as [SharedPort, SharedPort];
}

/**
 * N sessions as N/2 pairs; `shared`: side A's sessions all on one shared port, side
 * B's on another (agent-to-agent load: every stream of a side comes from one
 * address:port, told apart by the SSRC each session's remote names, as SDP a=ssrc would).
 */
export async function runScale(streams: number, windowMs: number, warmupMs = 2000, opts: { shared?: boolean } = {}): Promise<ScaleRun> {
  const pairs = Math.ceil(streams / 2);
  const shared = opts.shared ? await sharedPorts() : undefined;
  const ports = shared ? [] : await benchPorts(pairs * 2);
  const sessions: RtpSession[] = [];
  for (let i = 0; i < pairs; i++) {
    const pa = shared ? await shared[0].allocate() : (ports[2 * i] as PortPair);
    const pb = shared ? await shared[1].allocate() : (ports[2 * i + 1] as PortPair);
    const ssrcA = (0x1000_0000 + 2 * i) >>> 0;
    const ssrcB = (0x1000_0000 + 2 * i + 1) >>> 0;
    const a = new RtpSession({ ports: pa, ssrc: ssrcA, rtcpIntervalMs: 5000, remote: { address: '127.0.0.1', port: pb.rtpPort, ssrc: ssrcB } });
    const b = new RtpSession({ ports: pb, ssrc: ssrcB, rtcpIntervalMs: 5000, remote: { address: '127.0.0.1', port: pa.rtpPort, ssrc: ssrcA } });
    sessions.push(a, b);
  }
  // Calls start at random moments: spread the first packets over one ptime.
  for (const s of sessions) setTimeout(() => s.start(), Math.random() * 20);
  await sleep(warmupMs);

  const pacer = sharedPacer();
  // Counters only (no stats() snapshot: building 1000 of those is a stall of tens of ms
  // inside the window, whose skipped ticks would be the bench's own, not the engine's).
  const counters = (): { sent: number; received: number }[] => sessions.map((s) => ({ sent: s.sentPackets, received: s.receivedPackets }));
  const before = counters();
  pacer.resetLateness();

  const rcvbuf0 = udpRcvbufErrors();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(windowMs);
  const cpu = process.cpuUsage(cpu0);
  const windowS = (performance.now() - t0) / 1000;
  const lateness = pacer.lateness();
  const atEnd = counters();
  const rss = process.memoryUsage().rss;

  for (const s of sessions) s.stop();
  await sleep(200); // in-flight packets land
  let sent = 0;
  let received = 0;
  let lost = 0;
  let jitterSum = 0;
  let jitterMax = 0;
  sessions.forEach((s, i) => {
    const st = s.stats();
    const peer = sessions[i % 2 === 0 ? i + 1 : i - 1] as RtpSession;
    sent += (atEnd[i]?.sent ?? 0) - (before[i]?.sent ?? 0);
    received += (atEnd[i]?.received ?? 0) - (before[i]?.received ?? 0);
    // Over the whole run, warm-up included (conservative), after the in-flight packets landed.
    lost += Math.max(0, peer.stats().packets_sent - st.packets_received);
    for (const r of s.receivedStreams()) jitterSum += r.stats.jitterMeanMs;
    jitterMax = Math.max(jitterMax, st.jitter_max_ms);
  });
  const rcvbufErrors = udpRcvbufErrors() - rcvbuf0;
  const unmatched = shared ? shared[0].unmatched + shared[1].unmatched : 0;
  await Promise.all(sessions.map((s) => s.close()));
  if (shared) await Promise.all(shared.map((p) => p.close()));
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return {
    streams: sessions.length,
    pairs,
    window_s: Math.round(windowS * 1000) / 1000,
    cpu_s: Math.round(cpuS * 1000) / 1000,
    cpu_ms_per_stream_second: Math.round(((cpuS * 1000) / (sessions.length * windowS)) * 10000) / 10000,
    send_lateness_abs_ms: {
      p50: lateness.p50_ms,
      p99: lateness.p99_ms,
      max: Math.round(lateness.max_ms * 1000) / 1000,
      count: lateness.count,
    },
    pacer_skipped_ticks: lateness.skipped,
    pacer_caught_up_ticks: lateness.caught_up,
    packets_sent: sent,
    packets_received: received,
    packets_lost: lost,
    self_inflicted_loss: lost + lateness.skipped,
    ...(shared ? { mode: 'shared-port' as const, demux_unmatched: unmatched } : { mode: 'per-socket' as const }),
    kernel_udp_rcvbuf_errors: rcvbufErrors,
    jitter_ms: { mean: Math.round((jitterSum / sessions.length) * 1000) / 1000, max: jitterMax },
    rss_mb: Math.round((rss / 2 ** 20) * 10) / 10,
    loadavg_1m_after: (await import('node:os')).loadavg()[0] ?? 0,
  };
}

/**
 * Machine baseline measured in the same run: CPU of Node's own dgram for one
 * 172-byte send plus its receive on loopback (no RTP logic), in µs.
 */
export async function rawDgramCostUs(packets = 20_000): Promise<number> {
  const { createSocket } = await import('node:dgram');
  const a = createSocket('udp4');
  const b = createSocket('udp4');
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  const port = b.address().port;
  let got = 0;
  b.on('message', () => got++);
  const buf = Buffer.alloc(172);
  const cpu0 = process.cpuUsage();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const batch = (): void => {
      for (let k = 0; k < 20; k++) a.send(buf, port, '127.0.0.1');
      sent += 20;
      if (sent < packets) setImmediate(batch);
      else resolve();
    };
    batch();
  });
  const deadline = Date.now() + 2000;
  while (got < sent && Date.now() < deadline) await sleep(5);
  const cpu = process.cpuUsage(cpu0);
  a.close();
  b.close();
  return (cpu.user + cpu.system) / Math.max(1, got);
}
