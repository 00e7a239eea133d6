// Proof that the lab harness works: real Kamailio + rtpengine + SIPp + baresip
// on 127.0.0.1, checked with tshark. Started by test/lab/global-setup.ts.
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAB,
  USERS,
  baresipCommand,
  capture,
  kamailioLog,
  kamcmd,
  netstring,
  parseNetstrings,
  parseRtpStreams,
  parseUlDump,
  labWorkdir,
  listProcesses,
  registeredContacts,
  removeBindings,
  resetAuthFailures,
  rtpStreams,
  sipOptionsUdp,
  sipp,
  sippStart,
  startKamailio,
  stopKamailio,
} from '../lab/lab.js';
import type { RtpStreamRow } from '../lab/lab.js';

const H = LAB.host;
const S = LAB.sippPorts;
const SIP_RTP_FILTER = 'udp and (portrange 5060-5099 or port 5160 or portrange 10000-20000)';

function register(ext: '1001' | '1002', regPort: number, contactPort: number, target = `${H}:5060`) {
  return sipp('reg_auth.xml', [
    target, '-m', '1', '-i', H, '-p', String(regPort), '-s', ext, '-au', ext, '-ap', USERS[ext],
    '-key', 'contact_port', String(contactPort), '-key', 'expires', '300',
  ]);
}

function call(to: string, durationMs: number, target = `${H}:5060`) {
  return sipp('uac_call.xml', [
    target, '-m', '1', '-i', H, '-p', String(S.uac1001), '-mi', H, '-mp', String(S.uac1001Rtp),
    '-s', to, '-key', 'caller', '1001', '-au', '1001', '-ap', USERS['1001'], '-d', String(durationMs),
  ]);
}

