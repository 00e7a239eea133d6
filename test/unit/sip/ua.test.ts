// The UA facade end to end on 127.0.0.1 without a PBX: two UAs talking
// directly, a fake registrar for digest, a dropping relay for Timer E.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dialog } from '../../../src/sip/dialog.js';
import { UserAgent } from '../../../src/sip/ua.js';
import { startDropProxy, startFakeRegistrar } from './fake-registrar.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

async function ua(opts: Partial<Parameters<typeof UserAgent.create>[0]> & { server: string }): Promise<UserAgent> {
  const u = await UserAgent.create({ localAddress: '127.0.0.1', ...opts });
  cleanups.push(() => u.close());
  return u;
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\n';

describe('UserAgent', () => {
  it('answers OPTIONS and reports timings (UDP, IP literal: dns 0)', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 2000 });
    const r = await caller.options();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.status).toBe(200);
    expect(r.timings.dns_ms).toBe(0);
    expect(r.timings.connect_ms).toBe(0);
    expect(r.timings.request_ms).toBeGreaterThan(0);
    expect(r.response.headers.get('allow')).toContain('INVITE');
  });

  it('calls a second UA in the same process: 100/180, 200 with SDP, ACK, BYE', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 3000 });
    let calleeDialog: Promise<Dialog> | undefined;
    const gotBye = new Promise<string>((resolve) => {
      callee.onInvite((incoming) => {
        expect(incoming.remoteSdp).toBe(SDP);
        incoming.progress(180);
        calleeDialog = incoming.accept(SDP.replace('16000', '16002'));
        void calleeDialog.then((d) => d.on('bye', (req) => resolve(req.method)));
      });
    });
    const provisional: number[] = [];
    const call = caller.invite(`sip:1002@127.0.0.1:${callee.localPort}`, { sdp: SDP, onProvisional: (r) => provisional.push(r.status) });
    const out = await call.outcome;
    expect(out.ok).toBe(true);
    expect(out.status).toBe(200);
    expect(provisional).toEqual([100, 180]);
    expect(out.remoteSdp).toContain('16002');
    expect(out.timings.pdd_ms).toBeGreaterThan(0);
    expect(out.timings.answer_ms).toBeGreaterThanOrEqual(out.timings.pdd_ms ?? 0);
    const d = await calleeDialog;
    expect(d?.state.remoteTag).toBe(out.dialog?.state.localTag);
    const info = await out.dialog?.info('Signal=1\r\nDuration=100\r\n', 'application/dtmf-relay');
    expect(info?.ok).toBe(true);
    const re = await out.dialog?.reinvite(SDP);
    expect(re?.ok).toBe(true);
    expect(re?.remoteSdp).toContain('16002');
    const bye = await out.dialog?.bye();
    expect(bye?.ok).toBe(true);
    expect(await gotBye).toBe('BYE');
    expect(d?.ended).toBe(true);
  });

  it('PDD ends at the 200 when no 180/183 came first (RFC 6076 session request delay)', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 3000 });
    callee.onInvite((incoming) => {
      setTimeout(() => void incoming.accept(SDP), 30); // answers without ringing
    });
    const provisional: number[] = [];
    const out = await caller.invite(`sip:1002@127.0.0.1:${callee.localPort}`, { sdp: SDP, onProvisional: (r) => provisional.push(r.status) }).outcome;
    expect(out.ok).toBe(true);
    expect(provisional).not.toContain(180);
    expect(out.timings.pdd_ms).toBeGreaterThanOrEqual(25);
    expect(out.timings.pdd_ms).toBeLessThanOrEqual(out.timings.answer_ms ?? 0);
    await out.dialog?.bye();
  });

  it('CANCEL after 180 ends the call with 487 and the callee sees the cancel', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 3000 });
    let cancelled: Promise<void> | undefined;
    callee.onInvite((incoming) => {
      incoming.progress(180);
      cancelled = incoming.cancelled;
    });
    const call = caller.invite(`sip:1002@127.0.0.1:${callee.localPort}`, {
      sdp: SDP,
      onProvisional: (r) => {
        if (r.status === 180) call.cancel();
      },
    });
    const out = await call.outcome;
    expect(out).toMatchObject({ ok: false, status: 487, cancelled: true });
    await expect(cancelled).resolves.toBeUndefined();
  });

  it('ringTimeoutMs cancels a call that rings too long', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    callee.onInvite((incoming) => incoming.progress(180));
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 3000 });
    const t0 = performance.now();
    const out = await caller.invite(`sip:1002@127.0.0.1:${callee.localPort}`, { sdp: SDP, ringTimeoutMs: 300 }).outcome;
    expect(performance.now() - t0).toBeGreaterThan(290);
    expect(out).toMatchObject({ ok: false, status: 487, cancelled: true, failure: { code: 'ENOANSWER' } });
    expect(out.failure?.message).toContain('no answer within 300 ms');
  });

  it('works over IPv6 loopback', async () => {
    const callee = await UserAgent.create({ server: 'sip:[::1]:9', localAddress: '::1', user: '1002' });
    cleanups.push(() => callee.close());
    const caller = await UserAgent.create({ server: `sip:[::1]:${callee.localPort}`, localAddress: '::1', user: '1001', timeoutMs: 2000 });
    cleanups.push(() => caller.close());
    expect(callee.localAddress).toBe('::1');
    const r = await caller.options();
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.response.headers.get('via')).toMatch(/^SIP\/2\.0\/UDP \[::1\]:\d+;/);
    callee.onInvite((incoming) => void incoming.accept(SDP).catch(() => undefined));
    const out = await caller.invite(`sip:1002@[::1]:${callee.localPort}`, { sdp: SDP }).outcome;
    expect(out.ok).toBe(true);
    expect((await out.dialog?.bye())?.ok).toBe(true);
  });

  it('a rejected call reports the status; an unanswered UDP request times out with Timer F (not before it, not long after)', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    callee.onInvite((incoming) => incoming.reject(486));
    const caller = await ua({ server: `sip:127.0.0.1:${callee.localPort}`, user: '1001', timeoutMs: 1000 });
    const out = await caller.invite(`sip:1002@127.0.0.1:${callee.localPort}`, { sdp: SDP }).outcome;
    expect(out).toMatchObject({ ok: false, status: 486 });

    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    cleanups.push(() => silent.close());
    const lonely = await ua({ server: `sip:127.0.0.1:${silent.address().port}`, timeoutMs: 1000 });
    let received = 0;
    silent.on('message', () => received++);
    const t0 = performance.now();
    const r = await lonely.options();
    const elapsed = performance.now() - t0;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure.message).toContain('no response (Timer F)');
    // Never early (the timer's own tolerance is a few ms); the upper bound only catches a
    // wrong timer (e.g. 32 s), with room for an event loop delayed by a loaded machine.
    expect(elapsed).toBeGreaterThan(990);
    expect(elapsed).toBeLessThan(2000);
    // Timer E: sent at 0, 500 (T1), then capped doubling: 2 transmissions in 1 s.
    expect(received).toBe(2);
  });

  it('registers with digest; a wrong password stops after 2 REGISTERs naming user and realm', async () => {
    const reg = await startFakeRegistrar({ '1001': 'right' });
    cleanups.push(() => reg.close());
    const good = await ua({ server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'right', timeoutMs: 2000 });
    const ok = await good.register({ expires: 60 });
    expect(ok).toMatchObject({ ok: true, status: 200, attempts: 2, expires: 60 });
    expect(ok.contact).toBe(`<sip:1001@127.0.0.1:${good.localPort}>`);
    const cseqs = reg.requests.map((r) => r.cseq.seq);
    expect(cseqs).toEqual([1, 2]);
    const un = await good.unregister();
    expect(un.ok).toBe(true);
    expect(reg.requests.at(-1)?.headers.get('contact')).toContain(';expires=0');
    expect(reg.requests.at(-1)?.cseq.seq).toBeGreaterThan(2);

    reg.requests.length = 0;
    const bad = await ua({ server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'wrong', timeoutMs: 2000 });
    const r = await bad.register();
    expect(r.ok).toBe(false);
    expect(r.attempts).toBe(2);
    expect(r.failure?.message).toBe('credentials for 1001@127.0.0.1 rejected twice (401)');
    expect(reg.requests.filter((q) => q.method === 'REGISTER')).toHaveLength(2);
  });

  it('stale=true: one more REGISTER with the fresh nonce, then success', async () => {
    const reg = await startFakeRegistrar({ '1001': 'right' }, '127.0.0.1', { staleOnce: true });
    cleanups.push(() => reg.close());
    const u = await ua({ server: `sip:127.0.0.1:${reg.port}`, user: '1001', password: 'right', timeoutMs: 2000 });
    const r = await u.register();
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(reg.requests.at(-1)?.headers.get('authorization')).toContain('nonce="fresh456nonce"');
  });

  it('retransmits with Timer E at T1 when the first datagram is lost', async () => {
    const callee = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const proxy = await startDropProxy(callee.localPort, 1);
    cleanups.push(() => proxy.close());
    const caller = await ua({ server: `sip:127.0.0.1:${proxy.port}`, timeoutMs: 4000 });
    const r = await caller.options();
    expect(r.ok).toBe(true);
    expect(proxy.arrivals.length).toBe(2);
    const gap = (proxy.arrivals[1] ?? 0) - (proxy.arrivals[0] ?? 0);
    expect(gap).toBeGreaterThan(450);
    expect(gap).toBeLessThan(550);
  });

  it('close() is idempotent and ends pending requests with ECLOSED', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    cleanups.push(() => silent.close());
    const u = await ua({ server: `sip:127.0.0.1:${silent.address().port}`, timeoutMs: 10_000 });
    const pending = u.options();
    await new Promise((r) => setTimeout(r, 50));
    u.close();
    u.close();
    const r = await pending;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure.code).toBe('ECLOSED');
  });

  it('survives a flood of 20 000 garbage datagrams and still answers OPTIONS, memory bounded', async () => {
    const target = await ua({ server: 'sip:127.0.0.1:9', user: '1002' });
    const sender = dgram.createSocket('udp4');
    cleanups.push(() => sender.close());
    const heapBefore = process.memoryUsage().heapUsed;
    let seed = 1;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let batch = 0; batch < 40; batch++) {
      const sends: Array<Promise<void>> = [];
      for (let i = 0; i < 500; i++) {
        const len = 1 + Math.floor(rand() * 1400);
        const buf = Buffer.alloc(len);
        for (let j = 0; j < len; j++) buf[j] = Math.floor(rand() * 256);
        if (i % 3 === 0) buf.write('INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n');
        sends.push(new Promise((r) => sender.send(buf, target.localPort, '127.0.0.1', () => r())));
      }
      await Promise.all(sends);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(target.transport.stats.parseErrors).toBeGreaterThan(1000);
    const caller = await ua({ server: `sip:127.0.0.1:${target.localPort}`, timeoutMs: 2000 });
    const r = await caller.options();
    expect(r.ok).toBe(true);
    const heapAfter = process.memoryUsage().heapUsed;
    expect(heapAfter - heapBefore).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);
});
