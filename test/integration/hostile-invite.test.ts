// Hostile far ends in the INVITE phase (issue 14 item 1, issue 21 item 2): the shipped
// CLI (`probe call --direct`) against scripted UDP peers on ephemeral 127.0.0.1 ports.
// T1 is 50 ms here (--sip-t1), so 64·T1 = 3.2 s keeps every case short.
import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../../src/sip/message.js';
import { answerSdp, jsonOf, runProbe, sdpTarget, startFarEnd, startRtpPeer, type FarEnd, type RtpPeer } from './helpers/far-end.js';

const T1 = 50;
const T64 = 64 * T1;
const open: Array<FarEnd | RtpPeer> = [];
afterEach(() => {
  while (open.length) open.pop()?.close();
});

interface CallJson {
  success: boolean;
  sip: { final_status: number | null; reason: string };
  media: { codec: string; directions: Array<{ direction: string; packets_received: number | null }> } | null;
  failures: Array<{ check: string; phase: string; message: string }>;
  interrupted?: boolean;
}

function call(fe: FarEnd, extra: string[] = [], opts: Parameters<typeof runProbe>[1] = {}) {
  return runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--sip-t1', `${T1}ms`, '--json', ...extra], opts);
}

async function farEnd(script: (req: SipRequest, fe: FarEnd) => void): Promise<FarEnd> {
  const fe = await startFarEnd(script);
  open.push(fe);
  return fe;
}

describe('INVITE phase against far ends that never finish it', () => {
  it('180, 200 to CANCEL, never 487: exit 1 within ring timeout + 64·T1 + 5 s, phase invite, names the missing 487', async () => {
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE') {
        f.reply(req, 100);
        f.reply(req, 180);
      } else if (req.method === 'CANCEL') f.reply(req, 200);
    });
    const run = await call(fe, ['--ring-timeout', '1s'], { killAfterMs: 20_000 });
    expect(run.code, run.stderr).toBe(1);
    const json = jsonOf<CallJson>(run);
    const f = json.failures[0];
    expect(f?.phase).toBe('invite');
    expect(f?.message).toMatch(/487/);
    const cancelAt = fe.received.find((r) => r.message.kind === 'request' && r.message.method === 'CANCEL')?.at;
    expect(cancelAt).toBeDefined();
    expect(run.ms).toBeLessThan(1000 + T64 + 5000);
    // The INVITE transaction is given up 64·T1 after the CANCEL, not before.
    expect(run.ms).toBeGreaterThan(1000 + T64 - 200);
  });

  it('100 Trying then silence, CANCEL swallowed: the ring timeout still applies; exit 1 within ring timeout + 64·T1 + 5 s', async () => {
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE' && f.requests('INVITE').length === 1) f.reply(req, 100);
    });
    const run = await call(fe, ['--ring-timeout', '1s'], { killAfterMs: 20_000 });
    expect(run.code, run.stderr).toBe(1);
    const json = jsonOf<CallJson>(run);
    expect(json.failures[0]?.phase).toBe('invite');
    expect(json.failures[0]?.message).toMatch(/no final response/);
    expect(fe.requests('CANCEL').length).toBeGreaterThan(0);
    expect(run.ms).toBeLessThan(1000 + T64 + 5000);
  });

  it('SIGTERM while ringing with a far end that swallows CANCEL: exit 130 within 5 s, JSON says interrupted', async () => {
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE') f.reply(req, 180);
    });
    const run = await runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--json'], {
      killAfterMs: 40_000,
      signalAt: { when: () => fe.requests('INVITE').length > 0, signal: 'SIGTERM' },
    });
    expect(run.afterSignalMs).toBeLessThan(5000);
    expect(run.code).toBe(130);
    expect(jsonOf<CallJson>(run).interrupted).toBe(true);
    expect(fe.requests('CANCEL').length).toBeGreaterThan(0);
  });

  it('SIGTERM mid-call with a far end that answers nothing after the 200: the BYE attempt is bounded, exit 130 within 5 s', async () => {
    const rtp = await startRtpPeer();
    open.push(rtp);
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE' && f.requests('INVITE').length === 1) {
        const ours = sdpTarget(req.body.toString());
        f.reply(req, 200, { body: answerSdp(rtp.port) });
        rtp.sendTo(ours.address, ours.port);
      }
    });
    const run = await runProbe(['call', '--no-audio-analysis', 'me', 'far', '--direct', fe.uri(), '--duration', '20s', '--json'], {
      killAfterMs: 40_000,
      signalAt: { when: () => fe.requests('ACK').length > 0 && rtp.arrivals.length > 25, signal: 'SIGTERM' },
    });
    expect(run.afterSignalMs).toBeLessThan(5000);
    expect(run.code).toBe(130);
    expect(fe.requests('BYE').length).toBeGreaterThan(0);
  });
});

