// SDP for one audio stream (RFC 4566 / RFC 3264 offer-answer), over sdp-transform.
// buildAudioSdp() writes an offer or answer; parseAudioSdp() reads where the
// peer wants RTP and which payload types it accepts.
import sdpTransform from 'sdp-transform';

export type AudioCodec = 'PCMU' | 'PCMA';

/** RFC 3551 static payload types. */
export const STATIC_PT: Record<AudioCodec, number> = { PCMU: 0, PCMA: 8 };

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface AudioSdpOptions {
  /** Address the RTP socket listens on (c= and o=). */
  address: string;
  /** Even RTP port (RTCP is port + 1). */
  port: number;
  /** Codecs in preference order. */
  codecs: AudioCodec[];
  /** RFC 4733 telephone-event payload type (omit to not offer DTMF events). */
  telephoneEventPt?: number;
  ptimeMs?: number;
  direction?: Direction;
  sessionId?: number;
  sessionVersion?: number;
}

export function buildAudioSdp(o: AudioSdpOptions): string {
  const ipVer = o.address.includes(':') ? 6 : 4;
  const pts = o.codecs.map((c) => STATIC_PT[c]);
  const rtp: Array<{ payload: number; codec: string; rate: number }> = o.codecs.map((c) => ({ payload: STATIC_PT[c], codec: c, rate: 8000 }));
  const fmtp: Array<{ payload: number; config: string }> = [];
  if (o.telephoneEventPt !== undefined) {
    pts.push(o.telephoneEventPt);
    rtp.push({ payload: o.telephoneEventPt, codec: 'telephone-event', rate: 8000 });
    fmtp.push({ payload: o.telephoneEventPt, config: '0-16' });
  }
  const sessionId = o.sessionId ?? Math.floor(Math.random() * 1e9);
  return sdpTransform.write({
    version: 0,
    origin: { username: 'callprobe', sessionId, sessionVersion: o.sessionVersion ?? 1, netType: 'IN', ipVer, address: o.address },
    name: 'callprobe',
    connection: { version: ipVer, ip: o.address },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port: o.port,
        protocol: 'RTP/AVP',
        payloads: pts.join(' '),
        rtp,
        fmtp,
        ptime: o.ptimeMs ?? 20,
        direction: o.direction ?? 'sendrecv',
      },
    ],
  });
}

export interface RemoteAudio {
  /** Where to send RTP (media-level c= over session-level c=). */
  address: string;
  port: number;
  /** Offered/answered payload types in order, with codec names when known. */
  payloads: Array<{ pt: number; codec?: string; rate?: number }>;
  /** First G.711 codec in the list (what to send), if any. */
  codec?: AudioCodec;
  telephoneEventPt?: number;
  ptimeMs?: number;
  direction: Direction;
}

/** Reads the first audio m= line; null when there is none or the SDP does not parse. */
export function parseAudioSdp(sdp: string): RemoteAudio | null {
  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp);
  } catch {
    return null;
  }
  const m = parsed.media?.find((x) => x.type === 'audio');
  const address = m?.connection?.ip ?? parsed.connection?.ip;
  if (!m || !address || typeof m.port !== 'number') return null;
  const names = new Map<number, { codec: string; rate?: number }>();
  for (const r of m.rtp ?? []) names.set(r.payload, { codec: r.codec, ...(r.rate !== undefined ? { rate: r.rate } : {}) });
  const payloads = String(m.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n))
    .map((pt) => {
      const n = names.get(pt) ?? (pt === 0 ? { codec: 'PCMU', rate: 8000 } : pt === 8 ? { codec: 'PCMA', rate: 8000 } : undefined);
      return { pt, ...(n ? { codec: n.codec, ...(n.rate !== undefined ? { rate: n.rate } : {}) } : {}) };
    });
  const out: RemoteAudio = {
    address,
    port: m.port,
    payloads,
    direction: (m.direction ?? parsed.direction ?? 'sendrecv') as Direction,
  };
  const g711 = payloads.find((p) => p.codec?.toUpperCase() === 'PCMU' || p.codec?.toUpperCase() === 'PCMA');
  if (g711?.codec) out.codec = g711.codec.toUpperCase() as AudioCodec;
  const te = payloads.find((p) => p.codec?.toLowerCase() === 'telephone-event');
  if (te) out.telephoneEventPt = te.pt;
  if (typeof m.ptime === 'number') out.ptimeMs = m.ptime;
  return out;
}
