/**
 * Opus (RFC 6716) through opusscript, libopus 1.4 compiled to WebAssembly: no
 * native build, the same code on every Node 20 host (docs/decisions.md says why
 * not @discordjs/opus). The module (about 400 kB of wasm) is loaded on first use
 * only, so G.711/G.722 calls never pay for it.
 *
 * What we send: mono, 16 kHz input (the 8 kHz source upsampled like G.722's),
 * wideband (OPUS_SET_MAX_BANDWIDTH = WB, 50–7000 Hz), VBR at OPUS_BITRATE bit/s,
 * complexity 5 (the whole 4 s source is encoded once before the call, ~50 ms).
 * The RTP clock is 48000 whatever the bandwidth (RFC 7587 §4.1).
 */
import { createRequire } from 'node:module';
import type OpusScriptType from 'opusscript';

/** Target bitrate of the frames we send (bit/s): the row of the E-model table we use (quality/codecs.ts). */
export const OPUS_BITRATE = 13000;
/** Sampling rate we feed the encoder and read from the decoder. */
export const OPUS_PCM_RATE = 16000;

// libopus CTL request numbers (opus_defines.h).
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_MAX_BANDWIDTH = 4004;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_BANDWIDTH_WIDEBAND = 1103;
const OPUS_APPLICATION_VOIP = 2048;

type OpusScriptCtor = typeof OpusScriptType;
let ctor: OpusScriptCtor | undefined;

function opusScript(): OpusScriptCtor {
  ctor ??= createRequire(import.meta.url)('opusscript') as OpusScriptCtor;
  return ctor;
}

function pcmBytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** One Opus encoder (mono, 16 kHz in). Call close() to free its wasm memory. */
export class OpusEncoder {
  private readonly enc: OpusScriptType;

  constructor(bitrate = OPUS_BITRATE) {
    const OpusScript = opusScript();
    this.enc = new OpusScript(OPUS_PCM_RATE, 1, OPUS_APPLICATION_VOIP);
    this.enc.encoderCTL(OPUS_SET_COMPLEXITY, 5);
    this.enc.encoderCTL(OPUS_SET_MAX_BANDWIDTH, OPUS_BANDWIDTH_WIDEBAND);
    this.enc.encoderCTL(OPUS_SET_BITRATE, bitrate);
  }

  /** One frame of 16 kHz samples (2.5–60 ms: 40, 80, 160, 320, 640 or 960 samples) to one Opus packet. */
  encode(frame: Int16Array): Uint8Array {
    return new Uint8Array(this.enc.encode(pcmBytes(frame), frame.length));
  }

  close(): void {
    this.enc.delete();
  }
}

/** Frees a decoder's wasm memory when its owner is collected without close() (one per received stream). */
const unclosed = new FinalizationRegistry<OpusScriptType>((dec) => dec.delete());

/** One Opus decoder to 16 kHz mono. close() frees its wasm memory (else garbage collection does). */
export class OpusDecoder {
  private readonly dec: OpusScriptType;

  constructor() {
    const OpusScript = opusScript();
    this.dec = new OpusScript(OPUS_PCM_RATE, 1, OPUS_APPLICATION_VOIP);
    unclosed.register(this, this.dec, this);
  }

  /** One Opus packet to 16 kHz samples; throws on a malformed packet. */
  decode(packet: Uint8Array): Int16Array {
    const out = this.dec.decode(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    const copy = new Int16Array(out.length / 2);
    for (let i = 0; i < copy.length; i++) copy[i] = out.readInt16LE(2 * i);
    return copy;
  }

  close(): void {
    unclosed.unregister(this);
    this.dec.delete();
  }
}

/** RFC 6716 §3.1 TOC byte: the audio bandwidth a packet was coded with. */
export function opusBandwidth(packet: Uint8Array): 'NB' | 'MB' | 'WB' | 'SWB' | 'FB' | undefined {
  const toc = packet[0];
  if (toc === undefined) return undefined;
  const config = toc >> 3;
  if (config < 12) return (['NB', 'MB', 'WB'] as const)[Math.floor(config / 4)];
  if (config < 16) return config < 14 ? 'SWB' : 'FB';
  return (['NB', 'WB', 'SWB', 'FB'] as const)[Math.floor((config - 16) / 4)];
}
