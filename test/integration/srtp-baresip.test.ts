// SRTP interop with an independent implementation (issue 17 item 4): baresip
// 1.0 with its srtp module and `mediaenc=srtp-mand` (libre/libsrtp-style SRTP,
// SDES) answers `probe call --direct ... --srtp required` over TLS signalling
// (baresip's TLS listener, SIP_PORT + 1, with the lab certificate; our side
// verifies it against that certificate: no --insecure, no --allow-insecure-keys).
// Checked: baresip's audio reaches us as SRTP that authenticates (0 loss); one
// corrupted packet the test injects into our RTP port mid-call is counted as an
// authentication failure, not as a received packet; our stream to baresip is measured
// from baresip's SRTCP report (decrypted and read by us: measured_by "rtcp", 0 lost),
// and baresip's own summary agrees: it decrypted our stream with the agreed suite,
// received what we sent with 0 lost and 0 errors, and read our SRTCP reports; tshark
// finds none of our G.711 frames in clear on our port.
// The call lasts 6 s: libre (baresip's RTP stack) sends its first report 5 s after the
// call starts (fixed RTCP_INTERVAL 5000 in re/src/rtp/sess.c; its BYE carries no report
// block), and ours goes out 1.25-3.75 s in (RFC 3550 §6.2/6.3.5, the first interval
// halved): in a 3 s call baresip got our first SR only ~70 % of the time, and without
// one its summary has no lost/jitter rows (the 5 s wait for them timed out).
const CALL_SECONDS = 6;
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { capture, freeTcpPort, labWorkdir, spawnTracked, writeBaresipConf, type TrackedProcess } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';
import { defaultAudioSource, encodedFrames } from '../../src/rtp/audio.js';
import type { AudioCodec } from '../../src/rtp/codec.js';
import { jsonOf, runProbe } from './helpers/far-end.js';

const execFileP = promisify(execFile);
const SIP_PORT = 5186; // baresip binds this (UDP, TCP) and the next one (TLS)
const TLS_PORT = SIP_PORT + 1;
const BARESIP_RTP: [number, number] = [17050, 17059];
const RTP: [number, number] = [16990, 16999];
let baresip: TrackedProcess | undefined;

async function waitFor(what: string, ms: number, cond: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  const dir = writeBaresipConf(path.join(labWorkdir(), 'baresip-srtp'), {
    user: 'srtp',
    password: 'unused',
    sipPort: SIP_PORT,
    rtpPortMin: BARESIP_RTP[0],
    rtpPortMax: BARESIP_RTP[1],
    ctrlPort: await freeTcpPort(),
    answermode: 'auto',
    audioFile: path.join(labWorkdir(), 'lab_audio_long.wav'),
  });
  // the srtp module, SRTP mandatory for the account, no REGISTER; a TLS listener with
  // the lab's certificate (SAN IP:127.0.0.1; baresip wants certificate and key in one file)
  const tls = path.join(labWorkdir(), 'tls');
  const certKey = path.join(dir, 'cert-key.pem');
  fs.writeFileSync(certKey, fs.readFileSync(path.join(tls, 'pbx.crt'), 'utf8') + fs.readFileSync(path.join(tls, 'pbx.key'), 'utf8'));
  fs.appendFileSync(path.join(dir, 'config'), `module srtp.so\nsip_certificate ${certKey}\n`);
  const accounts = path.join(dir, 'accounts');
  fs.writeFileSync(accounts, fs.readFileSync(accounts, 'utf8').replace('regint=600', 'regint=0;mediaenc=srtp-mand'));
  baresip = spawnTracked('baresip', ['-f', dir], { name: 'baresip-srtp' });
  await waitFor('baresip-srtp to be ready', 10_000, () => /baresip is ready/.test(baresip?.stdout() ?? ''));
});

/** Counts what baresip sends to our RTP ports (no target: it only counts), so the test knows our receiver is up. */
const COUNT_RULE = ['INPUT', '-i', 'lo', '-p', 'udp', '--sport', `${BARESIP_RTP[0]}:${BARESIP_RTP[1]}`, '--dport', `${RTP[0]}:${RTP[1]}`, '-m', 'comment', '--comment', 'callprobe-srtp-baresip-count'];
let counting = false;

async function fromBaresip(): Promise<number> {
  const { stdout } = await execFileP('iptables', ['-w', '-L', 'INPUT', '-v', '-x', '-n']);
  const line = stdout.split('\n').find((l) => l.includes('/* callprobe-srtp-baresip-count */'));
  return Number(line?.trim().split(/\s+/)[0] ?? NaN);
}

afterAll(async () => {
  await baresip?.stop();
  if (counting) await execFileP('iptables', ['-w', '-D', ...COUNT_RULE]).catch(() => undefined);
});

function payloads(pcap: string, port: number): Promise<Buffer[]> {
  return execFileP('tshark', ['-r', pcap, '-Y', `udp.srcport == ${port} || udp.dstport == ${port}`, '-T', 'fields', '-e', 'udp.payload'], { maxBuffer: 32 * 1024 * 1024 }).then(({ stdout }) =>
    stdout.split('\n').filter((l) => l.trim() !== '').map((hex) => Buffer.from(hex.replace(/:/g, ''), 'hex').subarray(12)),
  );
}

