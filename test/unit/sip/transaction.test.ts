// Transactions against a recording fake transport (no sockets).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRequest, createResponse, parseVia, type SipMessage } from '../../../src/sip/message.js';
import { ClientTransaction, newBranch, serverKey, ServerTransaction, timerConfig, type ClientTxEvent, type TransactionHost } from '../../../src/sip/transaction.js';
import type { Destination, TransportLayer } from '../../../src/sip/transport.js';

afterEach(() => {
  vi.useRealTimers();
});

function host(transport: 'udp' | 'tcp' = 'udp') {
  const sent: Array<{ msg: SipMessage; at: number }> = [];
  const table = new Map<string, unknown>();
  const fake = { send: (msg: SipMessage) => (sent.push({ msg, at: Date.now() }), Promise.resolve()) } as unknown as TransportLayer;
  const h: TransactionHost = { transport: fake, timers: timerConfig({ t1Ms: 500, timeoutMs: 32_000 }), register: (k, tx) => void table.set(k, tx), unregister: (k) => void table.delete(k) };
  const dest: Destination = { transport, host: '127.0.0.1', port: 5060 };
  return { h, sent, table, dest };
}

function request(method: string) {
  return createRequest({
    method,
    uri: 'sip:1002@127.0.0.1',
    headers: [
      ['Via', `SIP/2.0/UDP 127.0.0.1:5080;branch=${newBranch()};rport`],
      ['From', '<sip:1001@127.0.0.1>;tag=a'],
      ['To', '<sip:1002@127.0.0.1>'],
      ['Call-ID', 'tx-test'],
      ['CSeq', `1 ${method}`],
      ['Max-Forwards', '70'],
    ],
  });
}

describe('client transactions', () => {
  it('non-INVITE over UDP: Timer E doubles to T2, Timer F times out', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, sent, table, dest } = host();
    const events: ClientTxEvent[] = [];
    const tx = new ClientTransaction(h, request('OPTIONS'), dest, (e) => events.push(e));
    tx.start();
    await vi.advanceTimersByTimeAsync(32_000);
    // 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, ... (capped at T2 = 4 s) until 32 s
    expect(sent.slice(0, 6).map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 11500]);
    expect(sent.length).toBe(11);
    expect(events).toEqual([{ type: 'timeout', timer: 'F' }]);
    expect(table.size).toBe(0);
  });

  it('non-INVITE over TCP: no retransmission', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, sent, dest } = host('tcp');
    const tx = new ClientTransaction(h, request('OPTIONS'), dest, () => undefined);
    tx.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent).toHaveLength(1);
    tx.terminate();
  });

  it('INVITE: 1xx stops Timer A and B; a non-2xx final is ACKed in the transaction with the same branch', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, sent, dest } = host();
    const inv = request('INVITE');
    const events: ClientTxEvent[] = [];
    const tx = new ClientTransaction(h, inv, dest, (e) => events.push(e));
    tx.start();
    await vi.advanceTimersByTimeAsync(600); // one retransmission at T1
    tx.receive(createResponse(inv, 180, undefined, { toTag: 'b' }));
    await vi.advanceTimersByTimeAsync(60_000); // no Timer B after a provisional
    expect(sent).toHaveLength(2);
    const busy = createResponse(inv, 486, undefined, { toTag: 'b' });
    tx.receive(busy);
    tx.receive(busy); // retransmission → ACK again, reported once
    const acks = sent.filter((s) => s.msg.kind === 'request' && s.msg.method === 'ACK').map((s) => s.msg);
    expect(acks).toHaveLength(2);
    const ack = acks[0];
    if (ack?.kind !== 'request') throw new Error('no ACK');
    expect(parseVia(ack.headers.get('via') ?? '')?.params.branch).toBe(tx.branch);
    expect(ack.headers.get('to')).toContain('tag=b');
    expect(ack.cseq).toEqual({ seq: 1, method: 'ACK' });
    expect(events.map((e) => (e.type === 'response' ? e.response.status : e.type))).toEqual([180, 486]);
    tx.terminate();
  });
});

describe('server transactions', () => {
  it('INVITE: after our CANCEL, no final response for Timer B\'s span (64·T1) destroys the transaction (RFC 3261 §9.1)', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, table, dest } = host();
    const events: ClientTxEvent[] = [];
    const invite = request('INVITE');
    const tx = new ClientTransaction(h, invite, dest, (e) => events.push(e));
    tx.start();
    tx.receive(createResponse(invite, 180, undefined, { toTag: 'b' }));
    await vi.advanceTimersByTimeAsync(60_000); // ringing: no timer runs in Proceeding
    expect(tx.state).toBe('proceeding');
    tx.cancelSent();
    tx.cancelSent(); // idempotent
    await vi.advanceTimersByTimeAsync(31_999);
    expect(tx.state).toBe('proceeding');
    await vi.advanceTimersByTimeAsync(1);
    expect(tx.state).toBe('terminated');
    expect(events.at(-1)).toEqual({ type: 'timeout', timer: 'CANCEL' });
    expect(table.size).toBe(0);
  });

  it('INVITE: a 487 after our CANCEL ends it normally (no CANCEL timeout afterwards)', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, dest } = host();
    const events: ClientTxEvent[] = [];
    const invite = request('INVITE');
    const tx = new ClientTransaction(h, invite, dest, (e) => events.push(e));
    tx.start();
    tx.receive(createResponse(invite, 180, undefined, { toTag: 'b' }));
    tx.cancelSent();
    tx.receive(createResponse(invite, 487, undefined, { toTag: 'b' }));
    await vi.advanceTimersByTimeAsync(64_000);
    expect(events.map((e) => (e.type === 'response' ? e.response.status : e.type))).toEqual([180, 487]);
  });

  it('INVITE: a non-2xx final is retransmitted by Timer G until the ACK, retransmitted INVITEs get the last response', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, sent, table, dest } = host();
    const inv = request('INVITE');
    const key = serverKey(inv) ?? '';
    const stx = new ServerTransaction(h, inv, dest, key);
    expect(table.get(key)).toBe(stx);
    stx.respond(createResponse(inv, 100));
    stx.receive(inv);
    expect(sent.map((s) => (s.msg.kind === 'response' ? s.msg.status : 0))).toEqual([100, 100]);
    stx.respond(createResponse(inv, 486, undefined, { toTag: 'x' }));
    await vi.advanceTimersByTimeAsync(1600); // G at 500, 1500
    expect(sent.filter((s) => s.msg.kind === 'response' && s.msg.status === 486).map((s) => s.at)).toEqual([0, 500, 1500]);
    const ack = createRequest({ method: 'ACK', uri: inv.uri, headers: inv.headers.entries().map((f) => [f.name, f.name === 'CSeq' ? '1 ACK' : f.value]) });
    expect(serverKey(ack)).toBe(key);
    stx.receive(ack);
    expect(stx.state).toBe('confirmed');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent.filter((s) => s.msg.kind === 'response' && s.msg.status === 486)).toHaveLength(3);
    expect(stx.state).toBe('terminated');
    expect(table.size).toBe(0);
  });

  it('non-INVITE: absorbs retransmissions by resending the final response until Timer J', async () => {
    vi.useFakeTimers({ now: 0 });
    const { h, sent, dest } = host();
    const bye = request('BYE');
    const stx = new ServerTransaction(h, bye, dest, serverKey(bye) ?? '');
    stx.respond(createResponse(bye, 200));
    stx.receive(bye);
    stx.receive(bye);
    expect(sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(32_000);
    expect(stx.state).toBe('terminated');
  });
});
