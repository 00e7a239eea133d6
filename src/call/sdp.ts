// SDP offer/answer for test calls (RFC 3264), on sdp-transform.
// We offer G.711 (PCMU/PCMA, static payload types 0/8), G.722 (9, "G722/8000":
// its RTP clock is 8000 by RFC 3551 §4.5.2) and Opus (dynamic 111, "opus/48000/2",
// RFC 7587) plus RFC 4733 telephone-event at each clock rate offered (8000, and
// 48000 with Opus: §2.1 wants the events on the audio's clock), and answer with
// the first codec of the offer we support, with the offerer's payload type.
import { isIP } from 'node:net';
import sdpTransform from 'sdp-transform';
import { clockRateOf, codecOfPayloadType, codecOfRtpmap, payloadTypeOf, ptimesOf, sdpFormatOf, type AudioCodec } from '../rtp/codec.js';
import { formatSdesCrypto, parseSdesCrypto, type SdesCrypto } from '../rtp/srtp.js';

export const TELEPHONE_EVENT_PT = 101;
/** telephone-event/48000, offered next to Opus. */
export const TELEPHONE_EVENT_48K_PT = 110;

export interface MediaEndpoint {
  address: string;
  port: number;
  /** Negotiated codec, when known (answers; offers list several). */
  codec?: AudioCodec;
  payloadType?: number;
  telephoneEventPt?: number;
  ptimeMs: number;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  /** The m= line's transport protocol (RTP/AVP, RTP/SAVP, ...). */
  profile?: string;
  /** SDES keys (RFC 4568) of the m= line we can use, in the peer's order. */
  crypto?: SdesCrypto[];
}

/** How an offer or answer protects its media: the m= profile and the a=crypto lines (RFC 4568). */
export interface MediaSecurity {
  profile: string;
  crypto: readonly SdesCrypto[];
}

export type SdpError = { code: 'E_SDP'; message: string };

let sessionCounter = Math.floor(Date.now() / 1000);

interface Payload {
  pt: number;
  codec: string;
  rate: number;
  channels?: number;
  fmtp?: string;
}

function codecPayload(codec: AudioCodec, pt = payloadTypeOf(codec)): Payload {
  const f = sdpFormatOf(codec);
  return { pt, codec: f.encodingName, rate: f.clockRate, ...(f.channels !== undefined ? { channels: f.channels } : {}), ...(f.fmtp !== undefined ? { fmtp: f.fmtp } : {}) };
}

function eventPayload(pt: number, rate: number): Payload {
  return { pt, codec: 'telephone-event', rate, fmtp: '0-16' };
}

function describe(address: string, port: number, payloads: Payload[], ptimeMs: number, direction: MediaEndpoint['direction'], security?: MediaSecurity): string {
  const v6 = address.includes(':');
  sessionCounter += 1;
  const session = {
    version: 0,
    origin: { username: 'callprobe', sessionId: sessionCounter, sessionVersion: 1, netType: 'IN', ipVer: v6 ? 6 : 4, address },
    name: 'callprobe',
    connection: { version: v6 ? 6 : 4, ip: address },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port,
        protocol: security?.profile ?? 'RTP/AVP',
        payloads: payloads.map((p) => p.pt).join(' '),
        rtp: payloads.map((p) => ({ payload: p.pt, codec: p.codec, rate: p.rate, ...(p.channels !== undefined ? { encoding: p.channels } : {}) })),
        fmtp: payloads.filter((p) => p.fmtp).map((p) => ({ payload: p.pt, config: p.fmtp as string })),
        ptime: ptimeMs,
        direction,
        ...(security && security.crypto.length > 0
          ? { crypto: security.crypto.map((c) => ({ id: c.tag, suite: c.suite, config: formatSdesCrypto(c).split(' ')[2] ?? '' })) }
          : {}),
      },
    ],
  };
  return sdpTransform.write(session as unknown as sdpTransform.SessionDescription);
}

/** An offer listing `codecs` in preference order plus telephone-event. */
export function buildOffer(
  address: string,
  port: number,
  codecs: readonly AudioCodec[],
  ptimeMs = 20,
  direction: MediaEndpoint['direction'] = 'sendrecv',
  security?: MediaSecurity,
): string {
  return describe(
    address,
    port,
    [
      ...codecs.map((c) => codecPayload(c)),
      eventPayload(TELEPHONE_EVENT_PT, 8000),
      ...(codecs.some((c) => clockRateOf(c) === 48000) ? [eventPayload(TELEPHONE_EVENT_48K_PT, 48000)] : []),
    ],
    ptimeMs,
    direction,
    security,
  );
}

/** The answer for one chosen codec (and telephone-event when the offer had it). */
export function buildAnswer(address: string, port: number, chosen: MediaEndpoint, direction: MediaEndpoint['direction'] = 'sendrecv', security?: MediaSecurity): string {
  const codec = chosen.codec ?? 'PCMU';
  const payloads: Payload[] = [codecPayload(codec, chosen.payloadType)];
  if (chosen.telephoneEventPt !== undefined) payloads.push(eventPayload(chosen.telephoneEventPt, clockRateOf(codec)));
  return describe(address, port, payloads, chosen.ptimeMs, direction, security);
}

