// Hostile-peer suite, registrar and proxy (issue 14 item 1, issue 21 item 8):
// - a proxy that challenges with 407 (realm A) in front of a registrar that challenges
//   with 401 (realm B) — Kamailio in front of FreeSWITCH. RFC 3261 §22.3: the UA keeps
//   credentials per realm and answers both; the same realm challenging twice (no
//   stale=true) fails after one retry;
// - the PBX dies mid-call: BYE and un-REGISTER run at once (one Timer F, not two) and
//   both failures are reported.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeDigestResponse, parseAuthParams } from '../../src/sip/digest.js';
import type { SipRequest } from '../../src/sip/message.js';
import { answerSdp, jsonOf, runProbe, sdpTarget, startFarEnd, startRtpPeer, type FarEnd, type RtpPeer } from './helpers/far-end.js';

const PASSWORD = 'realm-pw-1001';
const ENV = { CALLPROBE_1001_PASSWORD: PASSWORD };
const open: Array<FarEnd | RtpPeer> = [];
afterEach(() => {
  while (open.length) open.pop()?.close();
});

/** True when `req` carries a valid answer for `realm` in `header`. */
function answered(req: SipRequest, header: 'authorization' | 'proxy-authorization', realm: string, nonce: string): boolean {
  return req.headers.getAll(header).some((v) => {
    const p = parseAuthParams(v.replace(/^Digest\s+/i, ''));
    if (!p || p.get('realm') !== realm) return false;
    const expected = computeDigestResponse({
      algorithm: 'MD5',
      username: p.get('username') ?? '',
      realm,
      password: PASSWORD,
      method: req.method,
      uri: p.get('uri') ?? '',
      nonce,
      qop: 'auth',
      nc: p.get('nc') ?? '',
      cnonce: p.get('cnonce') ?? '',
    });
    return p.get('nonce') === nonce && p.get('response') === expected;
  });
}

/** 407 realm A unless Proxy-Authorization A is right, then 401 realm B unless Authorization B is right, else `ok`. */
function twoRealms(ok: (req: SipRequest, fe: FarEnd) => void, opts: { registrarNeverSatisfied?: boolean } = {}) {
  return (req: SipRequest, fe: FarEnd): void => {
    if (req.method === 'ACK' || req.method === 'BYE') {
      if (req.method === 'BYE') fe.reply(req, 200);
      return;
    }
    if (!answered(req, 'proxy-authorization', 'proxy.A', 'nonceA')) {
      fe.reply(req, 407, { headers: [['Proxy-Authenticate', 'Digest realm="proxy.A", nonce="nonceA", qop="auth", algorithm=MD5']] });
      return;
    }
    if (opts.registrarNeverSatisfied || !answered(req, 'authorization', 'registrar.B', 'nonceB')) {
      fe.reply(req, 401, { headers: [['WWW-Authenticate', 'Digest realm="registrar.B", nonce="nonceB", qop="auth", algorithm=MD5']] });
      return;
    }
    ok(req, fe);
  };
}

async function farEnd(script: (req: SipRequest, fe: FarEnd) => void): Promise<FarEnd> {
  const fe = await startFarEnd(script);
  open.push(fe);
  return fe;
}

