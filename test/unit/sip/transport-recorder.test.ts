// The evidence hook of the SIP transport: every message sent and received is
// handed to the recorder with the addresses a capture would show, over UDP and
// over TCP (kept as one message each, written to pcap as a SIP-over-UDP view).
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pcapFile } from '../../../src/evidence/pcap.js';
import { EvidenceRecorder } from '../../../src/evidence/recorder.js';
import { parseMessage, type SipMessage } from '../../../src/sip/message.js';
import { TransportLayer, type Inbound } from '../../../src/sip/transport.js';

const OPTIONS = 'OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKrec1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: rec1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
const OK = OPTIONS.replace('OPTIONS sip:probe@127.0.0.1 SIP/2.0', 'SIP/2.0 200 OK');

function message(text: string): SipMessage {
  const r = parseMessage(text);
  if (!r.ok) throw new Error('bad fixture');
  return r.message;
}

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function nextInbound(t: TransportLayer): Promise<Inbound> {
  return new Promise((resolve) => t.onMessage(resolve));
}

describe('TransportLayer recorder', () => {
  it('UDP: the request out and the answer in, with both ends addressed', async () => {
    const peer = dgram.createSocket('udp4');
    peer.on('message', (_m, rinfo) => peer.send(OK, rinfo.port, rinfo.address));
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    closers.push(() => peer.close());
    const recorder = new EvidenceRecorder();
    const t = await TransportLayer.create({ recorder });
    closers.push(() => t.close());
    const got = nextInbound(t);
    await t.send(message(OPTIONS), { transport: 'udp', host: '127.0.0.1', port: peer.address().port });
    await got;
    const [out, inn] = recorder.records;
    expect(out).toMatchObject({ direction: 'out', kind: 'sip', transport: 'udp', src: { address: '127.0.0.1', port: t.udpPort }, dst: { port: peer.address().port } });
    expect(inn).toMatchObject({ direction: 'in', transport: 'udp', src: { address: '127.0.0.1', port: peer.address().port }, dst: { address: '127.0.0.1', port: t.udpPort } });
    expect(inn?.data.toString()).toBe(OK);
  });

  it('TCP: one record per framed message, on the connection’s ports, and a UDP packet each in the pcap', async () => {
    const server = net.createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString();
        // two answers in one segment: the framer splits them, the recorder keeps two messages
        if (buf.endsWith('\r\n\r\n')) sock.write(OK + OK.replace('200 OK', '202 Accepted'));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const recorder = new EvidenceRecorder();
    const t = await TransportLayer.create({ recorder });
    closers.push(() => t.close());
    const seen: Inbound[] = [];
    const both = new Promise<void>((resolve) => t.onMessage((m) => seen.push(m) === 2 && resolve()));
    const dest = { transport: 'tcp' as const, host: '127.0.0.1', port };
    const flow = await t.prepare(dest);
    await t.send(message(OPTIONS), dest);
    await both;
    expect(recorder.records.map((r) => `${r.direction} ${r.transport} ${r.data.toString().split('\r\n')[0]}`)).toEqual([
      'out tcp OPTIONS sip:probe@127.0.0.1 SIP/2.0',
      'in tcp SIP/2.0 200 OK',
      'in tcp SIP/2.0 202 Accepted',
    ]);
    expect(recorder.records[0]?.src).toEqual({ address: flow.localAddress, port: flow.localPort });
    expect(recorder.records[1]?.dst).toEqual({ address: flow.localAddress, port: flow.localPort });
    const pcap = pcapFile(recorder.records);
    // 24-byte header, then per packet 16 + IPv4(20) + UDP(8) + message; protocol 17 (UDP)
    let off = 24;
    for (const r of recorder.sorted()) {
      expect(pcap[off + 16 + 9]).toBe(17);
      expect(pcap.readUInt16BE(off + 16 + 20)).toBe(r.src.port);
      expect(pcap.subarray(off + 16 + 28, off + 16 + 28 + r.data.length).toString()).toBe(r.data.toString());
      off += 16 + 28 + r.data.length;
    }
    expect(off).toBe(pcap.length);
  });
});
