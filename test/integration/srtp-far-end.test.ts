// SRTP through the shipped CLI against a scripted far end (issue 17 item 4):
// `probe call --direct ... --srtp required` to a UDP peer on an ephemeral
// 127.0.0.1 port that answers RTP/SAVP with its own SDES key, checks that what
// the probe sends authenticates under the probe's key (and is not the clear
// payload), and sends SRTP back with one tampered packet in place of a genuine
// one and one replayed packet on top. Signalling is UDP here, so the run needs
// --allow-insecure-keys; without it the CLI refuses before sending anything.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newSdesCrypto, SrtpContext, type SrtpSuite } from '../../src/rtp/srtp.js';
import { jsonOf, runProbe, sdpTarget, startFarEnd, type FarEnd } from './helpers/far-end.js';
import { boundUdpPorts } from '../lab/lab.js';
import type { AnsweredCallReport } from '../../src/cli/answer.js';
import type { CallResult } from '../../src/probes/call/index.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  while (open.length) open.pop()?.close();
});

interface SrtpFarEnd {
  fe: FarEnd;
  /** Genuine packets sent (the tampered one not included). */
  genuine: number;
  /** What arrived from the probe: authenticated under its offered key, failed, and how many carried the clear payload. */
  fromProbe: { ok: number; failed: number; clearPayload: number };
}

const TAMPER_SEQ = 30;
const REPLAY_AT = 40;
const REPLAY_OF = 35;

/** A far end that answers the SDES offer with `suite` and streams SRTP back (plain RTP/AVP answer with `plain`). */
async function srtpFarEnd(suite: SrtpSuite, opts: { plain?: boolean } = {}): Promise<SrtpFarEnd> {
  const rtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
  let timer: NodeJS.Timeout | undefined;
  const state: SrtpFarEnd = { fe: undefined as unknown as FarEnd, genuine: 0, fromProbe: { ok: 0, failed: 0, clearPayload: 0 } };
  let rx: SrtpContext | undefined;
  rtp.on('message', (msg) => {
    if (!rx || (msg[1] ?? 0) >= 192) return; // RTP only (SRTCP goes to the odd port anyway)
    const r = rx.unprotectRtp(msg);
    if (r.ok) {
      state.fromProbe.ok++;
      if (msg.subarray(12, 172).equals(r.packet.subarray(12))) state.fromProbe.clearPayload++;
    } else state.fromProbe.failed++;
  });
  const fe = await startFarEnd((req, f) => {
    if (req.method === 'INVITE') {
      const offer = req.body.toString();
      const line = [...offer.matchAll(/^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)/gm)].find((m) => m[2] === suite);
      if (!line) return void f.reply(req, 488);
      const theirs = Buffer.from(line[3] ?? '', 'base64');
      const ours = newSdesCrypto(Number(line[1]), suite);
      rx = new SrtpContext(suite, theirs);
      const tx = new SrtpContext(suite, ours.key);
      const sdp = [
        'v=0', 'o=far 1 1 IN IP4 127.0.0.1', 's=far', 'c=IN IP4 127.0.0.1', 't=0 0',
        `m=audio ${rtp.address().port} ${opts.plain ? 'RTP/AVP' : 'RTP/SAVP'} 0`,
        'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv',
        ...(opts.plain ? [] : [`a=crypto:${line[1]} ${suite} inline:${ours.key.toString('base64')}`]),
        '',
      ].join('\r\n');
      f.reply(req, 200, { body: sdp });
      const to = sdpTarget(offer);
      const sent = new Map<number, Buffer>();
      let seq = 1;
      timer = setInterval(() => {
        const h = Buffer.alloc(12);
        h[0] = 0x80;
        h.writeUInt16BE(seq, 2);
        h.writeUInt32BE(seq * 160, 4);
        h.writeUInt32BE(0xfa12e11d, 8);
        const packet = tx.protectRtp(Buffer.concat([h, Buffer.alloc(160, 0xff)]));
        sent.set(seq, packet);
        if (seq === TAMPER_SEQ) {
          const bad = Buffer.from(packet);
          bad[20] = (bad[20] ?? 0) ^ 0x40; // one bit of the encrypted payload
          rtp.send(bad, to.port, to.address);
        } else {
          rtp.send(packet, to.port, to.address);
          state.genuine++;
        }
        if (seq === REPLAY_AT) rtp.send(sent.get(REPLAY_OF) as Buffer, to.port, to.address);
        seq++;
      }, 20);
    } else if (req.method === 'BYE') {
      clearInterval(timer);
      f.reply(req, 200);
    } else if (req.method === 'REGISTER') {
      f.reply(req, 200, { headers: [['Contact', req.headers.get('contact') ?? ''], ['Expires', '60']] });
    }
  });
  state.fe = fe;
  open.push(fe, { close: () => (clearInterval(timer), rtp.close()) });
  return state;
}