/**
 * Reads the first audio stream of an SDP: where to send, which codec (the first
 * payload of the m= line we support, in the peer's order, restricted to `accept`).
 */
export function parseMediaEndpoint(sdp: string, accept: readonly AudioCodec[] = ['PCMU', 'PCMA']): MediaEndpoint | SdpError {
  let parsed: sdpTransform.SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp);
  } catch (err) {
    return { code: 'E_SDP', message: `unparseable SDP: ${(err as Error).message}` };
  }
  const audio = parsed.media?.find((m) => m.type === 'audio' && m.port !== 0);
  if (!audio) return { code: 'E_SDP', message: 'SDP has no active audio stream (m=audio with port > 0)' };
  if (!Number.isInteger(audio.port) || audio.port < 1 || audio.port > 65535) {
    return { code: 'E_SDP', message: `SDP m=audio port ${String(audio.port)} is not a UDP port (1-65535)` };
  }
  // sdp-transform turns "c=IN IP4 1" into the number 1: take the text and insist on an IP
  // address (RFC 4566 allows a host name; we would have to resolve a stranger's name to send RTP).
  const rawAddress = audio.connection?.ip ?? parsed.connection?.ip;
  if (rawAddress === undefined || String(rawAddress) === '') return { code: 'E_SDP', message: 'SDP has no connection address (c=)' };
  const address = String(rawAddress);
  if (isIP(address) === 0) return { code: 'E_SDP', message: `SDP connection address "${address.slice(0, 64)}" is not an IP address` };
  // The m= line's formats; an empty list is no payload type 0 (sdp-transform's parsePayloads('') is [0]).
  const order = String(audio.payloads ?? '')
    .split(' ')
    .filter((f) => /^\d{1,3}$/.test(f))
    .map(Number)
    .filter((pt) => pt <= 127);
  const rtpmap = new Map<number, { name: string; rate: number | undefined }>(audio.rtp.map((r) => [r.payload, { name: r.codec, rate: r.rate }]));
  let codec: AudioCodec | undefined;
  let payloadType: number | undefined;
  const events = new Map<number, number>(); // clock rate → first telephone-event payload type
  for (const pt of order) {
    const map = rtpmap.get(pt);
    if (map?.name.toLowerCase() === 'telephone-event') {
      if (!events.has(map.rate ?? 8000)) events.set(map.rate ?? 8000, pt);
      continue;
    }
    // Static payload types may come without an rtpmap (RFC 3551); dynamic ones need theirs.
    const c = map ? codecOfRtpmap(map.name, map.rate) : codecOfPayloadType(pt);
    if (c && accept.includes(c) && codec === undefined) {
      codec = c;
      payloadType = pt;
    }
  }
  // RFC 4733 §2.1: events run on the audio's clock; one at another rate is not usable.
  const telephoneEventPt = codec ? events.get(clockRateOf(codec)) : undefined;
  if (!codec || payloadType === undefined) {
    return { code: 'E_SDP', message: `no common codec: offered ${order.map((pt) => rtpmap.get(pt)?.name ?? pt).join(', ') || 'none'}, we accept ${accept.join(', ')}` };
  }
  // a=ptime is a preference (RFC 4566 §6): one the codec cannot carry (30 ms of Opus) falls back to 20.
  const wanted = Number(audio.ptime ?? 20);
  const ptime = ptimesOf(codec).includes(wanted) ? wanted : 20;
  const dir = audio.direction ?? parsed.direction ?? 'sendrecv';
  const crypto = (audio.crypto ?? []).flatMap((c) => {
    const usable = parseSdesCrypto(`${c.id} ${c.suite} ${c.config}${c.sessionConfig ? ` ${c.sessionConfig}` : ''}`);
    return usable ? [usable] : [];
  });
  return {
    address,
    port: audio.port,
    codec,
    payloadType,
    ...(telephoneEventPt !== undefined ? { telephoneEventPt } : {}),
    ptimeMs: ptime,
    direction: dir,
    profile: audio.protocol,
    crypto,
  };
}

export function isSdpError(x: MediaEndpoint | SdpError): x is SdpError {
  return (x as SdpError).code === 'E_SDP';
}

const MIRROR: Record<MediaEndpoint['direction'], MediaEndpoint['direction']> = {
  sendrecv: 'sendrecv',
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
};

/**
 * Our answer to a re-offer in an established call (RFC 3264 §8): our last SDP with
 * the direction mirrored (§6.1: sendonly → recvonly for a hold, back to sendrecv on
 * unhold) and the o= version incremented only when the answer changed (§8: a
 * session refresh gets the same version back).
 */
export function answerReoffer(ourLast: string, offered: MediaEndpoint['direction']): string {
  const parsed = sdpTransform.parse(ourLast);
  const audio = parsed.media.find((m) => m.type === 'audio');
  const before = audio?.direction ?? parsed.direction ?? 'sendrecv';
  const wanted = MIRROR[offered];
  if (!audio || before === wanted) return ourLast;
  audio.direction = wanted;
  delete parsed.direction;
  if (parsed.origin) parsed.origin.sessionVersion += 1;
  return sdpTransform.write(parsed);
}