describe('407 (realm A) then 401 (realm B)', () => {
  it('probe register: exit 0, the third REGISTER carries Proxy-Authorization for A and Authorization for B', async () => {
    const fe = await farEnd(
      twoRealms((req, f) => {
        f.reply(req, 200, { headers: [['Contact', `${req.headers.get('contact') ?? ''};expires=300`]] });
      }),
    );
    const run = await runProbe(['register', '1001', '--server', `sip:127.0.0.1:${fe.port}`, '--json'], { env: ENV });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const regs = fe.requests('REGISTER');
    expect(regs).toHaveLength(3);
    const third = regs[2] as SipRequest;
    expect(answered(third, 'proxy-authorization', 'proxy.A', 'nonceA')).toBe(true);
    expect(answered(third, 'authorization', 'registrar.B', 'nonceB')).toBe(true);
  });

  it('probe call (INVITE): answered after both challenges, media flows, exit 0', async () => {
    const rtp = await startRtpPeer();
    open.push(rtp);
    const fe = await farEnd(
      twoRealms((req, f) => {
        if (req.method !== 'INVITE') return;
        const ours = sdpTarget(req.body.toString());
        f.reply(req, 200, { body: answerSdp(rtp.port) });
        rtp.sendTo(ours.address, ours.port);
      }),
    );
    const run = await runProbe(['call', '--no-audio-analysis', '1001', 'far', '--direct', fe.uri(), '--duration', '1s', '--json'], { env: ENV });
    const json = jsonOf<{ success: boolean; failures: unknown[] }>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    const invites = fe.requests('INVITE');
    expect(invites).toHaveLength(3);
    expect(answered(invites[2] as SipRequest, 'proxy-authorization', 'proxy.A', 'nonceA')).toBe(true);
    expect(answered(invites[2] as SipRequest, 'authorization', 'registrar.B', 'nonceB')).toBe(true);
    expect(rtp.arrivals.length).toBeGreaterThan(30);
  });

  it('the same realm challenging twice without stale=true: exit 1 after one retry, naming user and realm', async () => {
    const fe = await farEnd(twoRealms(() => undefined, { registrarNeverSatisfied: true }));
    const run = await runProbe(['register', '1001', '--server', `sip:127.0.0.1:${fe.port}`, '--json'], { env: ENV });
    expect(run.code).toBe(1);
    // 407 → answered A; 401 → answered B; 401 again for B → rejected: three REGISTERs, never a loop.
    expect(fe.requests('REGISTER')).toHaveLength(3);
    expect(run.stdout).toMatch(/1001@registrar\.B rejected/);
  });
});

describe('the PBX dies mid-call', () => {
  it('BYE and un-REGISTER go out together, both failures are reported, exit within 64·T1 + a few s of the hang-up', async () => {
    const rtp = await startRtpPeer();
    open.push(rtp);
    let dead = false;
    const fe = await farEnd((req, f) => {
      if (dead) return;
      if (req.method === 'REGISTER') f.reply(req, 200, { headers: [['Contact', `${req.headers.get('contact') ?? ''};expires=120`]] });
      else if (req.method === 'INVITE') {
        const ours = sdpTarget(req.body.toString());
        f.reply(req, 200, { body: answerSdp(rtp.port) });
        rtp.sendTo(ours.address, ours.port);
      } else if (req.method === 'ACK') setTimeout(() => (dead = true), 500);
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callprobe-deadpbx-'));
    const config = path.join(dir, 'callprobe.yaml');
    fs.writeFileSync(
      config,
      `pbx: { uri: "sip:127.0.0.1:${fe.port}", transport: udp }
accounts:
  "1001": { password: "${PASSWORD}" }
allowed_destinations: ["9*"]
state_dir: ${dir}
`,
    );
    const T1 = 50;
    const run = await runProbe(['call', '--no-audio-analysis', '1001', '9555', '--config', config, '--duration', '1500ms', '--sip-t1', `${T1}ms`, '--json']);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.code, run.stderr).toBe(1);
    const json = jsonOf<{ failures: Array<{ check: string; phase: string; message: string }> }>(run);
    const checks = json.failures.map((f) => f.check);
    expect(checks).toContain('bye');
    expect(checks).toContain('unregister');
    expect(json.failures.find((f) => f.check === 'unregister')?.message).toMatch(/un-REGISTER 1001: .*Timer F/);
    // Both first transmissions left within a moment of each other (concurrent, not one after the other).
    const byeAt = fe.received.find((r) => r.message.kind === 'request' && r.message.method === 'BYE')?.at;
    // The un-REGISTER's first request: the first REGISTER with a later CSeq than the one that registered us
    // (copies of that one are retransmissions).
    const registers = fe.received.filter((r) => r.message.kind === 'request' && r.message.method === 'REGISTER');
    const firstSeq = registers[0]?.message.cseq.seq ?? 0;
    const unregAt = registers.find((r) => r.message.cseq.seq > firstSeq)?.at;
    expect(byeAt).toBeDefined();
    expect(unregAt).toBeDefined();
    expect(Math.abs((byeAt ?? 0) - (unregAt ?? 0))).toBeLessThan(500);
    // One Timer F (64·T1 = 3.2 s) after the hang-up, not two.
    expect(run.ms).toBeLessThan(1500 + 64 * T1 + 5000);
  });
});
