// Voice quality of the PBX's real calls, from the RTCP the media relay reports
// (HEP type 5, sources/rtcp-json.ts), joined to the call by Call-ID. Per call and
// direction (reporter SSRC → source SSRC): packets lost (cumulative, RFC 3550),
// interarrival jitter, round trip from LSR/DLSR (RFC 3550 §6.4.1), and at the
// call's end (BYE seen over HEP, or no report for `idleMs`) one E-model MOS
// (one-way delay = RTT / 2) per direction. Jitter is in RTP timestamp units of the
// call's clock and the MOS is the codec's: both from the call's SDP as the HEP stream
// showed it (media_format events: the answer, else the offer; G.722 8000 Hz per
// RFC 3551, Opus 48000 per RFC 7587), G.711 at 8000 Hz when no SDP was seen or its
// codec has no E-model entry. One format per call: a relay that transcodes gives its
// legs different clocks, and the report does not say which leg it is about. RFC 6035
// vq-rtcpxr PUBLISH reports in the HEP stream add their jitter and, at the
// call's end, the reporting endpoint's direction.
//
// The call's end: endpoints send their last RTCP (with BYE, RFC 3550 §6.6) as they
// hang up, i.e. just after the SIP BYE, and rtpengine still relays it (its
// --delete-delay keeps the call 30 s by default). So a call is finished `endGraceMs`
// after its BYE (by `sweep`, which the agent runs every second), and reports that
// arrive in between count for it. Reports of a call already finished are dropped
// (a bounded set of finished Call-IDs), never counted again as a new call.
// Loss for the E-model = cumulative lost over the freshest packet count of the
// source's own SRs in the call (what it had sent), else the last fraction lost.
//
// Bounded: at most `maxCalls` calls and 8 directions per call are tracked; the
// oldest call is finished early when a new one would exceed the cap.
import { Counter, Histogram } from 'prom-client';
import { BoundedMap } from '../analytics/lru.js';
import type { AnalyticsEvent, MediaFormatEvent, RtcpReportEvent, VqReportEvent } from '../analytics/events.js';
import { computeQuality } from '../quality/emodel.js';
import { findCodec } from '../quality/codecs.js';
import type { ProbeMetrics } from '../report/metrics.js';

/** Without an SDP: G.711, 8 kHz RTP clock (RTCP jitter is in timestamp units; the codec is not in the report). */
const DEFAULT_FORMAT = { codec: 'PCMA', clockRate: 8000 } as const;
const MAX_DIRECTIONS = 8;
/** MOS buckets dense around the runbooks' 3.5 line. */
export const MOS_BUCKETS = [1, 2, 2.5, 3, 3.25, 3.5, 3.75, 4, 4.2, 4.4, 4.5];
export const JITTER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2];

interface Direction {
  sourceSsrc: number;
  lastLost: number;
  lost: number;
  fractionLost: number;
  senderPackets: number | undefined;
  rttMs: number | undefined;
}

interface CallVoice {
  lastAt: number;
  /** The call's audio format (its SDP), and whether it came from an answer. */
  format: { codec: string; clockRate: number; answer: boolean } | undefined;
  /** When its BYE was seen. */
  endedAt: number | undefined;
  directions: Map<string, Direction>;
  /** Packets sent per SSRC, from that SSRC's own SRs (bounded like the directions). */
  sent: Map<number, number>;
}

/** The NTP "middle 32 bits" (RFC 3550 §6.4.1) of a Unix time in ms, in 1/65536 s. */
export function ntpMiddle(unixMs: number): number {
  const ntpSeconds = unixMs / 1000 + 2_208_988_800;
  return Math.floor(ntpSeconds * 65536) % 2 ** 32;
}

/** RTT in ms from a report block received at `atMs` (RFC 3550 §6.4.1: A − LSR − DLSR); undefined without an SR. */
export function roundTripMs(atMs: number, lsr: number, dlsr: number): number | undefined {
  if (lsr === 0) return undefined;
  const rtt = (ntpMiddle(atMs) - lsr - dlsr + 2 ** 32) % 2 ** 32;
  const ms = (rtt / 65536) * 1000;
  return ms < 10_000 ? ms : undefined;
}

/**
 * A direction's loss for the E-model: the cumulative count over what the source
 * sent (its SR's packet count) when an SR was seen, else the last fraction lost.
 */
export function lossPercent(d: Pick<Direction, 'lost' | 'senderPackets' | 'fractionLost'>): number {
  if (d.senderPackets !== undefined && d.senderPackets > 0) return Math.min(100, (100 * d.lost) / Math.max(d.senderPackets, d.lost));
  return d.fractionLost * 100;
}

/** The codec the E-model rates a call with: its SDP's when the model knows it, else G.711. */
export function modelCodec(codec: string | undefined): string {
  return codec !== undefined && findCodec(codec) !== undefined ? codec : DEFAULT_FORMAT.codec;
}

export class PbxVoice {
  readonly #calls: BoundedMap<string, CallVoice>;
  /** Call-IDs finished lately: their late reports are not a new call. */
  readonly #finished: BoundedMap<string, true>;
  readonly #lost: Counter;
  readonly #jitter: Histogram;
  readonly #mos: Histogram;

