// Hostile-peer suite, established calls (issue 14 item 1): what real PBXs and SBCs do
// mid-dialog, scripted by small UDP/TCP/TLS peers on ephemeral 127.0.0.1 ports, against
// the shipped CLI (`probe call --direct ... --json`).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { hasOpenssl, makeCert } from './helpers/openssl.js';
import { answerSdp, jsonOf, runProbe, sdpTarget, startFarEnd, startRtpPeer, type FarEnd, type RtpPeer } from './helpers/far-end.js';

const open: Array<FarEnd | RtpPeer> = [];
afterEach(() => {
  while (open.length) open.pop()?.close();
});

interface CallJson {
  success: boolean;
  sip: { final_status: number | null };
  media: { duration_s: number; directions: Array<{ direction: string; packets_received: number | null; packets_sent: number | null }> } | null;
  failures: Array<{ check: string; phase: string; message: string }>;
}

/** A far end that answers with media from `rtp` and runs `then` once our ACK arrived. */
async function answering(
  rtp: RtpPeer,
  opts: {
    transport?: 'udp' | 'tcp' | 'tls';
    tls?: { cert: string; key: string };
    onAck?: (invite: SipRequest, fe: FarEnd) => void;
    onRequest?: (req: SipRequest, fe: FarEnd) => boolean;
    onResponse?: (res: SipResponse, fe: FarEnd) => void;
  } = {},
): Promise<FarEnd> {
  let invite: SipRequest | undefined;
  const fe = await startFarEnd(
    (req, f) => {
      if (opts.onRequest?.(req, f)) return;
      if (req.method === 'INVITE' && !invite) {
        invite = req;
        const ours = sdpTarget(req.body.toString());
        f.reply(req, 200, { body: answerSdp(rtp.port) });
        rtp.sendTo(ours.address, ours.port);
      } else if (req.method === 'ACK' && invite && f.requests('ACK').length === 1) opts.onAck?.(invite, f);
      else if (req.method === 'BYE') f.reply(req, 200);
    },
    { transport: opts.transport ?? 'udp', ...(opts.tls ? { tls: opts.tls } : {}), ...(opts.onResponse ? { onResponse: opts.onResponse } : {}) },
  );
  open.push(fe);
  return fe;
}

async function rtpPeer(): Promise<RtpPeer> {
  const p = await startRtpPeer();
  open.push(p);
  return p;
}

const call = (fe: FarEnd, duration = '3s') => runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--duration', duration, '--json']);

describe('far-end requests mid-call', () => {
  it('re-INVITEs (session refresh, hold, unhold) are answered per RFC 3264 and media continues', async () => {
    const rtp = await rtpPeer();
    const answers: Array<{ at: number; cseq: number; sdp: string }> = [];
    let first: SipRequest | undefined;
    const fe = await answering(rtp, {
      onAck: (invite, f) => {
        first = invite;
        const reinvite = (delay: number, direction: string, version: number) =>
          setTimeout(() => f.request(invite, 'INVITE', { body: answerSdp(rtp.port, { direction, version }) }), delay);
        reinvite(300, 'sendrecv', 1); // session refresh: same SDP
        reinvite(800, 'sendonly', 2); // hold
        reinvite(1600, 'sendrecv', 3); // unhold
      },
      // ACK the 200s to the re-INVITEs (once per CSeq) and keep their SDP.
      onResponse: (res, f) => {
        if (res.cseq.method !== 'INVITE' || res.status !== 200 || answers.some((a) => a.cseq === res.cseq.seq) || !first) return;
        answers.push({ at: performance.now(), cseq: res.cseq.seq, sdp: res.body.toString() });
        f.request(first, 'ACK', { cseq: res.cseq.seq });
      },
    });
    const run = await call(fe, '3s');
    const json = jsonOf<CallJson>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    expect(answers.map((a) => sdpTarget(a.sdp).direction)).toEqual(['sendrecv', 'recvonly', 'sendrecv']);
    // RFC 3264 §8: o= version unchanged for the refresh, incremented when the answer changed.
    const versions = answers.map((a) => Number(/^o=\S+ \S+ (\d+)/m.exec(a.sdp)?.[1]));
    expect(versions[1]).toBe((versions[0] ?? 0) + 1);
    expect(versions[2]).toBe((versions[1] ?? 0) + 1);
    // On hold we answered recvonly, so we sent nothing (RFC 3264 §6.1); after the unhold media reached the far end again.
    const holdAt = answers[1]?.at ?? 0;
    const unholdAt = answers[2]?.at ?? Infinity;
    expect(rtp.arrivals.filter((t) => t > holdAt + 100 && t < unholdAt).length).toBeLessThan(3);
    expect(rtp.arrivals.filter((t) => t > unholdAt + 200).length).toBeGreaterThan(20);
  });

  it('the far end hangs up (BYE) mid-call: exit 1, the result says it hung up after N s', async () => {
    const rtp = await rtpPeer();
    const fe = await answering(rtp, { onAck: (invite, f) => setTimeout(() => f.request(invite, 'BYE'), 1500) });
    const run = await call(fe, '6s');
    expect(run.code).toBe(1);
    const json = jsonOf<CallJson>(run);
    const f = json.failures.find((x) => x.check === 'bye');
    expect(f?.message).toMatch(/far end hung up after 1\.[4-9] s/);
    expect(fe.responses(200).some((r) => r.cseq.method === 'BYE')).toBe(true);
    expect(json.media?.directions.find((d) => d.direction === 'callee_to_caller')?.packets_received).toBeGreaterThan(40);
    expect(run.ms).toBeLessThan(6000 + 4000);
  });
});

