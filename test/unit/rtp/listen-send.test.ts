import { describe, expect, it } from 'vitest';
import { bindPair, PortAllocator } from '../../../src/rtp/ports.js';
import { runListen, runSend } from '../../../src/rtp/listen-send.js';

const alloc = new PortAllocator({ min: 19800, max: 19849, address: '127.0.0.1' });

describe('probe rtp listen/send/echo (library level, loopback)', () => {
  it('send → listen: per-SSRC report with no loss and a MOS', async () => {
    const listenPorts = await bindPair('127.0.0.1', 19850);
    const listening = runListen({ ports: listenPorts, durationMs: 5000, idleMs: 300 });
    const sent = await runSend({
      ports: await alloc.allocate(),
      to: { address: '127.0.0.1', port: 19850 },
      durationMs: 600,
      codec: 'PCMA',
      ptimeMs: 20,
      echo: false,
    });
    const heard = await listening;
    expect(heard.stopped_by).toBe('idle');
    expect(heard.streams).toHaveLength(1);
    const s = heard.streams[0];
    expect(s).toMatchObject({ payload_type: 8, codec: 'PCMA', packets_lost: 0, duplicates: 0, out_of_order: 0 });
    expect(s?.packets_received).toBe(sent.packets_sent);
    expect(s?.source).toBe(sent.local);
    expect(s?.mos).toBeGreaterThan(4.3);
    expect(sent.send_lateness.count).toBeGreaterThanOrEqual(sent.packets_sent);
  });

  it('listen stops after --count packets', async () => {
    const listenPorts = await bindPair('127.0.0.1', 19852);
    const listening = runListen({ ports: listenPorts, durationMs: 5000, count: 10 });
    const sending = runSend({
      ports: await alloc.allocate(),
      to: { address: '127.0.0.1', port: 19852 },
      durationMs: 1000,
      codec: 'PCMU',
      ptimeMs: 20,
      echo: false,
    });
    const heard = await listening;
    await sending;
    expect(heard.stopped_by).toBe('count');
    expect(heard.streams[0]?.packets_received).toBeGreaterThanOrEqual(10);
    expect(heard.streams[0]?.packets_received).toBeLessThan(30);
  });

  it('send --echo measures the round trip and learns RTT/forward loss from the echo RTCP', async () => {
    const controller = new AbortController();
    const echoing = runListen({ ports: await bindPair('127.0.0.1', 19854), durationMs: Infinity, reflect: true, signal: controller.signal });
    const sent = await runSend({
      ports: await alloc.allocate(),
      to: { address: '127.0.0.1', port: 19854 },
      durationMs: 1500,
      codec: 'PCMU',
      ptimeMs: 20,
      echo: true,
    });
    controller.abort();
    const echo = await echoing;
    expect(echo.stopped_by).toBe('interrupt');
    expect(echo.streams[0]?.packets_received).toBe(sent.packets_sent);
    expect(sent.round_trip?.packets_received).toBe(sent.packets_sent);
    expect(sent.round_trip?.packets_lost).toBe(0);
    expect(sent.rtt_ms).not.toBeNull();
    expect(sent.forward?.cumulative_lost).toBe(0);
  });
});