describe('INVITE answers a probe must name clearly', () => {
  it('488 Not Acceptable Here: exit 1, phase invite, the message names the codec problem', async () => {
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE') f.reply(req, 488, { headers: [['Warning', '305 far "Incompatible media format"']] });
    });
    const run = await call(fe, ['--codec', 'PCMA']);
    expect(run.code).toBe(1);
    const f = jsonOf<CallJson>(run).failures[0];
    expect(f?.phase).toBe('invite');
    expect(f?.message).toMatch(/488/);
    expect(f?.message).toMatch(/codec/i);
    expect(f?.message).toContain('PCMA');
  });

  it('an answer with a codec we did not offer (G729): exit 1, phase media, names the codec, and hangs up', async () => {
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE') f.reply(req, 200, { body: answerSdp(40000, { payloads: '18', rtpmap: ['a=rtpmap:18 G729/8000'] }) });
      else if (req.method === 'BYE') f.reply(req, 200);
    });
    const run = await call(fe, ['--codec', 'PCMU']);
    expect(run.code).toBe(1);
    const f = jsonOf<CallJson>(run).failures[0];
    expect(f?.phase).toBe('media');
    expect(f?.message).toMatch(/G729/);
    expect(f?.message).toMatch(/PCMU/);
    expect(fe.requests('BYE')).toHaveLength(1);
  });

  for (const [name, sdp] of [
    ['no c= line', answerSdp(40000, { noConnection: true })],
    ['port 70000', answerSdp(70000)],
  ] as const) {
    it(`malformed answer SDP (${name}): exit 1, phase media, no crash`, async () => {
      const fe = await farEnd((req, f) => {
        if (req.method === 'INVITE') f.reply(req, 200, { body: sdp });
        else if (req.method === 'BYE') f.reply(req, 200);
      });
      const run = await call(fe);
      expect(run.code, run.stderr).toBe(1);
      const json = jsonOf<CallJson>(run);
      expect(json.failures[0]?.phase).toBe('media');
      expect(json.failures[0]?.message).toMatch(/SDP/);
      expect(run.stderr).not.toMatch(/internal error/);
      expect(fe.requests('BYE')).toHaveLength(1);
    });
  }

  it('183 with early media, then 200 with a different SDP: media is measured on the final SDP', async () => {
    const early = await startRtpPeer();
    const final = await startRtpPeer();
    open.push(early, final);
    const fe = await farEnd((req, f) => {
      if (req.method === 'INVITE' && f.requests('INVITE').length === 1) {
        const ours = sdpTarget(req.body.toString());
        f.reply(req, 183, { body: answerSdp(early.port) });
        early.sendTo(ours.address, ours.port, 0x1111);
        setTimeout(() => {
          early.stop();
          f.reply(req, 200, { body: answerSdp(final.port, { version: 2 }) });
          final.sendTo(ours.address, ours.port, 0x2222);
        }, 600);
      } else if (req.method === 'BYE') f.reply(req, 200);
    });
    const run = await call(fe, ['--duration', '2s']);
    const json = jsonOf<CallJson>(run);
    expect(run.code, JSON.stringify(json.failures)).toBe(0);
    // Our RTP went to the final SDP's port, none to the early one.
    expect(final.arrivals.length).toBeGreaterThan(60);
    expect(early.arrivals.length).toBe(0);
    const back = json.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.packets_received).toBeGreaterThan(60);
    // ... and what was measured came from the final stream only.
    expect(back?.packets_received).toBeLessThanOrEqual(final.sent);
  });
});
