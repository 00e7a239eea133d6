// Fuzz (issue 14 item 4): the SDP a far end sends goes through parseMediaEndpoint
// only. Whatever the text, it returns a MediaEndpoint or an SdpError (its
// documented error value), never throws, and what it accepts is a usable
// endpoint. Seeded: a failure prints its seed and path, replayable with them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildOffer, isSdpError, parseMediaEndpoint } from '../../../src/call/sdp.js';

const VALID = buildOffer('192.0.2.10', 40000, ['PCMU', 'PCMA', 'G722']).split('\r\n');

/** SDP-shaped text: valid lines, lines with mutated values, and junk, in any order and line ending. */
const sdpText = fc
  .array(
    fc.oneof(
      fc.constantFrom(...VALID),
      fc.tuple(fc.constantFrom('v', 'o', 's', 'c', 't', 'm', 'a', 'b', 'x'), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}=${v}`),
      fc
        .tuple(fc.constantFrom('m=audio ', 'c=IN IP4 ', 'c=IN IP6 ', 'a=rtpmap:', 'a=ptime:', 'a=fmtp:', 'm=audio 0 ', 'a='), fc.string({ maxLength: 30 }))
        .map(([k, v]) => k + v),
      fc.constantFrom('m=audio 99999 RTP/AVP 0', 'm=audio -1 RTP/AVP 0', 'm=audio 4000 RTP/AVP', 'a=ptime:0', 'a=ptime:NaN', 'a=rtpmap:0', 'c=', 'a=sendonly', 'a=inactive'),
      fc.string({ maxLength: 60 }),
    ),
    { maxLength: 16 },
  )
  .chain((lines) => fc.constantFrom('\r\n', '\n', '\r').map((eol) => lines.join(eol)));

describe('parseMediaEndpoint fuzz', () => {
  it('1000 SDP-shaped texts: an endpoint or an SdpError, never a throw; accepted endpoints are usable', () => {
    fc.assert(
      fc.property(sdpText, (text) => {
        const r = parseMediaEndpoint(text, ['PCMU', 'PCMA', 'G722']);
        if (isSdpError(r)) {
          expect(r.code).toBe('E_SDP');
          expect(typeof r.message).toBe('string');
          return;
        }
        expect(Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535).toBe(true);
        expect(r.address.length).toBeGreaterThan(0);
        expect(['PCMU', 'PCMA', 'G722']).toContain(r.codec);
        expect(Number.isFinite(r.ptimeMs) && r.ptimeMs > 0).toBe(true);
        expect(['sendrecv', 'sendonly', 'recvonly', 'inactive']).toContain(r.direction);
      }),
      { seed: 0x5d1, numRuns: 1000 },
    );
  });

  it('what the fuzzer found: a numeric c= ("IN IP4 1") and an m= line without formats are errors, not PCMU to address 1', () => {
    expect(parseMediaEndpoint('v=0\r\nm=audio 4000 RTP/AVP\r\nc=IN IP4 192.0.2.1\r\n')).toMatchObject({ code: 'E_SDP', message: expect.stringMatching(/no common codec: offered none/) });
    expect(parseMediaEndpoint('v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 1\r\n')).toMatchObject({ code: 'E_SDP', message: 'SDP connection address "1" is not an IP address' });
    expect(parseMediaEndpoint('v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 pbx.example.net\r\n')).toMatchObject({ code: 'E_SDP' });
    expect(parseMediaEndpoint('v=0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n')).toMatchObject({ address: '2001:db8::1', codec: 'PCMU' });
  });

  it('300 arbitrary strings (unicode, control characters): never a throw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const r = parseMediaEndpoint(text);
        expect(isSdpError(r) || r.port > 0).toBe(true);
      }),
      { seed: 0x5d2, numRuns: 300 },
    );
  });
});
