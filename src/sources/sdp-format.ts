// The audio format of a call as its SDP says (RFC 4566 m= and a=rtpmap, RFC 3551
// static payload types): what a passive observer needs to read RTCP jitter, which is
// in RTP timestamp units of the stream's clock (RFC 3550 A.8). Never throws.

export interface AudioFormat {
  payloadType: number;
  /** Encoding name as in a=rtpmap (upper-cased for static types). */
  codec: string;
  /** RTP clock rate (Hz): 8000 for G.722 (RFC 3551 §4.5.2), 48000 for Opus (RFC 7587). */
  clockRate: number;
}

/** RFC 3551 Table 4: static audio payload types that a=rtpmap may leave out. */
const STATIC: ReadonlyMap<number, readonly [string, number]> = new Map([
  [0, ['PCMU', 8000]],
  [3, ['GSM', 8000]],
  [4, ['G723', 8000]],
  [8, ['PCMA', 8000]],
  [9, ['G722', 8000]],
  [18, ['G729', 8000]],
]);

const MAX_SDP = 16 * 1024;

/** The first payload type of the first audio m= line with a known clock, or undefined. */
export function sdpAudioFormat(sdp: string): AudioFormat | undefined {
  if (sdp.length > MAX_SDP) return undefined;
  const lines = sdp.split(/\r?\n/);
  const m = lines.findIndex((l) => /^m=audio\s+\d+/.test(l));
  if (m < 0) return undefined;
  const pt = Number((lines[m] ?? '').trim().split(/\s+/)[3]);
  if (!Number.isInteger(pt) || pt < 0 || pt > 127) return undefined;
  for (const l of lines.slice(m + 1)) {
    if (l.startsWith('m=')) break;
    const map = /^a=rtpmap:(\d+)\s+([^/\s]+)\/(\d+)/.exec(l);
    if (map && Number(map[1]) === pt) {
      const clockRate = Number(map[3]);
      if (clockRate > 0 && clockRate <= 192_000) return { payloadType: pt, codec: map[2] ?? '', clockRate };
    }
  }
  const known = STATIC.get(pt);
  return known ? { payloadType: pt, codec: known[0], clockRate: known[1] } : undefined;
}
