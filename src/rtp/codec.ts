/**
 * The audio codecs a test call can negotiate and send: G.711 (PCMU/PCMA, 8 kHz),
 * G.722 (16 kHz audio, 64 kbit/s) and Opus (RFC 6716/7587).
 *
 * G.711 and G.722 have static RTP payload types and an 8000 Hz RTP clock (G.722's
 * clock rate is 8000 by RFC 3551 §4.5.2 although it samples at 16 kHz). Opus has a
 * dynamic payload type (we offer 111, the far end's number wins) and a 48000 Hz RTP
 * clock whatever the audio bandwidth (RFC 7587 §4.1, `opus/48000/2` in SDP), so
 * every timestamp and jitter figure must use clockRateOf(codec), never 8000.
 */
import type { G711Codec } from './g711.js';

export type AudioCodec = G711Codec | 'G722' | 'opus';

/** Every negotiable codec, in the default order of nothing: callers choose the order. */
export const AUDIO_CODECS: readonly AudioCodec[] = ['PCMU', 'PCMA', 'G722', 'opus'];

interface CodecInfo {
  /** Static payload type, or the dynamic one we offer. */
  readonly pt: number;
  readonly dynamic: boolean;
  /** SDP rtpmap encoding name and clock rate (RTP timestamp units per second). */
  readonly encodingName: string;
  readonly clockRate: number;
  /** rtpmap encoding parameters (channels), when the format has them. */
  readonly channels?: number;
  /** Our a=fmtp for the format, when it has one. */
  readonly fmtp?: string;
  /** Packetisation times (ms) the codec can carry (Opus frames: 10, 20, 40, 60). */
  readonly ptimes: readonly number[];
}

const G711_PTIMES = [10, 20, 30, 40, 50, 60];

/** Opus dynamic payload type we offer (the common choice of WebRTC stacks; any 96–127 works). */
export const OPUS_PT = 111;

const INFO: Record<AudioCodec, CodecInfo> = {
  PCMU: { pt: 0, dynamic: false, encodingName: 'PCMU', clockRate: 8000, ptimes: G711_PTIMES },
  PCMA: { pt: 8, dynamic: false, encodingName: 'PCMA', clockRate: 8000, ptimes: G711_PTIMES },
  G722: { pt: 9, dynamic: false, encodingName: 'G722', clockRate: 8000, ptimes: G711_PTIMES },
  // RFC 7587 §6.1: always "opus/48000/2"; we send mono (stereo=0 is the default and says so).
  opus: { pt: OPUS_PT, dynamic: true, encodingName: 'opus', clockRate: 48000, channels: 2, fmtp: 'useinbandfec=0; stereo=0; sprop-stereo=0', ptimes: [10, 20, 40, 60] },
};

/** RFC 3551 static payload type of a codec, or the dynamic one we offer for it. */
export function payloadTypeOf(codec: AudioCodec): number {
  return INFO[codec].pt;
}

/** RTP clock rate (timestamp units per second) of a codec. */
export function clockRateOf(codec: AudioCodec): number {
  return INFO[codec].clockRate;
}

/** How a codec is written in SDP: rtpmap name, clock rate, channels and our fmtp. */
export function sdpFormatOf(codec: AudioCodec): { encodingName: string; clockRate: number; channels?: number; fmtp?: string } {
  const { encodingName, clockRate, channels, fmtp } = INFO[codec];
  return { encodingName, clockRate, ...(channels !== undefined ? { channels } : {}), ...(fmtp !== undefined ? { fmtp } : {}) };
}

/** Packetisation times (ms) the codec can carry. */
export function ptimesOf(codec: AudioCodec): readonly number[] {
  return INFO[codec].ptimes;
}

/** The codec of a static payload type we support, or undefined (dynamic types need the rtpmap). */
export function codecOfPayloadType(pt: number): AudioCodec | undefined {
  return AUDIO_CODECS.find((c) => !INFO[c].dynamic && INFO[c].pt === pt);
}

/** The codec for a name, case-insensitively ("pcmu", "G722", "OPUS"), or undefined. */
export function codecOfName(name: string): AudioCodec | undefined {
  const lower = name.trim().toLowerCase();
  return AUDIO_CODECS.find((c) => c.toLowerCase() === lower);
}

/**
 * The codec an SDP rtpmap entry names, when its clock rate is the codec's
 * ("opus/48000/2" is Opus, "G722/8000" is G.722; "opus/16000" is not a format we know).
 */
export function codecOfRtpmap(name: string, rate: number | undefined): AudioCodec | undefined {
  const codec = codecOfName(name);
  if (!codec) return undefined;
  return rate === undefined || rate === INFO[codec].clockRate ? codec : undefined;
}
