// Codec impairment parameters for the E-model (ITU-T G.113 Appendix I; wideband: Appendix IV).
// Ie = equipment impairment factor, Bpl = packet-loss robustness factor.
// Only codecs with a value we can cite are listed; adding one needs a source.

export interface CodecImpairment {
  /** Canonical codec name as reported in results. */
  readonly name: string;
  /** Equipment impairment factor Ie (G.113 Table I.1). */
  readonly ie: number;
  /** Packet-loss robustness Bpl with packet loss concealment (G.113 Table I.3). */
  readonly bplWithPlc: number;
  /** Packet-loss robustness Bpl without concealment (G.113 Table I.3, G.711 "no PLC" row). */
  readonly bplWithoutPlc: number;
  /** Wideband (50–7000 Hz) codec: Ie and Bpl are on the G.107.1 scale (Ro,WB = 129). */
  readonly wideband?: boolean;
}

// G.711 (µ-law and A-law share the numbers): Ie 0; Bpl 25.1 with the G.711
// Appendix I PLC, 4.3 without. G.729A (+VAD): Ie 11, Bpl 19.0 (its PLC is part of
// the codec, so "no PLC" keeps the same Bpl).
const G711: Omit<CodecImpairment, 'name'> = { ie: 0, bplWithPlc: 25.1, bplWithoutPlc: 4.3 };
const G729A: Omit<CodecImpairment, 'name'> = { ie: 11, bplWithPlc: 19.0, bplWithoutPlc: 19.0 };

// G.722 at 64 kbit/s, wideband scale (G.113 Appendix IV, the wideband equipment
// impairment factors used with G.107.1): Ie,WB 13 (Table IV.1; not re-confirmed).
// Bpl,WB 24.4 is a placeholder with no source: a transcription of G.113 (09/2024)
// Table IV.4 lists Bpl,WB for AMR-WB only (docs/quality.md, "Sources of the wideband
// numbers"). It only matters under loss. Our receiver does not decode, so the PLC
// is the listener's, as for G.711.
const G722: Omit<CodecImpairment, 'name'> = { ie: 13, bplWithPlc: 24.4, bplWithoutPlc: 24.4, wideband: true };

// Opus, wideband (OPUS_SET_MAX_BANDWIDTH = WB), VBR at 13 kbit/s, the frames we send
// (src/rtp/opus.ts OPUS_BITRATE). G.113 has no Opus entry we could find; these are
// the values of Alahmadi, Počta & Melvin, "An Adaptive Bitrate Switching Algorithm
// for Speech Applications in Context of WebRTC", ACM TOMM 17(4) art. 133 (2021),
// WB VBR 13 kbit/s row: Ie,WB 19.96, Bpl,WB 19.50 (random loss), as published in the
// authors' MIT-licensed table (Opus_emodel.js). Provisional: derived by their
// instrumental/subjective tests, not an ITU-T planning value. Opus conceals loss
// itself, so "no PLC" keeps the same Bpl.
const OPUS_WB_13K: Omit<CodecImpairment, 'name'> = { ie: 19.96, bplWithPlc: 19.5, bplWithoutPlc: 19.5, wideband: true };

const CODECS: ReadonlyMap<string, CodecImpairment> = new Map([
  ['PCMU', { name: 'PCMU', ...G711 }],
  ['PCMA', { name: 'PCMA', ...G711 }],
  // G.729 and G.729A are one entry: on the wire both are PT 18 and G.113 gives
  // the loss robustness for G.729A.
  ['G729', { name: 'G729', ...G729A }],
  ['G729A', { name: 'G729A', ...G729A }],
  ['G722', { name: 'G722', ...G722 }],
  ['OPUS', { name: 'opus', ...OPUS_WB_13K }],
]);

/** Accepted codec names (upper case), for help texts and error messages. */
export const KNOWN_CODECS: readonly string[] = [...CODECS.keys()];

/** Looks a codec up by name, case-insensitively ("pcmu", "G.729a" work); undefined when unknown. */
export function findCodec(name: string): CodecImpairment | undefined {
  return CODECS.get(name.trim().toUpperCase().replace(/[.\s-]/g, ''));
}
