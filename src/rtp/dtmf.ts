/**
 * RFC 4733 telephone-events (DTMF) payload: encode, decode, and a receiver
 * side detector. Pure: the session decides when packets go out.
 *
 *   0                   1                   2                   3
 *   |     event     |E|R| volume    |          duration             |
 */

/** Event codes 0–15 (RFC 4733 §3.2): digits, *, #, A–D. */
export const DTMF_DIGITS = '0123456789*#ABCD';

export interface TelephoneEvent {
  event: number;
  end: boolean;
  /** Power level in −dBm0 (0–63). */
  volume: number;
  /** Duration in timestamp units since the event's timestamp. */
  duration: number;
}

export class DtmfError extends Error {
  readonly code = 'E_DTMF';
}

/** Digit character → event code; throws DtmfError for anything else. */
export function eventCode(digit: string): number {
  const code = DTMF_DIGITS.indexOf(digit.toUpperCase());
  if (digit.length !== 1 || code < 0) throw new DtmfError(`"${digit}" is not a DTMF digit (0-9 * # A-D)`);
  return code;
}

export function digitOf(event: number): string | undefined {
  return DTMF_DIGITS[event];
}

/** RFC 4733 §2.3 payload (4 bytes). */
export function encodeEvent(e: TelephoneEvent): Uint8Array {
  const out = new Uint8Array(4);
  out[0] = e.event & 0xff;
  out[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
  out[2] = (e.duration >> 8) & 0xff;
  out[3] = e.duration & 0xff;
  return out;
}

export function decodeEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  const b1 = payload[1] ?? 0;
  return {
    event: payload[0] ?? 0,
    end: (b1 & 0x80) !== 0,
    volume: b1 & 0x3f,
    duration: ((payload[2] ?? 0) << 8) | (payload[3] ?? 0),
  };
}

export interface DetectedDigit {
  digit: string;
  /** RTP timestamp of the event (identifies it). */
  timestamp: number;
  /** Duration in ms once the end packet was seen, else the longest seen so far. */
  durationMs: number;
  ended: boolean;
}

/**
 * Turns a stream of telephone-event packets (one SSRC) into digits. A new
 * event timestamp starts a digit (reported at once, so a lost end packet
 * does not lose the digit); retransmitted end packets update nothing.
 */
export class DtmfDetector {
  readonly digits: DetectedDigit[] = [];
  private current: DetectedDigit | undefined;

  constructor(private readonly clockRate = 8000) {}

  /** Returns the digit when this packet starts a new event. */
  onPacket(timestamp: number, payload: Uint8Array): DetectedDigit | undefined {
    const e = decodeEvent(payload);
    if (!e) return undefined;
    const digit = digitOf(e.event);
    if (digit === undefined) return undefined;
    const durationMs = (e.duration / this.clockRate) * 1000;
    if (this.current && this.current.timestamp === timestamp >>> 0) {
      if (!this.current.ended) {
        this.current.durationMs = Math.max(this.current.durationMs, durationMs);
        this.current.ended = e.end;
      }
      return undefined;
    }
    this.current = { digit, timestamp: timestamp >>> 0, durationMs, ended: e.end };
    this.digits.push(this.current);
    return this.current;
  }
}
