// NAT and QoS (issue 17 items 3-4) below the wire: sip.external_ip in Via sent-by and
// Contact of every request (REGISTER, its digest retry, un-REGISTER), rtp.external_ip in
// SDP c= and o= (call spec from the config), and DSCP marks set through the udpio addon
// on media sockets and on node's own SIP sockets; without the addon a log line says so.
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { buildOffer } from '../../../src/call/sdp.js';
import { buildCallSpec } from '../../../src/probes/call/spec.js';
import { DEFAULT_RTP_DSCP, DEFAULT_SIP_DSCP, setSocketDscp } from '../../../src/rtp/dscp.js';
import { PortAllocator, type PortPair } from '../../../src/rtp/ports.js';
import { udpBackend } from '../../../src/rtp/udp.js';
import { UserAgent } from '../../../src/sip/ua.js';
import { runCli } from '../cli/run-cli.js';
import { startFakeRegistrar, type FakeRegistrar } from './fake-registrar.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

describe('sip.external_ip', () => {
  it('is the sent-by of every Via and the host of every Contact; the port stays the local one', async () => {
    const reg: FakeRegistrar = await startFakeRegistrar({ '1001': 'pw' });
    cleanup.push(() => reg.close());
    const ua = await UserAgent.create({ server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'pw', externalAddress: '203.0.113.7', localAddress: '127.0.0.1' });
    cleanup.push(() => ua.close());
    const out = await ua.register({ expires: 60 });
    expect(out.ok).toBe(true);
    await ua.unregister();
    expect(reg.requests.length).toBeGreaterThanOrEqual(3); // challenge, authenticated, un-REGISTER
    for (const r of reg.requests) {
      expect(r.headers.get('via')).toMatch(new RegExp(`^SIP/2\\.0/UDP 203\\.0\\.113\\.7:${ua.localPort};branch=z9hG4bK[^;]+;rport$`));
      expect(r.headers.get('contact')).toContain(`<sip:1001@203.0.113.7:${ua.localPort}>`);
    }
  });
  it('without it, Via and Contact name the local address', async () => {
    const reg = await startFakeRegistrar({ '1001': 'pw' });
    cleanup.push(() => reg.close());
    const ua = await UserAgent.create({ server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'pw' });
    cleanup.push(() => ua.close());
    await ua.register({ expires: 60 });
    expect(reg.requests[0]?.headers.get('via')).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:/);
    expect(reg.requests[0]?.headers.get('contact')).toMatch(/^<sip:1001@127\.0\.0\.1:\d+>/);
  });
  it('config: sip.external_ip / rtp.external_ip must be IP addresses; they reach the call spec with the qos marks', () => {
    const cfg = parseConfigText('pbx: { uri: "sip:127.0.0.1" }\naccounts: { "1001": { password: a }, "1002": { password: b } }\nsip: { external_ip: 203.0.113.7 }\nrtp: { external_ip: "2001:db8::7" }\nqos: { rtp_dscp: 34 }\n', '/c.yaml', {});
    const spec = buildCallSpec({ from: '1001', to: '1002', durationMs: 2000 }, cfg, {});
    expect(spec.ok && spec.spec.network).toEqual({ sipExternalIp: '203.0.113.7', rtpExternalIp: '2001:db8::7', sipDscp: DEFAULT_SIP_DSCP, rtpDscp: 34 });
    expect(() => parseConfigText('pbx: { uri: "sip:127.0.0.1" }\nsip: { external_ip: nat.example.com }\n', '/c.yaml', {})).toThrow(/sip\.external_ip: expected an IP address/);
    expect(() => parseConfigText('pbx: { uri: "sip:127.0.0.1" }\nqos: { sip_dscp: 64 }\n', '/c.yaml', {})).toThrow(/qos\.sip_dscp/);
  });
});

describe('rtp.external_ip', () => {
  it('an offer names the external address in c= and o= (IPv4 and IPv6)', () => {
    const sdp = buildOffer('198.51.100.9', 16000, ['PCMU']);
    expect(sdp).toMatch(/^o=callprobe \d+ 1 IN IP4 198\.51\.100\.9\r?$/m);
    expect(sdp).toMatch(/^c=IN IP4 198\.51\.100\.9\r?$/m);
    expect(buildOffer('2001:db8::7', 16000, ['PCMU'])).toMatch(/^c=IN IP6 2001:db8::7\r?$/m);
  });
});

describe('DSCP marks', () => {
  it('defaults: EF (46) for RTP, CS3 (24) for SIP', () => {
    expect([DEFAULT_RTP_DSCP, DEFAULT_SIP_DSCP]).toEqual([46, 24]);
  });
  it.runIf(udpBackend().name === 'udpio')('are set on udpio media sockets and on node:dgram / node:net sockets by fd', async () => {
    const ports = new PortAllocator({ min: 19500, max: 19599, address: '127.0.0.1' });
    const pair: PortPair = await ports.allocate();
    cleanup.push(() => pair.release());
    expect(setSocketDscp(pair.rtp, 46)).toEqual({ ok: true });
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => udp.close());
    expect(setSocketDscp(udp, 24)).toEqual({ ok: true });
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => server.close());
    const tcp = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => tcp.once('connect', r));
    cleanup.push(() => tcp.destroy());
    expect(setSocketDscp(tcp, 24)).toEqual({ ok: true });
    expect(setSocketDscp(udp, 64)).toEqual({ ok: false, reason: 'DSCP 64 is not 0-63' });
    // a closed socket has no fd any more
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', () => r()));
    closed.close();
    expect(setSocketDscp(closed, 24).ok).toBe(false);
  });
  it('without the addon (CALLPROBE_UDPIO=0) the shipped CLI says once per kind of traffic that DSCP cannot be set, and still works', async () => {
    const run = await runCli(['demo', '--duration', '1s', '--json'], { env: { CALLPROBE_UDPIO: '0' }, timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    const lines = run.stderr.split('\n').filter((l) => l.includes('DSCP cannot be set'));
    expect(lines.filter((l) => l.includes('RTP sockets'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('SIP sockets'))).toHaveLength(1);
    expect(lines[0]).toMatch(/the udpio addon is not in use \(disabled by CALLPROBE_UDPIO=0\)/);
  }, 90_000);
});
