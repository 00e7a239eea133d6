/**
 * The audio codecs a test call can negotiate and send: G.711 (PCMU/PCMA, 8 kHz)
 * and G.722 (16 kHz audio, 64 kbit/s). All three have static RTP payload types
 * and an 8000 Hz RTP clock (G.722's clock rate is 8000 by RFC 3551 §4.5.2 although
 * it samples at 16 kHz), so packet timing and timestamps are the same for all.
 */
import type { G711Codec } from './g711.js';

export type AudioCodec = G711Codec | 'G722';

/** Every negotiable codec, in the default order of nothing: callers choose the order. */
export const AUDIO_CODECS: readonly AudioCodec[] = ['PCMU', 'PCMA', 'G722'];

const STATIC_PT: Record<AudioCodec, number> = { PCMU: 0, PCMA: 8, G722: 9 };

/** RFC 3551 static payload type of a codec. */
export function payloadTypeOf(codec: AudioCodec): number {
  return STATIC_PT[codec];
}

/** The codec of a static payload type we support, or undefined. */
export function codecOfPayloadType(pt: number): AudioCodec | undefined {
  return AUDIO_CODECS.find((c) => STATIC_PT[c] === pt);
}

/** The codec for an SDP rtpmap encoding name ("pcmu", "G722"), or undefined. */
export function codecOfName(name: string): AudioCodec | undefined {
  const upper = name.trim().toUpperCase();
  return AUDIO_CODECS.find((c) => c === upper);
}
