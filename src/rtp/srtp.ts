/**
 * SRTP and SRTCP (RFC 3711) for the two SDES suites of RFC 4568 §6.2:
 * AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 (AES-128 in counter
 * mode, HMAC-SHA1 authentication; the _32 suite shortens only the SRTP tag,
 * SRTCP keeps 80 bits). Key derivation rate 0, no MKI. Pure: node:crypto
 * only, no sockets.
 *
 * One context protects or unprotects the packets of one direction: the
 * sender's master key (ours for what we send, the peer's for what we receive,
 * as SDES exchanges them). Per SSRC it keeps the rollover counter, the highest
 * index and a 64-packet replay window (RFC 3711 §3.3.2); a packet whose tag
 * does not verify, or that replays an index, is refused and counted, never
 * decrypted.
 */
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SRTP_SUITES = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const;
export type SrtpSuite = (typeof SRTP_SUITES)[number];

const MASTER_KEY_LEN = 16;
const MASTER_SALT_LEN = 14;
/** Key and salt, concatenated, as SDES carries them (`inline:` base64). */
export const SRTP_KEY_MATERIAL_LEN = MASTER_KEY_LEN + MASTER_SALT_LEN;
const AUTH_KEY_LEN = 20;
const RTCP_TAG_LEN = 10;
const REPLAY_WINDOW = 64n;

/** RFC 3711 §4.3.1 key derivation labels. */
const enum Label {
  RtpEncryption = 0,
  RtpAuth = 1,
  RtpSalt = 2,
  RtcpEncryption = 3,
  RtcpAuth = 4,
  RtcpSalt = 5,
}

export function srtpTagLength(suite: SrtpSuite): number {
  return suite === 'AES_CM_128_HMAC_SHA1_32' ? 4 : 10;
}

/** RFC 3711 §4.3.3: the AES-CM PRF with key derivation rate 0 (r = 0). */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  // key_id = label || r (48 bits, 0), right-aligned under the 112-bit salt
  iv[7] = (iv[7] ?? 0) ^ label;
  return aesCm(masterKey, iv, Buffer.alloc(length));
}

function aesCm(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** RFC 3711 §4.1.1: IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16). Written into `iv` (createCipheriv copies it). */
function counterIv(salt: Buffer, ssrc: number, index: bigint, iv: Buffer = Buffer.alloc(16)): Buffer {
  iv.fill(0);
  salt.copy(iv, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  const hi = Number((index >> 32n) & 0xffffn);
  const lo = Number(index & 0xffffffffn);
  iv.writeUInt16BE(iv.readUInt16BE(8) ^ hi, 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ lo) >>> 0, 10);
  return iv;
}

interface SessionKeys {
  enc: Buffer;
  auth: Buffer;
  salt: Buffer;
}

function sessionKeys(masterKey: Buffer, masterSalt: Buffer, rtcp: boolean): SessionKeys {
  const base = rtcp ? Label.RtcpEncryption : Label.RtpEncryption;
  return {
    enc: deriveSessionKey(masterKey, masterSalt, base, MASTER_KEY_LEN),
    auth: deriveSessionKey(masterKey, masterSalt, base + (Label.RtpAuth - Label.RtpEncryption), AUTH_KEY_LEN),
    salt: deriveSessionKey(masterKey, masterSalt, base + (Label.RtpSalt - Label.RtpEncryption), MASTER_SALT_LEN),
  };
}

function tag(authKey: Buffer, parts: Buffer[], length: number): Buffer {
  const h = createHmac('sha1', authKey);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, length);
}

/** AES-CM of `data` written into `out` at `offset` (one cipher output buffer, no concat). */
function aesCmInto(key: Buffer, iv: Buffer, data: Buffer, out: Buffer, offset: number): void {
  const c = createCipheriv('aes-128-ctr', key, iv);
  c.update(data).copy(out, offset); // CTR: update() returns every byte, final() none
}

/** Offset of the RTP payload (fixed header, CSRCs, header extension), or -1 when truncated. */
function rtpHeaderLength(p: Buffer): number {
  if (p.length < 12 || p[0]! >> 6 !== 2) return -1;
  let off = 12 + 4 * (p[0]! & 0x0f);
  if (p[0]! & 0x10) {
    if (p.length < off + 4) return -1;
    off += 4 + 4 * p.readUInt16BE(off + 2);
  }
  return off <= p.length ? off : -1;
}

/** Replay state of one SSRC in one direction (RFC 3711 §3.3.2, Appendix A). */
interface StreamState {
  roc: number;
  /** highest sequence number authenticated so far (s_l) */
  seq: number;
  /** highest packet index authenticated so far */
  highest: bigint;
  /** bit k set: index highest − k was received */
  window: bigint;
}

export type UnprotectFailure = 'auth' | 'replay' | 'malformed';
export type Unprotected = { ok: true; packet: Buffer } | { ok: false; reason: UnprotectFailure };

