import { describe, expect, it } from 'vitest';
import { EvidenceRecorder, maskSip, type PacketEvent } from '../../../src/evidence/recorder.js';
import { ladderEntries, ladderSummary, renderLadder } from '../../../src/evidence/ladder.js';

const A = { address: '127.0.0.1', port: 5071 };
const PBX = { address: '127.0.0.1', port: 5060 };

function sip(text: string): Uint8Array {
  return Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1');
}

const INVITE = (cseq: number, auth = '') => `INVITE sip:1002@pbx SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK${cseq}
Call-ID: c1@x
CSeq: ${cseq} INVITE
${auth}Content-Length: 0

`;
const RESPONSE = (status: string, cseq: string) => `SIP/2.0 ${status}
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK1
Call-ID: c1@x
CSeq: ${cseq}
Content-Length: 0

`;
const DIGEST = 'Proxy-Authorization: Digest username="1001", realm="pbx", nonce="abc", uri="sip:1002@pbx", response="0123456789abcdef0123456789abcdef", algorithm=MD5\n';

function rtp(seq: number, payload = 160): Buffer {
  const b = Buffer.alloc(12 + payload, 0xd5);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0x1234, 8);
  return b;
}

describe('maskSip', () => {
  it('hides digest responses in Authorization and Proxy-Authorization, keeping the length', () => {
    const text = `INVITE sip:x SIP/2.0\r\n${DIGEST.replace('\n', '\r\n')}Authorization: Digest username="a", response=deadbeef, password=hunter2\r\nSubject: response="keep"\r\n\r\n`;
    const masked = maskSip(text);
    expect(masked.length).toBe(text.length);
    expect(masked).not.toContain('0123456789abcdef');
    expect(masked).not.toContain('deadbeef');
    expect(masked).not.toContain('hunter2');
    expect(masked).toContain('response="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"');
    expect(masked).toContain('nonce="abc"');
    expect(masked).toContain('Subject: response="keep"');
  });

  it('handles folded header lines and leaves messages without credentials untouched', () => {
    const folded = 'Authorization: Digest username="a",\r\n  response="cafe"\r\n\r\n';
    expect(maskSip(folded)).toContain('response="xxxx"');
    const plain = 'OPTIONS sip:x SIP/2.0\r\n\r\n';
    expect(maskSip(plain)).toBe(plain);
  });
});

describe('EvidenceRecorder', () => {
  it('keeps SIP masked, copies the bytes and stamps them', () => {
    let t = 1000;
    const rec = new EvidenceRecorder({ now: () => t });
    const data = Buffer.from(sip(INVITE(2, DIGEST)));
    rec.record({ direction: 'out', kind: 'sip', transport: 'udp', src: A, dst: PBX, data });
    data.fill(0); // the caller reuses its buffer
    t = 1005;
    rec.record({ direction: 'in', kind: 'sip', transport: 'udp', src: PBX, dst: A, data: sip(RESPONSE('200 OK', '2 INVITE')), at: 1003.5 });
    expect(rec.records).toHaveLength(2);
    expect(rec.records[0]?.at).toBe(1000);
    expect(rec.records[1]?.at).toBe(1003.5);
    const text = rec.records[0]?.data.toString('latin1') ?? '';
    expect(text.startsWith('INVITE sip:1002@pbx')).toBe(true);
    expect(text).not.toContain('0123456789abcdef');
  });

  it('keeps a packet sent and received inside the process once (as a capture on the wire shows it)', () => {
    const rec = new EvidenceRecorder();
    const ev = (direction: 'out' | 'in', seq: number): PacketEvent => ({ direction, kind: 'rtp', transport: 'udp', src: A, dst: PBX, data: rtp(seq) });
    rec.record(ev('out', 1));
    rec.record(ev('in', 1));
    rec.record(ev('out', 2));
    rec.record(ev('in', 2));
    rec.record(ev('in', 3)); // arrived without a local send: kept
    expect(rec.records.map((r) => `${r.direction}${r.data.readUInt16BE(2)}`)).toEqual(['out1', 'out2', 'in3']);
    // a retransmitted SIP message received twice is matched once per send
    const msg = sip(INVITE(1));
    rec.record({ direction: 'out', kind: 'sip', transport: 'udp', src: A, dst: PBX, data: msg });
    rec.record({ direction: 'in', kind: 'sip', transport: 'udp', src: A, dst: PBX, data: msg });
    rec.record({ direction: 'in', kind: 'sip', transport: 'udp', src: A, dst: PBX, data: msg });
    expect(rec.records.filter((r) => r.kind === 'sip')).toHaveLength(2);
  });

  it('rtp: headers keeps 12 bytes (+ CSRCs) of RTP but whole RTCP; none keeps only SIP', () => {
    const rec = new EvidenceRecorder({ rtp: 'headers' });
    const withCsrc = rtp(5);
    withCsrc[0] = 0x82; // two CSRCs
    rec.record({ direction: 'out', kind: 'rtp', transport: 'udp', src: A, dst: PBX, data: withCsrc });
    rec.record({ direction: 'out', kind: 'rtcp', transport: 'udp', src: A, dst: PBX, data: Buffer.alloc(52, 0x81) });
    expect(rec.records[0]?.data.length).toBe(20);
    expect(rec.records[0]?.length).toBe(172);
    expect(rec.records[1]?.data.length).toBe(52);
    const none = new EvidenceRecorder({ rtp: 'none' });
    none.record({ direction: 'out', kind: 'rtp', transport: 'udp', src: A, dst: PBX, data: rtp(1) });
    none.record({ direction: 'out', kind: 'sip', transport: 'udp', src: A, dst: PBX, data: sip(INVITE(1)) });
    expect(none.records.map((r) => r.kind)).toEqual(['sip']);
  });

  it('stops keeping packets past maxBytes and counts what it dropped', () => {
    const rec = new EvidenceRecorder({ maxBytes: 2000 });
    for (let i = 0; i < 100; i++) rec.record({ direction: 'out', kind: 'rtp', transport: 'udp', src: A, dst: PBX, data: rtp(i) });
    expect(rec.records.length).toBeLessThan(20);
    expect(rec.records.length + rec.dropped).toBe(100);
  });
});

