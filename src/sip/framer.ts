// Stream framing for SIP over TCP/TLS (RFC 3261 §18.3: Content-Length is
// mandatory on streams) plus RFC 5626 §3.5.1 CRLF keepalives ("\r\n\r\n" ping,
// "\r\n" pong). Handles partial and coalesced messages. No I/O.
import { contentLengthOf, findHeaderEnd, MAX_MESSAGE_BYTES } from './message.js';

export type FramerEvent =
  | { type: 'message'; data: Buffer }
  | { type: 'ping' }
  | { type: 'pong' }
  | { type: 'error'; code: 'E_FRAMING'; message: string };

/**
 * Accumulates stream bytes and cuts them into whole SIP messages. After an
 * 'error' event the stream cannot be resynchronized: the caller closes the connection.
 */
export class SipStreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  private broken = false;

  constructor(private readonly maxBytes = MAX_MESSAGE_BYTES) {}

  /** Bytes held waiting for the rest of a message. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): FramerEvent[] {
    if (this.broken) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const events: FramerEvent[] = [];
    for (;;) {
      // Keepalives live between messages only.
      let crlfs = 0;
      while (crlfs < this.buf.length && (this.buf[crlfs] === 0x0d || this.buf[crlfs] === 0x0a)) crlfs++;
      if (crlfs > 0) {
        if (crlfs === this.buf.length && crlfs < 4 && this.buf[crlfs - 1] === 0x0d) break; // maybe half a ping
        const seq = this.buf.subarray(0, crlfs).toString('latin1');
        const pings = seq.split('\r\n\r\n').length - 1;
        for (let i = 0; i < pings; i++) events.push({ type: 'ping' });
        if (pings === 0 && seq === '\r\n') events.push({ type: 'pong' });
        this.buf = this.buf.subarray(crlfs);
      }
      if (this.buf.length === 0) break;
      const end = findHeaderEnd(this.buf);
      if (!end) {
        if (this.buf.length > this.maxBytes) return this.fail(events, `no header end within ${this.maxBytes} bytes`);
        break;
      }
      const cl = contentLengthOf(this.buf.subarray(0, end.headersEnd).toString('latin1'));
      if (cl === null) return this.fail(events, 'invalid Content-Length on a stream');
      const length = end.bodyStart + (cl ?? 0);
      if (length > this.maxBytes) return this.fail(events, `message of ${length} bytes exceeds ${this.maxBytes}`);
      if (this.buf.length < length) break;
      events.push({ type: 'message', data: Buffer.from(this.buf.subarray(0, length)) });
      this.buf = this.buf.subarray(length);
    }
    if (this.buf.length > 0 && this.buf.byteOffset > 0) this.buf = Buffer.from(this.buf);
    return events;
  }

  private fail(events: FramerEvent[], message: string): FramerEvent[] {
    this.broken = true;
    this.buf = Buffer.alloc(0);
    events.push({ type: 'error', code: 'E_FRAMING', message });
    return events;
  }
}
