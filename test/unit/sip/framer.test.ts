import { describe, expect, it } from 'vitest';
import { SipStreamFramer, type FramerEvent } from '../../../src/sip/framer.js';
import { parseMessage } from '../../../src/sip/message.js';

const msg = (callId: string, body = ''): string =>
  `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5555;branch=z9hG4bK${callId}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n` +
  `To: <sip:127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

function messages(events: FramerEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'message' ? [e.data.toString()] : []));
}

describe('SipStreamFramer', () => {
  it('cuts coalesced messages', () => {
    const f = new SipStreamFramer();
    const out = messages(f.push(Buffer.from(msg('a', 'hello') + msg('b') + msg('c', 'xyz'))));
    expect(out).toEqual([msg('a', 'hello'), msg('b'), msg('c', 'xyz')]);
    expect(f.pending).toBe(0);
  });

  it('reassembles a message split at every byte', () => {
    const f = new SipStreamFramer();
    const wire = Buffer.from(msg('a', 'body-bytes') + msg('b'));
    const out: string[] = [];
    for (let i = 0; i < wire.length; i++) out.push(...messages(f.push(wire.subarray(i, i + 1))));
    expect(out).toEqual([msg('a', 'body-bytes'), msg('b')]);
    for (const m of out) expect(parseMessage(m).ok).toBe(true);
  });

  it('reports CRLF keepalive pings and pongs between messages (RFC 5626)', () => {
    const f = new SipStreamFramer();
    const ev = f.push(Buffer.from(`\r\n\r\n${msg('a')}\r\n`));
    expect(ev.map((e) => e.type)).toEqual(['ping', 'message', 'pong']);
  });

  it('fails on an invalid Content-Length or an endless header block', () => {
    const f = new SipStreamFramer();
    const ev = f.push(Buffer.from(msg('a').replace('Content-Length: 0', 'Content-Length: -1')));
    expect(ev.at(-1)?.type).toBe('error');
    const g = new SipStreamFramer(1000);
    expect(g.push(Buffer.alloc(2000, 0x41)).at(-1)?.type).toBe('error');
    expect(g.push(Buffer.from(msg('b')))).toEqual([]);
  });
});