export interface SrtpCounters {
  protected: number;
  unprotected: number;
  auth_failures: number;
  replays: number;
  malformed: number;
}

export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly counters: SrtpCounters = { protected: 0, unprotected: 0, auth_failures: 0, replays: 0, malformed: 0 };
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private readonly tagLen: number;
  private readonly sendRtp = new Map<number, { roc: number; seq: number }>();
  private readonly sendRtcpIndex = new Map<number, number>();
  private readonly recvRtp = new Map<number, StreamState>();
  private readonly recvRtcp = new Map<number, StreamState>();
  /** Per-packet scratch (IV, ROC): the per-packet work allocates only the output and node:crypto's objects. */
  private readonly iv = Buffer.alloc(16);
  private readonly roc = Buffer.alloc(4);

  /** keyMaterial: the 30 bytes of master key ‖ master salt (an SDES `inline:` key). */
  constructor(suite: SrtpSuite, keyMaterial: Buffer) {
    if (keyMaterial.length !== SRTP_KEY_MATERIAL_LEN) {
      throw new RangeError(`SRTP key material must be ${SRTP_KEY_MATERIAL_LEN} bytes, got ${keyMaterial.length}`);
    }
    this.suite = suite;
    this.tagLen = srtpTagLength(suite);
    const key = keyMaterial.subarray(0, MASTER_KEY_LEN);
    const salt = keyMaterial.subarray(MASTER_KEY_LEN);
    this.rtp = sessionKeys(key, salt, false);
    this.rtcp = sessionKeys(key, salt, true);
  }

  /** RFC 3711 §3.3: encrypt the payload, append the tag. The input is not modified. */
  protectRtp(packet: Buffer): Buffer {
    const hdr = rtpHeaderLength(packet);
    if (hdr < 0) throw new RangeError('not an RTP packet');
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    const st = this.sendRtp.get(ssrc);
    let roc = st?.roc ?? 0;
    if (st && seq < st.seq && st.seq - seq > 0x8000) roc = (roc + 1) >>> 0; // wrapped
    if (!st || roc !== st.roc || seq > st.seq) this.sendRtp.set(ssrc, { roc, seq });
    const index = (BigInt(roc) << 16n) | BigInt(seq);
    const out = Buffer.allocUnsafe(packet.length + this.tagLen);
    packet.copy(out, 0, 0, hdr);
    aesCmInto(this.rtp.enc, counterIv(this.rtp.salt, ssrc, index, this.iv), packet.subarray(hdr), out, hdr);
    const body = out.subarray(0, packet.length);
    this.roc.writeUInt32BE(roc);
    tag(this.rtp.auth, [body, this.roc], this.tagLen).copy(out, packet.length);
    this.counters.protected++;
    return out;
  }

  /** Verify, check replay, decrypt (RFC 3711 §3.3 receiver steps). */
  unprotectRtp(packet: Buffer): Unprotected {
    const hdr = rtpHeaderLength(packet);
    if (hdr < 0 || packet.length < hdr + this.tagLen) return this.fail('malformed');
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    const st = this.recvRtp.get(ssrc);
    const roc = st ? estimateRoc(st, seq) : 0;
    const index = (BigInt(roc) << 16n) | BigInt(seq);
    if (st && isReplay(st, index)) return this.fail('replay');
    const body = packet.subarray(0, packet.length - this.tagLen);
    this.roc.writeUInt32BE(roc >>> 0);
    const expected = tag(this.rtp.auth, [body, this.roc], this.tagLen);
    if (!timingSafeEqual(expected, packet.subarray(packet.length - this.tagLen))) return this.fail('auth');
    this.recvRtp.set(ssrc, accept(st, index, roc, seq));
    const out = Buffer.allocUnsafe(body.length);
    body.copy(out, 0, 0, hdr);
    aesCmInto(this.rtp.enc, counterIv(this.rtp.salt, ssrc, index, this.iv), body.subarray(hdr), out, hdr);
    this.counters.unprotected++;
    return { ok: true, packet: out };
  }

  /** RFC 3711 §3.4: encrypt after the first 8 bytes, append E ‖ SRTCP index, then the 80-bit tag. */
  protectRtcp(packet: Buffer): Buffer {
    if (packet.length < 8) throw new RangeError('not an RTCP packet');
    const ssrc = packet.readUInt32BE(4);
    const index = ((this.sendRtcpIndex.get(ssrc) ?? 0) + 1) & 0x7fffffff;
    this.sendRtcpIndex.set(ssrc, index);
    const enc = aesCm(this.rtcp.enc, counterIv(this.rtcp.salt, ssrc, BigInt(index)), packet.subarray(8));
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32BE((0x80000000 | index) >>> 0);
    const body = Buffer.concat([packet.subarray(0, 8), enc, trailer]);
    this.counters.protected++;
    return Buffer.concat([body, tag(this.rtcp.auth, [body], RTCP_TAG_LEN)]);
  }

  unprotectRtcp(packet: Buffer): Unprotected {
    if (packet.length < 8 + 4 + RTCP_TAG_LEN) return this.fail('malformed');
    const body = packet.subarray(0, packet.length - RTCP_TAG_LEN);
    const expected = tag(this.rtcp.auth, [body], RTCP_TAG_LEN);
    if (!timingSafeEqual(expected, packet.subarray(packet.length - RTCP_TAG_LEN))) return this.fail('auth');
    const trailer = body.readUInt32BE(body.length - 4);
    const encrypted = (trailer & 0x80000000) !== 0;
    const index = BigInt(trailer & 0x7fffffff);
    const ssrc = packet.readUInt32BE(4);
    const st = this.recvRtcp.get(ssrc);
    if (st && isReplay(st, index)) return this.fail('replay');
    this.recvRtcp.set(ssrc, accept(st, index, 0, 0));
    const payload = body.subarray(8, body.length - 4);
    const plain = encrypted ? aesCm(this.rtcp.enc, counterIv(this.rtcp.salt, ssrc, index), payload) : payload;
    this.counters.unprotected++;
    return { ok: true, packet: Buffer.concat([packet.subarray(0, 8), plain]) };
  }

  private fail(reason: UnprotectFailure): Unprotected {
    if (reason === 'auth') this.counters.auth_failures++;
    else if (reason === 'replay') this.counters.replays++;
    else this.counters.malformed++;
    return { ok: false, reason };
  }
}