function call(fe: FarEnd, extra: string[]) {
  // The scripted far end sends µ-law silence (0xff): that is audio_silent by content, which is
  // not what these SRTP cases test, so the audio analysis is off for them.
  return runProbe(['call', 'me', 'far', '--direct', fe.uri(), '--local-address', '127.0.0.1', '--json', '--no-audio-analysis', ...extra], { killAfterMs: 25_000 });
}

describe('probe call --srtp against a scripted SDES far end', () => {
  it('required, _80: both ways SRTP; the tampered packet is an auth failure and lost, the replay is a replay, not a duplicate', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_80');
    const run = await call(far.fe, ['--srtp', 'required', '--allow-insecure-keys', '--duration', '2s', '--loss-max', '10']);
    const r = jsonOf<CallResult>(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    expect(r.media?.srtp).toEqual({ mode: 'required', key_exchange: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_80' });
    // the offer was RTP/SAVP with both suites
    const offer = far.fe.requests('INVITE')[0]?.body.toString() ?? '';
    expect(offer).toMatch(/^m=audio \d+ RTP\/SAVP /m);
    expect(offer).toMatch(/a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
    expect(offer).toMatch(/a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:/);

    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    process.stderr.write(`srtp-far-end: genuine sent ${far.genuine}, received ${back?.packets_received}, lost ${back?.packets_lost}, srtp ${JSON.stringify(back?.srtp)}; from probe ${JSON.stringify(far.fromProbe)}\n`);
    expect(back?.srtp).toMatchObject({ suite: 'AES_CM_128_HMAC_SHA1_80', auth_failures: 1, replays: 1, malformed: 0 });
    expect(back?.duplicates).toBe(0);
    // the tampered packet never reached the statistics: seq 30 is a hole
    expect(back?.packets_lost).toBeGreaterThanOrEqual(1);
    // everything received authenticated; only packets in flight at the BYE may be missing
    expect(back?.packets_received).toBeLessThanOrEqual(far.genuine);
    expect(back?.packets_received).toBeGreaterThan(far.genuine - 15);
    expect(run.stdout).not.toMatch(/inline:/); // keys are not in the result

    // what the probe sent authenticates under the key it offered, and is not the clear payload
    const there = r.media?.directions.find((d) => d.direction === 'caller_to_callee');
    expect(far.fromProbe.failed).toBe(0);
    expect(far.fromProbe.clearPayload).toBe(0);
    expect(far.fromProbe.ok).toBe(there?.packets_sent);
  });

  it('required, _32 in human output: the SRTP line names the suite and the counts', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_32');
    const run = await runProbe(['call', 'me', 'far', '--direct', far.fe.uri(), '--local-address', '127.0.0.1', '--srtp', 'required', '--allow-insecure-keys', '--duration', '2s', '--loss-max', '10', '--no-audio-analysis'], { killAfterMs: 25_000 });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/SRTP {3}required, SDES AES_CM_128_HMAC_SHA1_32/);
    expect(run.stdout).toMatch(/callee→caller: SRTP AES_CM_128_HMAC_SHA1_32: \d+ authenticated, 1 auth failure, 1 replay/);
    expect(far.fromProbe.failed).toBe(0);
    expect(far.fromProbe.ok).toBeGreaterThan(50);
  });

  it('required, far end answers plain RTP/AVP: exit 1, check srtp at phase media, the call is hung up', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_80', { plain: true });
    const run = await call(far.fe, ['--srtp', 'required', '--allow-insecure-keys', '--duration', '2s']);
    const r = jsonOf<CallResult>(run);
    expect(run.code).toBe(1);
    expect(r.failures[0]).toMatchObject({ check: 'srtp', phase: 'media' });
    expect(r.failures[0]?.message).toMatch(/accepted none of our SDES keys/);
    expect(far.fe.requests('BYE')).toHaveLength(1);
  });

  it('optional: RTP/AVP offer with a=crypto; a plain answer gives a passing plain-RTP call that says so', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_80', { plain: true });
    const run = await call(far.fe, ['--srtp', 'optional', '--allow-insecure-keys', '--duration', '1s']);
    const r = jsonOf<CallResult>(run);
    expect(r.failures, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    const offer = far.fe.requests('INVITE')[0]?.body.toString() ?? '';
    expect(offer).toMatch(/^m=audio \d+ RTP\/AVP /m);
    expect(offer).toMatch(/a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
    expect(r.media?.srtp).toEqual({ mode: 'optional', key_exchange: 'sdes', suite: null });
    expect(r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.srtp).toBeNull();
    // we sent plain RTP: nothing of it authenticates under the key we offered
    expect(far.fromProbe.ok).toBe(0);
    expect(far.fromProbe.failed).toBeGreaterThan(25);
  });

  it('keys over UDP signalling without --allow-insecure-keys: exit 2, nothing sent (probe call and probe answer)', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_80');
    const run = await call(far.fe, ['--srtp', 'optional']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/srtp optional: SDES keys would be sent in clear over UDP signalling/);
    expect(far.fe.received).toHaveLength(0);
    const answer = await runProbe(['answer', '--bind', '127.0.0.1:25081', '--srtp', 'required', '--calls', '1'], { killAfterMs: 10_000 });
    expect(answer.code).toBe(2);
    expect(answer.stderr).toMatch(/--allow-insecure-keys/);
  });

  it('probe answer --srtp required answers probe call --srtp required: each end reports what its receiver authenticated', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const answering = runProbe(
      ['answer', '--bind', `127.0.0.1:${port}`, '--rtp-ports', '17200-17219', '--calls', '1', '--json', '--srtp', 'required', '--allow-insecure-keys'],
      { killAfterMs: 25_000 },
    );
    const t0 = Date.now();
    while (!boundUdpPorts().has(port) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    const run = await runProbe(
      ['call', 'me', 'answer', '--direct', `sip:answer@127.0.0.1:${port}`, '--local-address', '127.0.0.1', '--srtp', 'required', '--allow-insecure-keys', '--duration', '2s', '--json'],
      { killAfterMs: 25_000 },
    );
    const answered = await answering;
    const r = jsonOf<CallResult>(run);
    expect(r.failures, run.stderr).toEqual([]);
    const report = JSON.parse(answered.stdout.trim().split('\n')[0] ?? '{}') as AnsweredCallReport;
    expect(answered.code, answered.stderr).toBe(0);
    const back = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(report.srtp).toMatchObject({ suite: r.media?.srtp?.suite, auth_failures: 0, replays: 0, malformed: 0 });
    // the answering end authenticated every packet it counted (plus SRTCP), and so did we
    expect(report.srtp?.packets_authenticated).toBeGreaterThanOrEqual(report.packets_received);
    expect(report.packets_received).toBeGreaterThan(80);
    expect(back?.srtp?.packets_authenticated).toBeGreaterThanOrEqual(back?.packets_received ?? 1);
    expect(back?.packets_received).toBeGreaterThan(80);
  });

  it('a call probe with media.srtp from a probe file (probe smoke): the config path negotiates SRTP and counts the tampered and replayed packets', async () => {
    const far = await srtpFarEnd('AES_CM_128_HMAC_SHA1_80');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-srtp-smoke-'));
    open.push({ close: () => fs.rmSync(dir, { recursive: true, force: true }) });
    const cfg = path.join(dir, 'callprobe.yaml');
    fs.writeFileSync(
      cfg,
      `pbx: { uri: "sip:127.0.0.1:${far.fe.port}", transport: udp }\naccounts:\n  "1001": { password: "pw" }\nrtp: { port_min: 17220, port_max: 17239 }\nallowed_destinations: ["far"]\nstate_dir: ${dir}/state\n`,
    );
    const suite = path.join(dir, 'smoke.yaml');
    fs.writeFileSync(
      suite,
      'probes:\n  - name: srtp-call\n    kind: call\n    from: "1001"\n    to: far\n    duration: 2s\n' +
        '    media: { srtp: required, allow_insecure_keys: true }\n    audio: { analysis: false }\n    thresholds: { loss_max_percent: 10 }\n',
    );
    const run = await runProbe(['smoke', suite, '--config', cfg, '--json'], { killAfterMs: 25_000 });
    const out = jsonOf<{ results: CallResult[] }>(run);
    const r = out.results[0];
    expect(r?.failures, run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    expect(r?.media?.srtp).toEqual({ mode: 'required', key_exchange: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_80' });
    const back = r?.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.srtp).toMatchObject({ auth_failures: 1, replays: 1 });
    expect(far.fromProbe.failed).toBe(0);
    expect(far.fromProbe.ok).toBeGreaterThan(50);
  });
});
