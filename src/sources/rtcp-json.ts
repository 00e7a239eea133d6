// HEP payload type 5 from rtpengine (`--homer=IP:PORT --homer-protocol=udp
// --homer-id=N`): every RTCP compound packet it relays, as one JSON object,
// with the call's Call-ID in the HEP correlation id (chunk 17). Shape (from
// rtpengine's daemon/rtcp.c homer handlers):
//
//   { "sender_information": { "ntp_timestamp_sec", "ntp_timestamp_usec", "octets", "rtp_timestamp", "packets" },
//     "ssrc": <sender of this RTCP>, "type": 200|201, "report_count": n,
//     "report_blocks": [ { "source_ssrc", "highest_seq_no", "fraction_lost" (0..255), "ia_jitter",
//                          "packets_lost", "lsr", "dlsr" } ],
//     "sdes_report_count": n, "sdes_information": [ ... ] }
//
// Parsing never throws; a payload that is not such an object gives no events.
import type { RtcpReportEvent } from '../analytics/events.js';

const MAX_JSON_BYTES = 16 * 1024;
const MAX_BLOCKS = 31; // RFC 3550: the 5-bit report count

function u32(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
}

export interface RtcpJsonMeta {
  at: number;
  callId: string;
  srcIp?: string;
  source?: string;
}

/** Report blocks of one rtpengine RTCP JSON payload → events (the SR's packet count is kept per sender SSRC by the caller). */
export function rtcpJsonToEvents(payload: Buffer, meta: RtcpJsonMeta): { events: RtcpReportEvent[]; sender?: { ssrc: number; packets: number } } {
  if (payload.length > MAX_JSON_BYTES || payload[0] !== 0x7b /* { */) return { events: [] };
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return { events: [] };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { events: [] };
  const o = v as Record<string, unknown>;
  const reporter = u32(o.ssrc);
  const si = o.sender_information;
  const senderPackets = typeof si === 'object' && si !== null ? u32((si as Record<string, unknown>).packets) : undefined;
  const events: RtcpReportEvent[] = [];
  const blocks = Array.isArray(o.report_blocks) ? o.report_blocks.slice(0, MAX_BLOCKS) : [];
  for (const b of blocks) {
    if (typeof b !== 'object' || b === null) continue;
    const r = b as Record<string, unknown>;
    const sourceSsrc = u32(r.source_ssrc);
    const fraction = u32(r.fraction_lost);
    const lost = u32(r.packets_lost);
    const jitter = u32(r.ia_jitter);
    if (sourceSsrc === undefined || fraction === undefined || fraction > 255 || lost === undefined || jitter === undefined) continue;
    const highestSeq = u32(r.highest_seq_no);
    events.push({
      type: 'rtcp_report',
      source: meta.source ?? 'hep',
      at: meta.at,
      callId: meta.callId,
      ...(meta.srcIp !== undefined ? { reporterIp: meta.srcIp } : {}),
      ...(reporter !== undefined ? { reporterSsrc: reporter } : {}),
      sourceSsrc,
      fractionLost: fraction / 256,
      // RFC 3550: a signed 24-bit count; duplicates can make it negative (0xFFFFxx)
      cumulativeLost: lost >= 0x800000 ? 0 : lost,
      jitterUnits: jitter,
      lsr: u32(r.lsr) ?? 0,
      dlsr: u32(r.dlsr) ?? 0,
      ...(highestSeq !== undefined ? { highestSeq } : {}),
      ...(senderPackets !== undefined ? { reporterPackets: senderPackets } : {}),
    });
  }
  return { events, ...(reporter !== undefined && senderPackets !== undefined ? { sender: { ssrc: reporter, packets: senderPackets } } : {}) };
}
