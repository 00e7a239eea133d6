// The UA as caller and callee through the lab's Kamailio (407 digest on
// INVITE, record-route, rtpengine rewriting SDP): two UAs in one process,
// 1001 calls 1002, both registered on their own ports.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dialog } from '../../src/sip/dialog.js';
import { UserAgent } from '../../src/sip/ua.js';
import { LAB, removeBindings, USERS } from '../lab/lab.js';

const H = LAB.host;
const open: UserAgent[] = [];
afterEach(() => {
  while (open.length) open.pop()?.close();
});
// Stale bindings of closed UAs would make Kamailio fork to dead contacts.
beforeEach(async () => {
  await removeBindings(['1001', '1002']);
});
afterAll(async () => {
  await removeBindings(['1001', '1002']);
});

const sdp = (port: number): string =>
  `v=0\r\no=- ${port} 1 IN IP4 127.0.0.1\r\ns=callprobe\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n`;

async function agent(user: '1001' | '1002', transport: 'udp' | 'tcp' | 'tls'): Promise<UserAgent> {
  const port = transport === 'tls' ? LAB.ports.tls : LAB.ports.udp;
  const ua = await UserAgent.create({ server: `sip:${H}:${port}`, transport, user, password: USERS[user], localAddress: H, timeoutMs: 5000, tls: { insecure: true } });
  open.push(ua);
  return ua;
}

describe('calls through Kamailio', () => {
  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`1001 calls 1002 over ${transport}: 407 auth, 180, 200 + SDP via rtpengine, ACK, BYE`, async () => {
      const callee = await agent('1002', transport);
      const caller = await agent('1001', transport);
      expect((await callee.register({ expires: 120 })).ok).toBe(true);
      let calleeDialog: Promise<Dialog> | undefined;
      const calleeBye = new Promise<void>((resolve) => {
        callee.onInvite((incoming) => {
          expect(incoming.remoteSdp).toContain('m=audio');
          incoming.progress(180);
          setTimeout(() => {
            calleeDialog = incoming.accept(sdp(16002));
            void calleeDialog.then((d) => d.on('bye', () => resolve()));
          }, 50);
        });
      });
      const statuses: number[] = [];
      const out = await caller.invite('1002', { sdp: sdp(16000), onProvisional: (r) => statuses.push(r.status) }).outcome;
      expect(out.failure).toBeUndefined();
      expect(out.ok).toBe(true);
      expect(out.attempts).toBe(2); // 407 + authenticated INVITE
      expect(statuses).toContain(180);
      expect(out.timings.pdd_ms).toBeGreaterThan(0);
      expect(out.timings.answer_ms).toBeGreaterThan(out.timings.pdd_ms ?? 0);
      // rtpengine relays media: the answer's port is a relay port, not the callee's.
      const m = /m=audio (\d+)/.exec(out.remoteSdp ?? '');
      expect(Number(m?.[1])).toBeGreaterThanOrEqual(LAB.rtpengineRange[0]);
      expect(Number(m?.[1])).toBeLessThanOrEqual(LAB.rtpengineRange[1]);
      expect(out.dialog?.state.routeSet.length).toBeGreaterThan(0);
      const dialog = await calleeDialog;
      expect(dialog?.state.role).toBe('uas');
      const bye = await out.dialog?.bye();
      expect(bye?.ok).toBe(true);
      await calleeBye;
    });
  }

  it('callee hangs up: BYE from the UAS side reaches the caller', async () => {
    const callee = await agent('1002', 'udp');
    const caller = await agent('1001', 'udp');
    expect((await callee.register({ expires: 120 })).ok).toBe(true);
    const accepted = new Promise<Dialog>((resolve) => callee.onInvite((incoming) => void incoming.accept(sdp(16002)).then(resolve)));
    const out = await caller.invite('1002', { sdp: sdp(16000) }).outcome;
    expect(out.ok).toBe(true);
    const callerBye = new Promise<void>((resolve) => out.dialog?.on('bye', () => resolve()));
    const d = await accepted;
    expect((await d.bye()).ok).toBe(true);
    await callerBye;
  });

  it('CANCEL while ringing gives 487', async () => {
    const callee = await agent('1002', 'udp');
    const caller = await agent('1001', 'udp');
    expect((await callee.register({ expires: 120 })).ok).toBe(true);
    callee.onInvite((incoming) => incoming.progress(180));
    const call = caller.invite('1002', {
      sdp: sdp(16000),
      onProvisional: (r) => {
        if (r.status === 180) call.cancel();
      },
    });
    expect(await call.outcome).toMatchObject({ ok: false, status: 487, cancelled: true });
  });

  it('an unregistered callee gives 404', async () => {
    await removeBindings(['1002']);
    const caller = await agent('1001', 'udp');
    const out = await caller.invite('1002', { sdp: sdp(16000) }).outcome;
    expect(out).toMatchObject({ ok: false, status: 404 });
  });
});
