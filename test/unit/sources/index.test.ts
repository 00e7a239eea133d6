import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent } from '../../../src/analytics/events.js';
import { encodeHep3 } from '../../../src/sources/hep.js';
import { startSources } from '../../../src/sources/index.js';
import { sipRequest, sipResponse } from './sip-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callprobe-sources-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

describe('startSources', () => {
  it('starts HEP, CDR (jsonl) and a security log with a preset, feeds one sink, persists positions, closes cleanly', async () => {
    const cdr = join(dir, 'cdr.jsonl');
    const seclog = join(dir, 'kamailio.log');
    writeFileSync(cdr, '');
    writeFileSync(seclog, '');
    const events: AnalyticsEvent[] = [];
    const errors: unknown[] = [];
    const s = await startSources(
      { hep: '127.0.0.1:0', cdr, security_log: { path: seclog, pattern: 'kamailio' } },
      { stateDir: dir, onEvent: (e) => events.push(e), onError: (_n, e) => errors.push(e) },
    );
    const port = s.hep?.address?.port ?? 0;
    expect(port).toBeGreaterThan(0);
    const reg = { method: 'REGISTER', callId: 'x', cseq: 2, auth: '1001' };
    const sock = createSocket('udp4');
    for (const text of [sipRequest(reg), sipResponse(401, reg)]) {
      await new Promise<void>((r) => sock.send(encodeHep3({ srcIp: '192.0.2.44', protocolType: 1, payload: Buffer.from(text) }), port, '127.0.0.1', () => r()));
    }
    sock.close();
    appendFileSync(cdr, `${JSON.stringify({ src: '1001', dst: '1002', start: '2026-01-05T12:00:00Z', end: '2026-01-05T12:00:10Z', answer: '', disposition: 'BUSY', uniqueid: 'c1' })}\n`);
    appendFileSync(seclog, 'WARNING: LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 from=1001 to=1001 src=198.51.100.9:5060 proto=udp ua="x" fails_60s=1\n');
    await Promise.all([s.cdr?.poll(), s.securityLog?.poll()]);
    await until(() => events.filter((e) => e.type === 'auth_failure').length >= 2 && events.some((e) => e.type === 'call_final'));
    const ips = events.flatMap((e) => (e.type === 'auth_failure' ? [`${e.source}:${e.ip}`] : [])).sort();
    expect(ips).toEqual(['hep:192.0.2.44', 'security_log:198.51.100.9']);
    expect(events.some((e) => e.type === 'call_final' && e.source === 'cdr')).toBe(true);
    await s.close();
    await s.close();
    expect(existsSync(join(dir, 'cdr.pos'))).toBe(true);
    expect(errors).toEqual([]);
  });
});
