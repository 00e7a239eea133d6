import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentEvidence } from '../../../src/agent/evidence.js';
import type { Config } from '../../../src/config/schema.js';
import type { ProbeResult } from '../../../src/probes/result.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function evidence(pcap: Config['evidence']['pcap']): { ev: AgentEvidence; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'callprobe-agent-ev-'));
  dirs.push(dir);
  const settings: Config['evidence'] = { pcap, keep: 5, rtp: 'headers', max_bytes: 10_000_000 };
  return { ev: new AgentEvidence(settings, dir, () => 'http://probe-a:9464/', pino({ level: 'silent' })), dir };
}

const ok = (): ProbeResult => ({ probe: 'opt', success: true, failures: [] });
const bad = (): ProbeResult => ({ probe: 'opt', success: false, failures: [{ check: 'options_response', phase: 'options', message: 'no response (Timer F)' }] });

function recorded(ev: AgentEvidence) {
  const rec = ev.recorder();
  if (!rec) throw new Error('no recorder');
  for (let i = 1; i <= 25; i++) {
    rec.record({ direction: 'out', kind: 'sip', transport: 'udp', src: { address: '127.0.0.1', port: 5071 }, dst: { address: '127.0.0.1', port: 5999 }, data: Buffer.from(`OPTIONS sip:x SIP/2.0\r\nCSeq: ${i} OPTIONS\r\n\r\n`) });
  }
  return rec;
}

describe('AgentEvidence', () => {
  it('on_failure: stores a failed run and links it with a ≤ 20-line ladder; a passing run leaves nothing', () => {
    const { ev, dir } = evidence('on_failure');
    const pass = ok();
    ev.attach(pass, 'opt', recorded(ev));
    expect(pass['evidence']).toBeUndefined();
    const fail = bad();
    ev.attach(fail, 'opt', recorded(ev));
    const link = fail['evidence'] as { url: string; ladder: string[] };
    expect(link.url).toMatch(/^http:\/\/probe-a:9464\/evidence\/opt\/\d{8}T\d{9}Z-[0-9a-f]{6}\.pcap$/);
    expect(link.ladder).toHaveLength(20);
    expect(readdirSync(join(dir, 'evidence', 'opt'))).toHaveLength(1);
    const [, , probe = '', file = ''] = new URL(link.url).pathname.split('/');
    expect(ev.read(probe, file.replace(/\.pcap$/, ''))?.readUInt32LE(0)).toBe(0xa1b2c3d4);
  });

  it('always stores passing runs too; off records nothing', () => {
    const always = evidence('always');
    const pass = ok();
    always.ev.attach(pass, 'opt', recorded(always.ev));
    expect(pass['evidence']).toBeDefined();
    const off = evidence('off');
    expect(off.ev.recorder()).toBeUndefined();
    const fail = bad();
    off.ev.attach(fail, 'opt', undefined);
    expect(fail['evidence']).toBeUndefined();
  });
});