/** RFC 3711 Appendix A: the ROC this sequence number most likely belongs to. */
function estimateRoc(st: StreamState, seq: number): number {
  if (st.seq < 0x8000) return seq - st.seq > 0x8000 ? st.roc - 1 : st.roc;
  return st.seq - 0x8000 > seq ? st.roc + 1 : st.roc;
}

function isReplay(st: StreamState, index: bigint): boolean {
  if (index > st.highest) return false;
  const behind = st.highest - index;
  return behind >= REPLAY_WINDOW || ((st.window >> behind) & 1n) === 1n;
}

function accept(st: StreamState | undefined, index: bigint, roc: number, seq: number): StreamState {
  if (!st) return { roc, seq, highest: index, window: 1n };
  if (index > st.highest) {
    const shift = index - st.highest;
    const window = shift >= REPLAY_WINDOW ? 1n : ((st.window << shift) | 1n) & ((1n << REPLAY_WINDOW) - 1n);
    return { roc, seq, highest: index, window };
  }
  return { ...st, window: st.window | (1n << (st.highest - index)) };
}

// --- SDES (RFC 4568) --------------------------------------------------------

export interface SdesCrypto {
  tag: number;
  suite: SrtpSuite;
  /** master key ‖ master salt, 30 bytes */
  key: Buffer;
}

/** A fresh key for an offer or answer (30 random bytes). */
export function newSdesCrypto(tag: number, suite: SrtpSuite): SdesCrypto {
  return { tag, suite, key: randomBytes(SRTP_KEY_MATERIAL_LEN) };
}

/** The value of an `a=crypto:` attribute (without `a=crypto:`). */
export function formatSdesCrypto(c: SdesCrypto): string {
  return `${c.tag} ${c.suite} inline:${c.key.toString('base64')}`;
}

/**
 * Parse the value of an `a=crypto:` attribute. Suites we do not implement,
 * keys of the wrong length, MKIs and lifetimes other than the default yield
 * null (RFC 4568 §7.1.1: the answerer skips attributes it cannot use).
 */
export function parseSdesCrypto(value: string): SdesCrypto | null {
  const m = /^\s*(\d{1,9})\s+(\S+)\s+inline:([A-Za-z0-9+/=]+)(\|[^\s]*)?(\s.*)?$/.exec(value);
  if (!m) return null;
  const suite = SRTP_SUITES.find((s) => s === m[2]);
  if (!suite) return null;
  if (m[4]) {
    // lifetime / MKI: only a plain lifetime is acceptable (we never rekey within a test call)
    const parts = m[4].split('|').filter((x) => x !== '');
    if (parts.some((p) => p.includes(':'))) return null;
  }
  // Session parameters (RFC 4568 §6.3): a window size hint and KDR=0 change
  // nothing for us; UNENCRYPTED_*/UNAUTHENTICATED_SRTP, a key derivation rate
  // and FEC orders are not implemented, so such a line is not usable.
  for (const param of (m[5] ?? '').trim().split(/\s+/).filter((x) => x !== '')) {
    if (!/^WSH=\d+$/.test(param) && param !== 'KDR=0') return null;
  }
  const key = Buffer.from(m[3] ?? '', 'base64');
  if (key.length !== SRTP_KEY_MATERIAL_LEN) return null;
  return { tag: Number(m[1]), suite, key };
}
