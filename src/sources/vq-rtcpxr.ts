// RFC 6035 voice-quality reports: a phone (or SBC) sends SIP PUBLISH with
// `Event: vq-rtcpxr` and an `application/vq-rtcpxr` body at the end of a call
// (VQSessionReport: CallTerm) or during it (VQIntervalReport). When such a
// PUBLISH is in the HEP stream, its metrics become a `vq_report` event, joined
// to the call by the body's CallID. Values (RFC 6035 §4.7):
//   PacketLoss: NLR=<network loss rate, %>   Delay: RTD=<round trip, ms> IAJ=<interarrival jitter, ms>
//   QualityEst: MOSLQ=<listening MOS> MOSCQ=<conversational MOS>
// Only LocalMetrics (what the reporting endpoint received) are read.
import type { VqReportEvent } from '../analytics/events.js';

const MAX_BODY = 8 * 1024;

function num(fields: Map<string, string>, key: string): number | undefined {
  const v = fields.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The body of a vq-rtcpxr PUBLISH → one event, or undefined when it is not one. */
export function parseVqRtcpxr(body: string, meta: { at: number; source?: string; ip?: string }): VqReportEvent | undefined {
  if (body.length > MAX_BODY) return undefined;
  const lines = body.split(/\r?\n/);
  const kind = /^VQ(Session|Interval|Alert)Report\s*:\s*(\S*)/.exec(lines[0]?.trim() ?? '');
  if (!kind) return undefined;
  let callId: string | undefined;
  let inLocal = false;
  const fields = new Map<string, string>();
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    const m = /^([A-Za-z]+)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, name = '', value = ''] = m;
    if (name === 'CallID') callId = value.trim();
    else if (name === 'LocalMetrics') inLocal = true;
    else if (name === 'RemoteMetrics') inLocal = false;
    else if (inLocal) for (const kv of value.matchAll(/([A-Za-z]+)=("[^"]*"|\S+)/g)) fields.set(`${name}.${kv[1] ?? ''}`, kv[2] ?? '');
  }
  if (callId === undefined || callId === '' || callId.length > 256) return undefined;
  const loss = num(fields, 'PacketLoss.NLR');
  const ev: VqReportEvent = {
    type: 'vq_report',
    source: meta.source ?? 'hep',
    at: meta.at,
    callId,
    final: kind[1] === 'Session',
    ...(meta.ip !== undefined ? { reporterIp: meta.ip } : {}),
  };
  if (loss !== undefined && loss >= 0 && loss <= 100) ev.lossPercent = loss;
  const rtd = num(fields, 'Delay.RTD');
  if (rtd !== undefined && rtd >= 0 && rtd < 60_000) ev.rttMs = rtd;
  const iaj = num(fields, 'Delay.IAJ');
  if (iaj !== undefined && iaj >= 0 && iaj < 60_000) ev.jitterMs = iaj;
  const mos = num(fields, 'QualityEst.MOSLQ');
  if (mos !== undefined && mos >= 1 && mos <= 5) ev.reportedMos = mos;
  return ev;
}
