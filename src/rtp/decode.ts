// Payload → PCM decoders, one per received stream: a small registry keyed by codec name
// so a codec plugs in with one entry (Opus decodes to 16 kHz through opus.ts). Used by the receive-side audio tap
// (receive-streams.ts); nothing decodes when no tap is set.
import type { AudioCodec } from './codec.js';
import { decodeG711 } from './g711.js';
import { G722Decoder } from './g722.js';
import { OPUS_PCM_RATE, OpusDecoder } from './opus.js';

export interface PayloadDecoder {
  /** Output sample rate in Hz (8000 for G.711, 16000 for G.722 and Opus). */
  readonly sampleRate: number;
  /** One RTP payload → mono 16-bit PCM at sampleRate. */
  decode(payload: Uint8Array): Int16Array;
}

type DecoderFactory = () => PayloadDecoder;

const REGISTRY = new Map<string, DecoderFactory>([
  ['PCMU', () => ({ sampleRate: 8000, decode: (p) => decodeG711('PCMU', p) })],
  ['PCMA', () => ({ sampleRate: 8000, decode: (p) => decodeG711('PCMA', p) })],
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