  constructor(
    metrics: ProbeMetrics,
    private readonly opts: { maxCalls?: number; idleMs?: number; endGraceMs?: number; now?: () => number } = {},
  ) {
    this.#calls = new BoundedMap(opts.maxCalls ?? 5000, (id, call) => this.#finish(id, call));
    this.#finished = new BoundedMap(opts.maxCalls ?? 5000);
    this.#lost = new Counter({
      name: 'callprobe_pbx_rtp_packets_lost_total',
      help: 'RTP packets lost in the PBX’s real calls, from the RTCP reports the media relay forwards over HEP (cumulative lost, RFC 3550).',
      registers: [metrics.registry],
    });
    this.#jitter = new Histogram({
      name: 'callprobe_pbx_rtp_jitter_seconds',
      help: 'Interarrival jitter (RFC 3550) in the RTCP reports of the PBX’s real calls, one observation per report block (on the call’s RTP clock from its SDP; 8 kHz without one).',
      buckets: JITTER_BUCKETS,
      registers: [metrics.registry],
    });
    this.#mos = new Histogram({
      name: 'callprobe_pbx_call_mos',
      help: 'E-model MOS (ITU-T G.107, or G.107.1 for G.722/Opus; the codec of the call’s SDP, G.711 without one) of each direction of the PBX’s real calls at their end, from the reported loss and round trip.',
      buckets: MOS_BUCKETS,
      registers: [metrics.registry],
    });
  }

  get calls(): number {
    return this.#calls.size;
  }

  observe(ev: AnalyticsEvent): void {
    if (ev.type === 'rtcp_report') this.#report(ev);
    else if (ev.type === 'vq_report') this.#vq(ev);
    else if (ev.type === 'media_format') this.#format(ev);
    else if (ev.type === 'call_end') {
      const call = this.#calls.peek(ev.callId);
      if (call !== undefined) call.endedAt ??= (this.opts.now ?? Date.now)();
    }
  }

  /**
   * Finishes calls `endGraceMs` (default 2 s) after their BYE, and calls without
   * a report for `idleMs` (a BYE the HEP stream never showed).
   */
  sweep(now: number): void {
    const idle = this.opts.idleMs ?? 120_000;
    const grace = this.opts.endGraceMs ?? 2000;
    for (const [id, call] of [...this.#calls.entries()]) {
      const ended = call.endedAt !== undefined && now - call.endedAt >= grace;
      if (!ended && now - call.lastAt < idle) continue;
      this.#calls.delete(id);
      this.#finish(id, call);
    }
  }

  /** The call's entry, created at its first event; undefined once it finished. */
  #call(callId: string, at: number): CallVoice | undefined {
    if (this.#finished.peek(callId) !== undefined) return undefined;
    let call = this.#calls.get(callId);
    if (call === undefined) {
      call = { lastAt: at, format: undefined, endedAt: undefined, directions: new Map(), sent: new Map() };
      this.#calls.set(callId, call);
    }
    call.lastAt = at;
    return call;
  }

  /** An SDP of the call: the answer's format wins over the offer's. */
  #format(ev: MediaFormatEvent): void {
    const call = this.#call(ev.callId, ev.at);
    if (call === undefined || (call.format?.answer === true && !ev.answer)) return;
    call.format = { codec: ev.codec, clockRate: ev.clockRate, answer: ev.answer };
  }

  #report(ev: RtcpReportEvent): void {
    const call = this.#call(ev.callId, ev.at);
    if (call === undefined) return;
    if (ev.reporterSsrc !== undefined && ev.reporterPackets !== undefined && (call.sent.has(ev.reporterSsrc) || call.sent.size < MAX_DIRECTIONS)) {
      call.sent.set(ev.reporterSsrc, Math.max(ev.reporterPackets, call.sent.get(ev.reporterSsrc) ?? 0));
    }
    const key = `${ev.reporterSsrc ?? ev.reporterIp ?? '?'}>${ev.sourceSsrc}`;
    let d = call.directions.get(key);
    if (d === undefined) {
      if (call.directions.size >= MAX_DIRECTIONS) return;
      d = { sourceSsrc: ev.sourceSsrc, lastLost: 0, lost: 0, fractionLost: 0, senderPackets: undefined, rttMs: undefined };
      call.directions.set(key, d);
    }
    const delta = ev.cumulativeLost - d.lastLost;
    if (delta > 0) this.#lost.inc(delta);
    d.lastLost = ev.cumulativeLost;
    d.lost = ev.cumulativeLost;
    d.fractionLost = ev.fractionLost;
    if (ev.senderPackets !== undefined) d.senderPackets = ev.senderPackets;
    d.rttMs = roundTripMs(ev.at, ev.lsr, ev.dlsr) ?? d.rttMs;
    this.#jitter.observe(ev.jitterUnits / (call.format?.clockRate ?? DEFAULT_FORMAT.clockRate));
  }

  /**
   * RFC 6035: a phone's own summary of what it received. Jitter is observed at
   * once; the session report (the call's end) gives that direction's MOS from
   * its loss and round trip (no packet counts in it: the lost counter is RTCP's).
   */
  #vq(ev: VqReportEvent): void {
    if (ev.jitterMs !== undefined) this.#jitter.observe(ev.jitterMs / 1000);
    if (!ev.final || ev.lossPercent === undefined) return;
    this.#mos.observe(computeQuality({ codec: 'PCMA', lossPercent: ev.lossPercent, delayMs: (ev.rttMs ?? 0) / 2 }).mos);
  }

  #finish(callId: string, call: CallVoice): void {
    this.#finished.set(callId, true);
    for (const d of call.directions.values()) {
      const sent = Math.max(call.sent.get(d.sourceSsrc) ?? 0, d.senderPackets ?? 0);
      const loss = lossPercent({ ...d, senderPackets: sent > 0 ? sent : undefined });
      const q = computeQuality({ codec: modelCodec(call.format?.codec), lossPercent: loss, delayMs: (d.rttMs ?? 0) / 2 });
      this.#mos.observe(q.mos);
    }
  }
}
