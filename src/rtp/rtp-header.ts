// The fixed RTP header (RFC 3550 §5.1) as the hot paths read and write it in place.

/** Bytes of the fixed RTP header (no CSRCs, no extension). */
export const RTP_HEADER = 12;

/**
 * Where the payload of an RTP packet starts (RFC 3550 §5.1: after the fixed
 * header, CC CSRCs and, with X set, the §5.3.1 header extension), or -1 when
 * the lengths do not add up (truncated, or padding longer than what is left).
 * The hot receive path reads the few header fields it needs in place instead
 * of building an rtp.js packet object per datagram (a third of the receive CPU
 * at scale); the caller has checked the version and the 12-byte minimum.
 */
export function rtpPayloadStart(msg: Uint8Array): number {
  const b0 = msg[0] ?? 0;
  let offset = RTP_HEADER + 4 * (b0 & 0x0f);
  if ((b0 & 0x10) !== 0) {
    if (msg.length < offset + 4) return -1;
    offset += 4 + 4 * (((msg[offset + 2] ?? 0) << 8) | (msg[offset + 3] ?? 0));
  }
  const padding = (b0 & 0x20) !== 0 ? (msg[msg.length - 1] ?? 0) : 0;
  if ((b0 & 0x20) !== 0 && padding === 0) return -1;
  return offset + padding <= msg.length ? offset : -1;
}
