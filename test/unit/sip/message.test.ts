import { describe, expect, it } from 'vitest';
import type {
  SipRequest,
  SipResponse} from '../../../src/sip/message.js';
import {
  createRequest,
  createResponse,
  parseMessage,
  parseVia,
  responseHasSingleVia,
  serializeMessage
} from '../../../src/sip/message.js';
import { BCAST, INVALID, VALID } from './torture.js';

function mustParse(text: string | Buffer) {
  const r = parseMessage(text);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.message;
}

describe('RFC 4475 valid messages', () => {
  for (const [name, text] of Object.entries(VALID)) {
    it(`accepts ${name}`, () => {
      const r = parseMessage(text);
      expect(r.ok, r.ok ? '' : `${r.error.code} ${r.error.message}`).toBe(true);
    });
  }

  it('wsinv: unfolds, knows compact names, splits Via lists, parses LWS params', () => {
    const m = mustParse(VALID.wsinv ?? '') as SipRequest;
    expect(m.kind).toBe('request');
    expect(m.method).toBe('INVITE');
    expect(m.cseq).toEqual({ seq: 9, method: 'INVITE' });
    expect(m.headers.get('max-forwards')).toBe('0068');
    expect(m.headers.get('s')).toBe('');
    expect(m.headers.get('subject')).toBe('');
    expect(m.headers.get('NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(m.headers.get('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    const vias = m.vias;
    expect(vias.map((v) => v.host)).toEqual(['192.0.2.2', 'spindle.example.com', '192.168.255.111']);
    expect(vias[1]?.transport).toBe('TCP');
    expect(vias[2]?.params.branch).toBe('z9hG4bK30239');
    expect(vias[0]?.params).toHaveProperty('rport', null);
    expect(m.from?.displayName).toBe('J Rosenberg \\"');
    expect(m.from?.params.tag).toBe('98asjd8');
    expect(m.to?.params.tag).toBe('1918181833n');
    const contact = m.headers.get('m');
    expect(contact).toContain('Quoted string');
    expect(m.body.length).toBe(Number(m.headers.get('l')));
    expect(m.requestUri?.params).toHaveProperty('unknownparam', null);
  });

  it('intmeth: unusual method and URI user/password characters', () => {
    const m = mustParse(VALID.intmeth ?? '') as SipRequest;
    expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    expect(m.requestUri?.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(m.requestUri?.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(m.from?.displayName).toBe("token1~` token2'+_ token3*%!.-");
  });

  it('semiuri: ; in the user part belongs to the user', () => {
    const m = mustParse(VALID.semiuri ?? '') as SipRequest;
    expect(m.requestUri?.user).toBe('user;par=u%40example.net');
    expect(m.requestUri?.host).toBe('example.com');
    expect(m.headers.getAll('accept')).toHaveLength(6);
  });

  it('dblreq: takes the first message and ignores the rest of the datagram', () => {
    const m = mustParse(VALID.dblreq ?? '') as SipRequest;
    expect(m.method).toBe('REGISTER');
    expect(m.body.length).toBe(0);
  });

  it('esc02: escaped header names are different headers', () => {
    const m = mustParse(VALID.esc02 ?? '');
    expect(m.headers.getAll('contact')).toHaveLength(2);
    expect(m.headers.get('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
  });

  it('unkscm/novelsc/unksm2: unknown schemes parse as opaque URIs', () => {
    const m = mustParse(VALID.unkscm ?? '') as SipRequest;
    expect(m.requestUri?.scheme).toBe('nobodyknowsthisscheme');
    expect(m.requestUri?.opaque).toBe('totallyopaquecontent');
    expect((mustParse(VALID.unksm2 ?? '') as SipRequest).to?.uri.scheme).toBe('isbn');
  });

  it('noreason/unreason: empty and UTF-8 reason phrases', () => {
    const r1 = mustParse(VALID.noreason ?? '') as SipResponse;
    expect(r1.status).toBe(100);
    expect(r1.reason).toBe('');
    const r2 = mustParse(VALID.unreason ?? '') as SipResponse;
    expect(r2.reason).toContain('\u043f\u0440\u043e\u0441\u0442\u043e\u0435');
  });

  it('longreq: 34 Vias', () => {
    expect(mustParse(VALID.longreq ?? '').vias).toHaveLength(34);
  });

  it('mpart01: binary multipart body kept byte-exact', () => {
    const m = mustParse(VALID.mpart01 ?? '');
    expect(m.body.length).toBe(Number(m.headers.get('content-length')));
    expect(m.body.includes(Buffer.from('--7a9cbec02ceef655--'))).toBe(true);
  });
});

describe('RFC 4475 invalid messages', () => {
  const expectedCode: Record<string, string> = {
    badinv01: 'E_BAD_HEADER_VALUE',
    clerr: 'E_CONTENT_LENGTH',
    ncl: 'E_CONTENT_LENGTH',
    scalar02: 'E_CSEQ',
    scalarlg: 'E_CSEQ',
    quotbal: 'E_BAD_HEADER_VALUE',
    ltgtruri: 'E_REQUEST_URI',
    lwsruri: 'E_START_LINE',
    lwsstart: 'E_START_LINE',
    trws: 'E_START_LINE',
    escruri: 'E_REQUEST_URI',
    regbadct: 'E_BAD_HEADER_VALUE',
    badaspec: 'E_BAD_HEADER_VALUE',
    baddn: 'E_BAD_HEADER_VALUE',
    badvers: 'E_VERSION',
    mismatch01: 'E_CSEQ',
    mismatch02: 'E_CSEQ',
    bigcode: 'E_STATUS',
    insuf: 'E_MISSING_HEADER',
    multi01: 'E_DUPLICATE_HEADER',
    mcl01: 'E_DUPLICATE_HEADER',
  };
  for (const [name, text] of Object.entries(INVALID)) {
    it(`rejects ${name} with a typed error`, () => {
      const r = parseMessage(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe(expectedCode[name]);
        expect(r.error.message.length).toBeGreaterThan(0);
      }
    });
  }

  it('bcast parses, but a UAC must discard it (two Vias in a response)', () => {
    const m = mustParse(BCAST) as SipResponse;
    expect(responseHasSingleVia(m)).toBe(false);
  });

  it('rejects garbage without throwing', () => {
    for (const junk of ['', '\r\n\r\n', 'hello', 'SIP/2.0 200 OK\r\n', '\x00\x01\x02\r\n\r\n', 'INVITE sip:a@b SIP/2.0\r\nVia\r\n\r\n']) {
      const r = parseMessage(junk);
      expect(r.ok).toBe(false);
    }
  });
});

describe('headers, builders and serializer', () => {
  const invite = createRequest({
    method: 'INVITE',
    uri: 'sip:1002@127.0.0.1',
    headers: [
      ['Via', 'SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc;rport'],
      ['Max-Forwards', '70'],
      ['From', '"Alice, A." <sip:1001@127.0.0.1>;tag=aaa'],
      ['To', '<sip:1002@127.0.0.1>'],
      ['Call-ID', 'c1@127.0.0.1'],
      ['CSeq', '1 INVITE'],
      ['Contact', '<sip:1001@127.0.0.1:5080>, <sip:1001@[::1]:5080;transport=tcp>'],
      ['Content-Type', 'application/sdp'],
      ['Content-Length', '999'],
    ],
    body: 'v=0\r\n',
  });

  it('round-trips through serialize/parse with a recomputed Content-Length', () => {
    const wire = serializeMessage(invite);
    expect(wire.toString()).toContain('Content-Length: 5\r\n\r\nv=0\r\n');
    const back = mustParse(wire) as SipRequest;
    expect(back.method).toBe('INVITE');
    expect(back.body.toString()).toBe('v=0\r\n');
    expect(back.from?.displayName).toBe('Alice, A.');
    expect(back.headers.getAll('CONTACT')).toHaveLength(2);
    expect(serializeMessage(back).equals(wire)).toBe(true);
  });

  it('comma splitting respects quotes and angle brackets', () => {
    const m = createRequest({ method: 'X', uri: 'sip:a@b', headers: [['Route', '<sip:p1;lr>, "a,b" <sip:p2;lr>,<sip:p3?x=1,2>']] });
    expect(m.headers.getAll('route')).toEqual(['<sip:p1;lr>', '"a,b" <sip:p2;lr>', '<sip:p3?x=1,2>']);
  });

  it('createResponse copies the dialog headers and adds a To-tag', () => {
    const res = createResponse(invite, 180, undefined, { toTag: 'bbb' });
    expect(res.reason).toBe('Ringing');
    expect(res.to?.params.tag).toBe('bbb');
    expect(res.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(res.headers.get('via')).toBe('SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc;rport');
    const trying = createResponse(invite, 100, undefined, { toTag: 'bbb' });
    expect(trying.to?.params.tag).toBeUndefined();
  });

  it('set/prepend/removeFirst keep order', () => {
    const h = invite.headers.clone();
    h.prepend('Via', 'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtop');
    expect(parseVia(h.get('v') ?? '')?.params.branch).toBe('z9hG4bKtop');
    h.removeFirst('via');
    expect(parseVia(h.get('via') ?? '')?.params.branch).toBe('z9hG4bKabc');
    h.set('cseq', '2 INVITE');
    expect(h.getAll('CSeq')).toEqual(['2 INVITE']);
  });

  it('parses IPv6 Via sent-by and received', () => {
    const v = parseVia('SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx;received=2001:db8::2;rport=5062');
    expect(v).toMatchObject({ transport: 'TLS', host: '2001:db8::1', port: 5061, params: { rport: '5062' } });
  });
});
