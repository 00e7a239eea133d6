// A real two-way call on 127.0.0.1 against the embedded answering peer: SIP
// over UDP, G.711 RTP both ways, RFC 3550 stats at each receiver.
import dgram from 'node:dgram';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { probeCall, type CallSpec } from '../../../src/probes/call/index.js';
import { startDemoPeer, type DemoPeer } from '../../../src/probes/call/demo.js';

const logger = pino({ level: 'silent' });
let peer: DemoPeer | undefined;

afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

function spec(p: DemoPeer, extra: Partial<CallSpec> = {}): CallSpec {
  return {
    from: { user: 'tester' },
    to: 'demo',
    direct: p.uri,
    directAnswerer: p.answerer,
    localAddress: '127.0.0.1',
    durationMs: 2000,
    ringTimeoutMs: 3000,
    codecs: ['PCMU', 'PCMA'],
    rtpPortMin: 18000,
    rtpPortMax: 18099,
    ...extra,
  };
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('probeCall against the embedded peer', () => {
  it('audio content: both receivers hear this call\'s markers (one clock: a delay); audioAnalysis false: no audio section', async () => {
    peer = await startDemoPeer({ rtpPortMin: 18200, rtpPortMax: 18299, logger });
    // 4 s, not 3: markers start 0.3 s into a stream and repeat every 2.5 s (audio/signal.ts). The far
    // stream starts at or before our answer time, so its second marker (2.8-3.3 s) always ends
    // inside a 4 s call; in a 3 s call only the first one (0.3-0.8 s) fit, and a late 200 OK
    // handling under load (load 11) missed it: marker_match null, not a fault of the media.
    const r = await probeCall({ logger, signal: new AbortController().signal }, spec(peer, { durationMs: 4000 }));
    expect(r.failures).toEqual([]);
    for (const d of r.media?.directions ?? []) {
      expect(d.audio).toMatchObject({ present: true, marker_match: true, markers_foreign: 0 });
      expect(d.audio?.markers_heard).toBeGreaterThanOrEqual(1);
      expect(d.audio?.audio_delay_ms).toBeGreaterThanOrEqual(0);
    }
    const off = await probeCall({ logger, signal: new AbortController().signal }, spec(peer, { durationMs: 1000, audioAnalysis: false }));
    expect(off.failures).toEqual([]);
    for (const d of off.media?.directions ?? []) expect(d.audio).toBeUndefined();
  });

  it('measures both directions and releases every port', async () => {
    peer = await startDemoPeer({ rtpPortMin: 18100, rtpPortMax: 18199, logger });
    const r = await probeCall({ logger, signal: new AbortController().signal }, spec(peer));
    expect(r.failures).toEqual([]);
    expect(r.success).toBe(true);
    expect(r.sip.final_status).toBe(200);
    expect(r.media?.codec).toBe('PCMU');
    const dirs = r.media?.directions ?? [];
    expect(dirs.map((d) => d.direction)).toEqual(['caller_to_callee', 'callee_to_caller']);
    for (const d of dirs) {
      expect(d.measured_by).toBe('receiver');
      // Loopback loses nothing: what one side sent, the other received.
      expect(d.packets_received).toBe(d.packets_sent);
      expect(d.packets_lost).toBe(0);
      expect(d.packets_received).toBeGreaterThan(40);
      expect(d.mos).toBe(4.41);
      expect(d.r_factor).toBe(93.2);
    }
    await peer.close();
    // Every RTP/RTCP port of the call is free again.
    for (let port = 18000; port < 18004; port++) expect(await canBind(port)).toBe(true);
    for (let port = 18100; port < 18104; port++) expect(await canBind(port)).toBe(true);
  });

  it('negotiates the first codec of the offer', async () => {
    peer = await startDemoPeer({ rtpPortMin: 18200, rtpPortMax: 18299, logger });
    const r = await probeCall({ logger, signal: new AbortController().signal }, spec(peer, { codecs: ['PCMA'], durationMs: 1000 }));
    expect(r.success).toBe(true);
    expect(r.media?.codec).toBe('PCMA');
  });

  it('Opus: dynamic payload type and 48 kHz RTP clock, both directions measured on the wideband model', async () => {
    peer = await startDemoPeer({ rtpPortMin: 18500, rtpPortMax: 18599, logger });
    const r = await probeCall({ logger, signal: new AbortController().signal }, spec(peer, { codecs: ['opus', 'PCMU'], durationMs: 1500, rtpPortMin: 18400, rtpPortMax: 18499 }));
    expect(r.failures).toEqual([]);
    expect(r.media?.codec).toBe('opus');
    for (const d of r.media?.directions ?? []) {
      expect(d.packets_received).toBe(d.packets_sent);
      expect(d.packets_lost).toBe(0);
      expect(d.emodel).toBe('G.107.1');
      // Ro,WB 129 − Ie,WB 19.96 (quality/codecs.ts), MOS of R/1.29
      expect(d.r_factor).toBe(109.04);
      expect(d.mos).toBe(4.18);
    }
  });

  it('cancels an unanswered call at the ring timeout (487, phase invite)', async () => {
    peer = await startDemoPeer({ neverAnswer: true, rtpPortMin: 18300, rtpPortMax: 18399, logger });
    const t0 = Date.now();
    const r = await probeCall({ logger, signal: new AbortController().signal }, spec(peer, { ringTimeoutMs: 1000 }));
    const took = Date.now() - t0;
    expect(r.success).toBe(false);
    expect(r.sip.final_status).toBe(487);
    expect(r.failures[0]).toMatchObject({ check: 'ring_timeout', phase: 'invite' });
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(3000);
    expect(r.media).toBeNull();
  });

  it('hangs up with BYE when interrupted during media', async () => {
    peer = await startDemoPeer({ rtpPortMin: 18400, rtpPortMax: 18499, logger });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1200);
    const r = await probeCall({ logger, signal: controller.signal }, spec(peer, { durationMs: 10_000 }));
    expect(r.interrupted).toBe(true);
    expect(r.success).toBe(false);
    expect(r.sip.timings_ms.bye).toBeTypeOf('number');
    expect(r.media?.duration_s).toBeLessThan(3);
    const answered = r.sip.call_id ? peer.answerer.get(r.sip.call_id) : undefined;
    expect(answered?.dialog.ended).toBe(true);
  });
});