describe('responses a probe must cope with', () => {
  it('200 OK retransmitted until our ACK: every copy is ACKed, the call succeeds', async () => {
    const rtp = await rtpPeer();
    let ok: SipResponse | undefined;
    const fe = await answering(rtp, {
      onRequest: (req, f) => {
        if (req.method === 'INVITE' && !ok) {
          const ours = sdpTarget(req.body.toString());
          ok = f.reply(req, 200, { body: answerSdp(rtp.port) });
          rtp.sendTo(ours.address, ours.port);
          // Our first ACKs "get lost": retransmit the 200 (T1 doubling) until the third ACK.
          let interval = 100;
          const again = (): void => {
            if (f.requests('ACK').length >= 3 || !ok) return;
            f.resend(ok);
            interval *= 2;
            setTimeout(again, interval);
          };
          setTimeout(again, interval);
          return true;
        }
        return false;
      },
    });
    const run = await call(fe, '2s');
    const json = jsonOf<CallJson>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    expect(fe.requests('ACK').length).toBeGreaterThanOrEqual(3);
    // Every ACK is the same request (RFC 3261 §13.2.2.4: the ACK is re-sent, not rebuilt).
    expect(new Set(fe.requests('ACK').map((a) => a.headers.get('via'))).size).toBe(1);
  });

  it('our BYE answered 481: reported in phase bye, media figures kept', async () => {
    const rtp = await rtpPeer();
    const fe = await answering(rtp, {
      onRequest: (req, f) => {
        if (req.method !== 'BYE') return false;
        f.reply(req, 481);
        return true;
      },
    });
    const run = await call(fe, '2s');
    expect(run.code).toBe(1);
    const json = jsonOf<CallJson>(run);
    expect(json.failures).toHaveLength(1);
    expect(json.failures[0]).toMatchObject({ check: 'bye', phase: 'bye' });
    expect(json.failures[0]?.message).toMatch(/481/);
    expect(json.media?.directions.find((d) => d.direction === 'callee_to_caller')?.packets_received).toBeGreaterThan(60);
  });

  it('TCP: the PBX closes the connection mid-dialog; the BYE goes out on a new connection', async () => {
    const rtp = await rtpPeer();
    const fe = await answering(rtp, { transport: 'tcp', onAck: (_invite, f) => setTimeout(() => f.dropConnections(), 300) });
    const run = await runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--transport', 'tcp', '--duration', '2s', '--json']);
    const json = jsonOf<CallJson>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    expect(fe.requests('BYE')).toHaveLength(1);
  });

  it.runIf(hasOpenssl)('TLS: the PBX closes the connection mid-dialog; the BYE goes out on a new TLS connection (issue 14 item 4)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-hostile-tls-'));
    const cert = makeCert(dir, 'far-end');
    const rtp = await rtpPeer();
    const fe = await answering(rtp, {
      transport: 'tls',
      tls: { cert: readFileSync(cert.cert, 'utf8'), key: readFileSync(cert.key, 'utf8') },
      onAck: (_invite, f) => setTimeout(() => f.dropConnections(), 300),
    });
    const run = await runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--transport', 'tls', '--insecure', '--duration', '2s', '--json']);
    const json = jsonOf<CallJson>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    // INVITE/ACK on the first TLS connection; the BYE on a second one, after the far end closed the first.
    expect(fe.accepted).toBe(2);
    expect(fe.requests('BYE')).toHaveLength(1);
  });
});