describe('SIP ladder', () => {
  function challenged(): EvidenceRecorder {
    let t = 0;
    const rec = new EvidenceRecorder({ now: () => t });
    const steps: Array<[PacketEvent['direction'], string]> = [
      ['out', INVITE(1)],
      ['in', RESPONSE('407 Proxy Authentication Required', '1 INVITE')],
      ['out', 'ACK sip:1002@pbx SIP/2.0\nCSeq: 1 ACK\nCall-ID: c1@x\n\n'],
      ['out', INVITE(2, DIGEST)],
      ['in', RESPONSE('100 Trying', '2 INVITE')],
      ['in', RESPONSE('200 OK', '2 INVITE')],
    ];
    for (const [direction, text] of steps) {
      t += 12;
      rec.record({ direction, kind: 'sip', transport: 'udp', src: direction === 'out' ? A : PBX, dst: direction === 'out' ? PBX : A, data: sip(text) });
    }
    rec.record({ direction: 'out', kind: 'rtp', transport: 'udp', src: A, dst: PBX, data: rtp(1) });
    return rec;
  }

  it('shows the 407 transaction and the authenticated one in order, one line per SIP message', () => {
    const entries = ladderEntries(challenged().records);
    expect(entries.map((e) => `${e.direction} ${e.summary} | ${e.cseq}`)).toEqual([
      'out INVITE | 1 INVITE',
      'in 407 Proxy Authentication Required | 1 INVITE',
      'out ACK | 1 ACK',
      'out INVITE | 2 INVITE',
      'in 100 Trying | 2 INVITE',
      'in 200 OK | 2 INVITE',
    ]);
    expect(entries[0]?.offsetMs).toBe(0);
    expect(entries[5]?.offsetMs).toBe(60);
  });

  it('renders plain text off a TTY, ANSI colour on one, and full messages without the digest response', () => {
    const rec = challenged();
    const plain = renderLadder(rec.records);
    expect(plain).not.toContain('\x1b[');
    expect(plain.split('\n')[2]).toMatch(/^\s+\+0\.012s\s+127\.0\.0\.1:5071\s+← 127\.0\.0\.1:5060\s+udp\s+407 Proxy Authentication Req.*CSeq 1 INVITE$/);
    expect(renderLadder(rec.records, { color: true })).toContain('\x1b[33m  +0.012s');
    const full = renderLadder(rec.records, { full: true });
    expect(full).toContain('Proxy-Authorization: Digest username="1001"');
    expect(full).not.toContain('0123456789abcdef');
  });

  it('summarises long ladders to at most 20 lines, keeping the start and the end', () => {
    let t = 0;
    const rec = new EvidenceRecorder({ now: () => (t += 1) });
    for (let i = 1; i <= 50; i++) rec.record({ direction: 'out', kind: 'sip', transport: 'udp', src: A, dst: PBX, data: sip(`OPTIONS sip:x SIP/2.0\nCSeq: ${i} OPTIONS\n\n`) });
    const lines = ladderSummary(rec.records, 20);
    expect(lines).toHaveLength(20);
    expect(lines[0]).toContain('CSeq 1 OPTIONS');
    expect(lines[10]).toContain('31 more messages');
    expect(lines[19]).toContain('CSeq 50 OPTIONS');
    expect(ladderSummary(challenged().records)).toHaveLength(6);
  });
});
