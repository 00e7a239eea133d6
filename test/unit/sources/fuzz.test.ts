// Fuzz: 100 000 mutated HEP packets and 100 000 mutated CDR lines through the
// real code paths; nothing may throw and every table must stay under its cap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { FraudEngine } from '../../../src/analytics/fraud/engine.js';
import { KpiTracker } from '../../../src/analytics/kpi.js';
import { parseCdrLine, parseCsvLine } from '../../../src/sources/cdr.js';
import { decodeHep3, encodeHep3 } from '../../../src/sources/hep.js';
import { HepListener } from '../../../src/sources/hep-listener.js';
import { matchSecurityLine, compileSecurityPattern, SECURITY_LOG_PRESETS } from '../../../src/sources/securitylog.js';
import { sipRequest, sipResponse } from './sip-fixtures.js';

/** Deterministic xorshift32 so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function mutate(buf: Buffer, r: () => number): Buffer {
  const b = Buffer.from(buf);
  const kind = Math.floor(r() * 6);
  const n = 1 + Math.floor(r() * 8);
  switch (kind) {
    case 0: // flip bytes
      for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return b;
    case 1: // truncate
      return b.subarray(0, Math.floor(r() * b.length));
    case 2: // corrupt a length field (header or a chunk)
      b.writeUInt16BE(Math.floor(r() * 0x10000), r() < 0.3 ? 4 : Math.min(b.length - 2, 10 + 6 * Math.floor(r() * 10)));
      return b;
    case 3: // append junk
      return Buffer.concat([b, Buffer.from(Array.from({ length: n * 8 }, () => Math.floor(r() * 256)))]);
    case 4: // random bytes with a HEP3 magic
      return Buffer.concat([Buffer.from('HEP3'), Buffer.from(Array.from({ length: n * 16 }, () => Math.floor(r() * 256)))]);
    default:
      return b; // valid packet, keeps the tables busy
  }
}

describe('fuzz', () => {
  it('100 000 mutated HEP packets: no throw, bounded tables', () => {
    const r = rng(0xc0ffee);
    let events = 0;
    const errors: unknown[] = [];
    const engine = new FraudEngine({ max_tracked_keys: 500 });
    const kpi = new KpiTracker({ maxRecords: 5000 });
    const onEvent = (e: AnalyticsEvent) => {
      events++;
      engine.observe(e);
      kpi.observe(e);
    };
    const listener = new HepListener({ port: 0, onEvent, onError: (e) => errors.push(e), maxCalls: 300, maxTransactions: 600 });
    const thrown: unknown[] = [];
    const templates: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const o = { method: i % 3 === 0 ? 'REGISTER' : 'INVITE', callId: `f${i}`, cseq: 1 + (i % 4), from: String(1000 + i), to: `+88${i}`, ua: i % 5 ? 'phone' : 'friendly-scanner', auth: i % 2 ? 'u' : undefined };
      templates.push(encodeHep3({ srcIp: `10.0.${i}.1`, timeSec: 1767614400 + i, protocolType: 1, payload: Buffer.from(sipRequest(o)) }));
      templates.push(encodeHep3({ srcIp: '127.0.0.1', timeSec: 1767614400 + i, protocolType: 1, payload: Buffer.from(sipResponse([100, 180, 200, 401, 404, 486][i % 6] ?? 200, o)) }));
    }
    for (let i = 0; i < 100_000; i++) {
      const base = templates[Math.floor(r() * templates.length)] as Buffer;
      // Unique Call-IDs / IPs on some valid packets so the tables really fill up.
      const pkt = i % 7 === 0 ? encodeHep3({ srcIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, timeSec: 1767614400 + i, protocolType: 1, payload: Buffer.from(sipRequest({ method: 'INVITE', callId: `u${i}`, cseq: 1, auth: 'x' })) }) : mutate(base, r);
      try {
        listener.handleDatagram(pkt);
      } catch (err) {
        thrown.push(err);
      }
    }
    expect(thrown).toEqual([]);
    const s = listener.extractor.stats();
    expect(s.calls).toBeLessThanOrEqual(300);
    expect(s.transactions).toBeLessThanOrEqual(600);
    for (const [rule, n] of Object.entries(engine.trackedKeys())) expect(n, rule).toBeLessThanOrEqual(500);
    expect(kpi.size).toBeLessThanOrEqual(5001);
    expect(listener.stats.packets).toBe(100_000);
    expect(listener.stats.decodeErrors).toBeGreaterThan(1000);
    expect(events).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    void listener.close();
  }, 120_000);

  it('100 000 mutated CDR lines (CSV and JSON): no throw, results are values', () => {
    const r = rng(42);
    const csv =
      '"","1001","0088212345","from-internal","""A"" <1001>","SIP/1001-1","SIP/t-1","Dial","SIP/t/1,60","2026-01-05 12:00:00","2026-01-05 12:00:05","2026-01-05 13:10:05",4205,4200,"ANSWERED","DOCUMENTATION","1.1",""';
    const json = '{"src":"1001","dst":"+88212345","start":"2026-01-05T12:00:00Z","answer":"2026-01-05T12:00:05Z","end":"2026-01-05T12:00:10Z","billsec":5,"disposition":"ANSWERED","uniqueid":"j"}';
    const engine = new FraudEngine({ max_tracked_keys: 500 });
    let ok = 0;
    let bad = 0;
    for (let i = 0; i < 100_000; i++) {
      const jsonl = i % 2 === 1;
      const m = mutate(Buffer.from(jsonl ? json : csv), r).toString('latin1');
      const res = parseCdrLine(m, { format: jsonl ? 'jsonl' : 'csv' });
      if (res?.ok) {
        ok++;
        for (const e of res.events) engine.observe(e);
      } else if (res && typeof res.error !== 'string') bad++;
    }
    expect(bad).toBe(0);
    expect(ok).toBeGreaterThan(1000);
    for (const n of Object.values(engine.trackedKeys())) expect(n).toBeLessThanOrEqual(500);
  }, 120_000);

  it('property: decodeHep3 and the text parsers never throw on arbitrary input', () => {
    const presets = Object.values(SECURITY_LOG_PRESETS).map(compileSecurityPattern);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }), (bytes, text) => {
        const withMagic = Buffer.concat([Buffer.from('HEP3'), Buffer.from(bytes)]);
        decodeHep3(Buffer.from(bytes));
        decodeHep3(withMagic);
        parseCsvLine(text);
        parseCdrLine(text, { format: 'csv' });
        parseCdrLine(text, { format: 'jsonl' });
        matchSecurityLine(text, presets, 0);
      }),
      { numRuns: 5000, seed: 7 },
    );
  });
});