describe('probe call --srtp required over TLS against baresip (srtp module, mediaenc=srtp-mand)', () => {
  it('both directions SRTP and measured: baresip → us authenticates with 0 loss, an injected corrupt packet is an auth failure, us → baresip from its SRTCP report (0 lost), baresip decrypts all we send and our SRTCP, no clear frame on our leg', async () => {
    const cfg = path.join(labWorkdir(), 'srtp-baresip.yaml');
    const target = `sip:127.0.0.1:${TLS_PORT};transport=tls`;
    fs.writeFileSync(cfg, `pbx: { uri: "${target}", transport: tls }\nrtp: { port_min: ${RTP[0]}, port_max: ${RTP[1]}, codecs: [PCMU, PCMA] }\nstate_dir: ${labWorkdir()}/srtp-baresip-state\n`);
    await execFileP('iptables', ['-w', '-I', ...COUNT_RULE]);
    counting = true;
    const before = await fromBaresip();
    const cap = await capture({ filter: `udp and (portrange ${RTP[0]}-${RTP[1]} or portrange ${BARESIP_RTP[0]}-${BARESIP_RTP[1]})` });
    let run: Awaited<ReturnType<typeof runProbe>>;
    const injector = dgram.createSocket('udp4');
    try {
      const running = runProbe(
        ['call', 'me', 'srtp', '--direct', `sip:srtp@127.0.0.1:${TLS_PORT};transport=tls`, '--transport', 'tls', '--local-address', '127.0.0.1', '--srtp', 'required', '--duration', `${CALL_SECONDS}s`, '--json', '--config', cfg],
        // TLS verified against the lab certificate baresip presents, not --insecure
        { killAfterMs: 28_000, env: { NODE_EXTRA_CA_CERTS: path.join(labWorkdir(), 'tls', 'pbx.crt') } },
      );
      // Once 1 s of baresip's SRTP reached our ports, our receiver is up: one corrupted
      // packet (an RTP header, then bytes that are no SRTP of this session's keys) to
      // every RTP port of our range; only the call's own port is bound.
      for (let i = 0; i < 300 && (await fromBaresip()) - before < 50; i++) await new Promise((res) => setTimeout(res, 20));
      expect((await fromBaresip()) - before, 'baresip\'s media reached our ports').toBeGreaterThanOrEqual(50);
      const corrupt = Buffer.concat([Buffer.from([0x80, 0x00, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef]), randomBytes(160 + 10)]);
      for (let port = RTP[0]; port <= RTP[1]; port += 2) injector.send(corrupt, port, '127.0.0.1');
      run = await running;
    } finally {
      injector.close();
      await cap.stop();
    }
    const r = jsonOf<CallResult>(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    // baresip answered RTP/SAVP with one of our suites
    expect(r.media?.srtp?.suite).toMatch(/^AES_CM_128_HMAC_SHA1_(80|32)$/);
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    const there = r.media?.directions.find((d) => d.direction === 'caller_to_callee');
    process.stderr.write(`srtp-baresip: suite ${r.media?.srtp?.suite}; back ${JSON.stringify({ rx: back?.packets_received, lost: back?.packets_lost, srtp: back?.srtp })}; there ${JSON.stringify({ by: there?.measured_by, sent: there?.packets_sent, lost: there?.packets_lost, jitter: there?.jitter_ms, r: there?.r_factor })}\n`);
    // us → baresip: measured by baresip's receiver, read from its SRTCP report (the
    // way a plain call to baresip is measured; it needs SRTCP decrypted and its SR parsed)
    expect(there).toMatchObject({ measured_by: 'rtcp', packets_lost: 0, loss_percent: 0, emodel: 'G.107', r_factor: 93.2 });
    expect(there?.jitter_ms).toBeTypeOf('number');
    expect(back?.measured_by).toBe('receiver');
    expect(back?.packets_received).toBeGreaterThan(CALL_SECONDS * 40);
    expect(back?.packets_lost).toBe(0);
    // the injected packet: one authentication failure, neither received nor lost
    expect(back?.srtp).toMatchObject({ auth_failures: 1, replays: 0, malformed: 0 });
    expect(r.target).toMatch(/transport=tls/);
    // baresip's side (its rtcpsummary block at hang-up): it decrypted our SRTP with the suite we
    // agreed, received what we sent with 0 lost and 0 errors, and read our SRTCP reports
    await waitFor('baresip\'s call summary', 5000, () => /audio\s+Transmit:\s+Receive:[\s\S]*jitter:/.test(baresip?.stdout() ?? ''));
    const out = baresip?.stdout() ?? '';
    expect(out).toContain(`SRTP is Enabled (cryptosuite=${r.media?.srtp?.suite ?? ''})`);
    const row = (name: string): [number, number] => {
      const m = new RegExp(`${name}:\\s+(\\d+)\\s+(\\d+)`).exec(out.slice(out.lastIndexOf('Transmit:')));
      return [Number(m?.[1]), Number(m?.[2])];
    };
    process.stderr.write(`srtp-baresip: baresip received ${row('packets')[1]}, lost ${row('lost')[1]}, errors ${row('errors')[1]}, our reports about its stream ${row('pkt.report')[0]}; we sent ${there?.packets_sent}\n`);
    expect(Math.abs(row('packets')[1] - (there?.packets_sent ?? 0))).toBeLessThanOrEqual(3);
    expect(row('lost')[1]).toBe(0);
    expect(row('errors')[1]).toBe(0);
    expect(row('pkt.report')[0]).toBeGreaterThan(0);

    const codec = (r.media?.codec ?? 'PCMU') as AudioCodec;
    const frames = new Set(encodedFrames(defaultAudioSource(), codec, 160).map((f) => Buffer.from(f).toString('hex')));
    const ourPort = back?.local_rtp_port ?? 0;
    const onOurLeg = await payloads(cap.file, ourPort);
    expect(onOurLeg.length).toBeGreaterThan(CALL_SECONDS * 80);
    expect(onOurLeg.filter((p) => p.length === 160 && frames.has(p.toString('hex')))).toHaveLength(0);
  });
});
