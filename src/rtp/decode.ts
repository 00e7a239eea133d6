// Payload → PCM decoders, one per received stream: a small registry keyed by codec name
// so a codec plugs in with one entry (Opus decodes to 16 kHz through opus.ts). Used by the receive-side audio tap
// (receive-streams.ts); nothing decodes when no tap is set.
import type { AudioCodec } from './codec.js';
import { decodeG711Into, type G711Codec } from './g711.js';
import { G722Decoder } from './g722.js';
import { OPUS_PCM_RATE, OpusDecoder } from './opus.js';

export interface PayloadDecoder {
  /** Output sample rate in Hz (8000 for G.711, 16000 for G.722 and Opus). */
  readonly sampleRate: number;
  /**
   * One RTP payload → mono 16-bit PCM at sampleRate. The array may be reused by the next
   * decode() of this decoder (G.711: no allocation per packet): a sink copies what it keeps.
   */
  decode(payload: Uint8Array): Int16Array;
}

/** A G.711 decoder that writes every packet into one buffer (grown for a larger packet). */
function g711(codec: G711Codec): PayloadDecoder {
  let out = new Int16Array(160);
  return {
    sampleRate: 8000,
    decode: (p) => {
      if (out.length < p.length) out = new Int16Array(p.length);
      return decodeG711Into(codec, p, out);
    },
  };
}

type DecoderFactory = () => PayloadDecoder;

const REGISTRY = new Map<string, DecoderFactory>([
  ['PCMU', () => g711('PCMU')],
  ['PCMA', () => g711('PCMA')],
  [
    'G722',
    () => {
      const d = new G722Decoder(); // stateful (ADPCM): one per stream
      return { sampleRate: 16000, decode: (p) => d.decode(p) };
    },
  ],
  [
    'OPUS',
    () => {
      const d = new OpusDecoder(); // stateful (PLC, prediction): one per stream; wasm loaded here, on first use
      return { sampleRate: OPUS_PCM_RATE, decode: (p) => d.decode(p) };
    },
  ],
]);

/** A fresh decoder for the codec (state is per stream), or undefined when none is registered. */
export function createDecoder(codec: AudioCodec | string): PayloadDecoder | undefined {
  return REGISTRY.get(codec.toUpperCase())?.();
}

/** Adds or replaces a codec's decoder factory. */
export function registerDecoder(codec: string, factory: DecoderFactory): void {
  REGISTRY.set(codec.toUpperCase(), factory);
}