/** One OPTIONS sip:127.0.0.1 over TCP; resolves with the status line. */
function optionsTcp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: H, port }, () => {
      const lp = c.localPort ?? 0;
      c.write(
        `OPTIONS sip:${H}:${port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP ${H}:${lp};branch=z9hG4bK-tcp-${lp}\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:tcpcheck@${H}>;tag=${lp}\r\nTo: <sip:${H}>\r\n` +
          `Call-ID: tcp-${lp}@${H}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    let data = '';
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error(`no OPTIONS reply over tcp ${port}: ${data}`));
    }, 3000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      data += d;
      if (data.includes('\r\n\r\n')) {
        clearTimeout(t);
        c.destroy();
        resolve(data.split('\r\n')[0] ?? '');
      }
    });
    c.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Run fn while tshark captures SIP + RTP; the capture is stopped even when fn throws. */
async function captured(fn: () => Promise<void>): Promise<string> {
  const cap = await capture({ filter: SIP_RTP_FILTER });
  try {
    await fn();
  } finally {
    await cap.stop();
  }
  return cap.stop();
}

const streamKey = (r: RtpStreamRow): string => `${r.srcPort}->${r.dstPort}`;
const inRelay = (p: number): boolean => p >= LAB.rtpengineRange[0] && p <= LAB.rtpengineRange[1];

describe('lab PBX', () => {
  // Start from an empty location table whatever ran before (agent and smoke
  // tests leave their probe's binding registered, as a phone would), and
  // leave no stale bindings pointing at SIPp ports that are gone.
  beforeAll(() => removeBindings(['1001', '1002']));
  afterAll(() => removeBindings(['1001', '1002']));

  it('answers OPTIONS sip:127.0.0.1 with 200 without auth on both kamailios, UDP and TCP', async () => {
    expect(await sipOptionsUdp(LAB.ports.udp, 1000)).toBe('SIP/2.0 200 OK');
    expect(await sipOptionsUdp(LAB.ports.direct, 1000)).toBe('SIP/2.0 200 OK');
    expect(await optionsTcp(LAB.ports.tcp)).toBe('SIP/2.0 200 OK');
    expect(await optionsTcp(LAB.ports.direct)).toBe('SIP/2.0 200 OK');
  });

  it('rejects a wrong password with 401/403 and logs LAB-AUTH-FAIL', async () => {
    const r = await sipp('reg_badauth.xml', [
      `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.reg1001), '-s', '1001', '-au', '1001', '-ap', 'not-the-password',
      '-key', 'contact_port', String(S.uac1001),
    ]);
    expect(r.errors).toBe('');
    expect(r.code).toBe(0);
    expect(kamailioLog()).toMatch(/LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 .*ua="lab-sipp-badauth" fails_60s=\d+/);
    expect(await registeredContacts('1001')).toEqual([]);
    // leave the brute-force counter at 0 for tests that count to LAB-BRUTEFORCE
    expect(await kamcmd('htable.get', 'authfail', '127.0.0.1')).toMatch(/\d/);
    await resetAuthFailures();
    await expect(kamcmd('htable.get', 'authfail', '127.0.0.1')).rejects.toThrow();
  });

  it('registers 1001 and 1002 with digest auth and calls 1001 -> 1002 for 5 s through rtpengine', async () => {
    const uas = await sippStart('uas_answer.xml', [
      '-i', H, '-p', String(S.uas1002), '-mi', H, '-mp', String(S.uas1002Rtp), '-s', '1002',
    ]);
    const pcap = await captured(async () => {
      const reg2 = await register('1002', S.reg1002, S.uas1002);
      expect(reg2.code, reg2.errors).toBe(0);
      const reg1 = await register('1001', S.reg1001, S.uac1001);
      expect(reg1.code, reg1.errors).toBe(0);
      expect(await registeredContacts('1002')).toEqual([`sip:1002@${H}:${S.uas1002}`]);
      expect(await registeredContacts('1001')).toEqual([`sip:1001@${H}:${S.uac1001}`]);

      const c = await call('1002', 5000);
      expect(c.code, c.errors || c.stderr).toBe(0);
    }).finally(() => uas.stop());

    const streams = await rtpStreams(pcap);
    expect(new Set(streams.map(streamKey)).size).toBe(4);
    for (const s of streams) {
      expect(s.payload).toMatch(/g711A/);
      expect(s.lost).toBe(0);
      expect(s.problems).toBe(false);
      expect(s.packets).toBeGreaterThanOrEqual(235);
      expect(s.packets).toBeLessThanOrEqual(265);
      // every leg has rtpengine on one side: the media went through the relay
      expect(inRelay(s.srcPort) !== inRelay(s.dstPort)).toBe(true);
    }
    const endpoints = streams.map((s) => (inRelay(s.srcPort) ? s.dstPort : s.srcPort)).sort();
    expect(endpoints).toEqual([S.uac1001Rtp, S.uac1001Rtp, S.uas1002Rtp, S.uas1002Rtp].sort());

    const log = kamailioLog();
    expect(log).toMatch(/LAB-REGISTER ok user=1002 contact=sip:1002@127\.0\.0\.1:5070/);
    expect(log).toMatch(/LAB-CALL invite from=1001 to=1002 contact=sip:1002@127\.0\.0\.1:5070/);
    expect(log).toMatch(/ACC: transaction answered: .*method=INVITE;.*code=200;reason=OK;src_user=1001;src_ip=127\.0\.0\.1;dst_user=1002/);
  });

  it('routes 9<digits> to the carrier (9 stripped), which answers with RTP', async () => {
    expect((await register('1001', S.reg1001, S.uac1001)).code).toBe(0);
    const pcap = await captured(async () => {
      const c = await call('9155501234', 2000);
      expect(c.code, c.errors || c.stderr).toBe(0);
    });
    const fromCarrier = (await rtpStreams(pcap)).filter((s) => s.srcPort === LAB.ports.carrierRtp);
    expect(fromCarrier).toHaveLength(1);
    expect(fromCarrier[0]?.packets).toBeGreaterThan(80);
    expect(kamailioLog()).toMatch(/LAB-TRUNK call from=1001 to=155501234 via=127\.0\.0\.1:5090/);
  });

  it('baresip 1003 auto-answers with RTP; 1004 rings until CANCEL (487)', async () => {
    expect(await registeredContacts('1003')).toHaveLength(1);
    const info = await baresipCommand(LAB.ports.baresipCtrl1003, 'reginfo');
    expect(info.ok).toBe(true);
    expect(info.data).toMatch(/sip:1003@127\.0\.0\.1.*OK/);

    const pcap = await captured(async () => {
      const c = await call('1003', 3000);
      expect(c.code, c.errors || c.stderr).toBe(0);
      const cancel = await sipp('uac_cancel.xml', [
        `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.uac1001), '-mi', H, '-mp', String(S.uac1001Rtp),
        '-s', '1004', '-key', 'caller', '1001', '-au', '1001', '-ap', USERS['1001'], '-d', '1000',
      ]);
      expect(cancel.code, cancel.errors || cancel.stderr).toBe(0);
    });
    const fromBaresip = (await rtpStreams(pcap)).filter((s) => s.srcPort >= 17030 && s.srcPort <= 17039);
    expect(fromBaresip).toHaveLength(1);
    expect(fromBaresip[0]?.packets).toBeGreaterThan(100);
    expect(fromBaresip[0]?.lost).toBe(0);
    expect(kamailioLog()).toMatch(/ACC: transaction answered: .*method=INVITE;.*code=487;.*dst_user=1004/);
  });

  it('the direct kamailio on 5160 relays a call without rtpengine', async () => {
    const uas = await sippStart('uas_answer.xml', [
      '-i', H, '-p', String(S.uas1002), '-mi', H, '-mp', String(S.uas1002Rtp), '-s', '1002',
    ]);
    const pcap = await captured(async () => {
      expect((await register('1002', S.reg1002, S.uas1002, `${H}:5160`)).code).toBe(0);
      expect((await register('1001', S.reg1001, S.uac1001, `${H}:5160`)).code).toBe(0);
      expect(await registeredContacts('1002', 'direct')).toEqual([`sip:1002@${H}:${S.uas1002}`]);
      const c = await call('1002', 2000, `${H}:5160`);
      expect(c.code, c.errors || c.stderr).toBe(0);
    }).finally(() => uas.stop());
    const streams = await rtpStreams(pcap);
    expect(streams.map(streamKey).sort()).toEqual(
      [`${S.uac1001Rtp}->${S.uas1002Rtp}`, `${S.uas1002Rtp}->${S.uac1001Rtp}`].sort(),
    );
  });

  it('an INVITE to an unregistered extension gets 404, logged by acc', async () => {
    await removeBindings(['1002']); // 404 when not registered
    expect(await registeredContacts('1002')).toEqual([]);
    const r = await call('1002', 1000);
    expect(r.code).not.toBe(0);
    expect(r.errors).toMatch(/SIP\/2\.0 404 Not Found/);
    expect(kamailioLog()).toMatch(/ACC: transaction answered: .*method=INVITE;.*code=404;reason=Not Found;src_user=1001;.*dst_user=1002/);
  });

  it('safety guards: a non-loopback contact is not stored, a non-loopback SDP gets 488', async () => {
    const reg = await sipp('reg_foreign_contact.xml', [
      `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.reg1002), '-s', '1002', '-au', '1002', '-ap', USERS['1002'],
    ]);
    expect(reg.code, reg.errors).toBe(0);
    expect((await registeredContacts('1002')).filter((c) => c.includes('203.0.113.5'))).toEqual([]);
    const inv = await sipp('uac_foreign_sdp.xml', [
      `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.uac1001), '-s', '1003', '-key', 'caller', '1001',
      '-au', '1001', '-ap', USERS['1001'],
    ]);
    expect(inv.code, inv.errors).toBe(0);
    const log = kamailioLog();
    expect(log).toMatch(/LAB-SAFETY not storing non-loopback contact=sip:1002@203\.0\.113\.5:5060/);
    expect(log).toMatch(/LAB-SAFETY refused INVITE with SDP c=203\.0\.113\.99/);
  });

  it('mirrors SIP to HEPv3 on 127.0.0.1:9060', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(LAB.ports.hep, H, () => r()));
    try {
      const got = new Promise<Buffer>((resolve) => sock.once('message', (m) => resolve(m)));
      expect(await sipOptionsUdp(LAB.ports.udp, 1000)).toBe('SIP/2.0 200 OK');
      const pkt = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
      expect(pkt?.subarray(0, 4).toString()).toBe('HEP3');
      expect(pkt?.toString('latin1')).toContain('OPTIONS sip:127.0.0.1');
    } finally {
      sock.close();
    }
  });

  it('stopKamailio() / startKamailio() restart the main instance (new PID, baresips registered again)', async () => {
    const pidOf = (): number | undefined => listProcesses(labWorkdir()).find((p) => p.name === 'kamailio')?.pid;
    const before = pidOf();
    expect(before).toBeGreaterThan(0);
    await stopKamailio();
    expect(pidOf()).toBeUndefined();
    expect(await sipOptionsUdp(LAB.ports.udp, 300)).toBeNull();
    const after = await startKamailio();
    expect(after).not.toBe(before);
    expect(pidOf()).toBe(after);
    expect(await sipOptionsUdp(LAB.ports.udp, 1000)).toBe('SIP/2.0 200 OK');
    expect(await registeredContacts('1003')).toHaveLength(1);
    expect(await registeredContacts('1004')).toHaveLength(1);
  });
});

describe('lab harness parsers', () => {
  it('parseRtpStreams reads tshark 4.0 rows, including lost counts and the problems flag', () => {
    const text = [
      '========================= RTP Streams ========================',
      '   Start time      End time     Src IP addr  Port    Dest IP addr  Port       SSRC          Payload  Pkts         Lost   Min Delta(ms)  Mean Delta(ms)   Max Delta(ms)  Min Jitter(ms) Mean Jitter(ms)  Max Jitter(ms) Problems?',
      '     0.341228     10.320822       127.0.0.1 10008       127.0.0.1 16080 0xCA110000            g711A   500     0 (0.0%)          16.026          19.999          20.862           0.009           0.256           0.455',
      '     0.217051     15.195207      198.18.0.1 16080      198.18.0.6 16070 0xCA110000            g711A   721    29 (3.9%)          16.083          20.803          56.412           0.009           0.290           0.498 X',
      '==============================================================',
    ].join('\n');
    const rows = parseRtpStreams(text);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({
      src: '127.0.0.1', srcPort: 10008, dst: '127.0.0.1', dstPort: 16080, ssrc: 0xca110000, payload: 'g711A',
      packets: 500, lost: 0, lostPercent: 0, minDelta: 16.026, meanDelta: 19.999, maxDelta: 20.862,
      minJitter: 0.009, meanJitter: 0.256, maxJitter: 0.455, problems: false,
    });
    expect(rows[1]).toMatchObject({ src: '198.18.0.1', packets: 721, lost: 29, lostPercent: 3.9, problems: true });
  });

  it('netstring framing round-trips and keeps an incomplete tail', () => {
    const a = netstring('{"command":"reginfo"}');
    expect(a.toString()).toBe('21:{"command":"reginfo"},');
    const both = Buffer.concat([a, netstring('ü'), Buffer.from('5:ab')]);
    const { messages, rest } = parseNetstrings(both);
    expect(messages).toEqual(['{"command":"reginfo"}', 'ü']);
    expect(rest.toString()).toBe('5:ab');
  });

  it('parseUlDump maps each AoR to its contact addresses', () => {
    const dump = [
      '\t\t\t\tInfo: {', '\t\t\t\t\tAoR: 1004', '\t\t\t\t\tContacts: {', '\t\t\t\t\t\tContact: {',
      '\t\t\t\t\t\t\tAddress: sip:1004-x@127.0.0.1:5076', '\t\t\t\t\t\t}',
      '\t\t\t\tInfo: {', '\t\t\t\t\tAoR: 1002', '\t\t\t\t\t\t\tAddress: sip:1002@127.0.0.1:5070',
      '\t\t\t\t\t\t\tAddress: sip:1002@127.0.0.1:5072',
    ].join('\n');
    const m = parseUlDump(dump);
    expect(m.get('1004')).toEqual(['sip:1004-x@127.0.0.1:5076']);
    expect(m.get('1002')).toEqual(['sip:1002@127.0.0.1:5070', 'sip:1002@127.0.0.1:5072']);
    expect(m.get('1001')).toBeUndefined();
  });
});
