import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsEvent, CallEvent } from '../../../src/analytics/events.js';
import { CdrSource, parseCdrLine, parseCdrTime, parseCsvLine } from '../../../src/sources/cdr.js';

const row = (id: number, dst: string, dispo: string, billsec: number, ctx = 'from-internal') =>
  `"","1001","${dst}","${ctx}","""Alice"" <1001>","SIP/1001-0000${id}","SIP/trunk-0000${id}","Dial","SIP/trunk/${dst},60","2026-01-05 12:00:00",` +
  `"${dispo === 'ANSWERED' ? '2026-01-05 12:00:05' : ''}","2026-01-05 12:${String(Math.floor((5 + billsec) / 60)).padStart(2, '0')}:${String((5 + billsec) % 60).padStart(2, '0')}",${billsec + 5},${billsec},"${dispo}","DOCUMENTATION","17000000${id}.1",""`;

describe('CSV and CDR parsing', () => {
  it('parses quoted fields with escaped quotes and commas', () => {
    expect(parseCsvLine('"a","b ""q"", c",3,,"x"')).toEqual(['a', 'b "q", c', '3', '', 'x']);
    expect(parseCsvLine('"open')).toBeNull();
    expect(parseCsvLine('')).toEqual(['']);
  });

  it('reads times as UTC by default, ISO and epoch too', () => {
    expect(parseCdrTime('2026-01-05 12:00:00')).toBe(Date.UTC(2026, 0, 5, 12));
    expect(parseCdrTime('2026-01-05T12:00:00Z')).toBe(Date.UTC(2026, 0, 5, 12));
    expect(parseCdrTime(1767614400)).toBe(Date.UTC(2026, 0, 5, 12));
    expect(parseCdrTime('')).toBeNull();
    expect(parseCdrTime('yesterday')).toBeNull();
  });

  it('maps an answered Master.csv row to attempt, final 200 and end with billsec', () => {
    const r = parseCdrLine(row(1, '+4930123', 'ANSWERED', 65), { format: 'csv' });
    expect(r?.ok).toBe(true);
    if (!r?.ok) return;
    expect(r.events.map((e) => e.type)).toEqual(['call_attempt', 'call_final', 'call_end']);
    const calls = r.events as CallEvent[];
    const fin = calls[1];
    expect(fin?.type === 'call_final' && fin.status).toBe(200);
    const end = calls[2];
    expect(end?.type === 'call_end' && end.durationS).toBe(65);
    expect(end?.callId).toBe('170000001.1');
    expect(end?.caller).toBe('1001');
    expect(end?.route).toBe('from-internal');
  });

  it('maps dispositions to statuses and marks inbound contexts', () => {
    const busy = parseCdrLine(row(2, '1002', 'BUSY', 0, 'from-trunk'), { format: 'csv' });
    expect(busy?.ok && busy.events.map((e) => e.type)).toEqual(['call_attempt', 'call_final']);
    const fin = busy?.ok ? (busy.events as CallEvent[])[1] : undefined;
    expect(fin?.type === 'call_final' && fin.status).toBe(486);
    expect(fin?.direction).toBe('inbound');
    expect(parseCdrLine(row(3, '1', 'WHATEVER', 0), { format: 'csv' })?.ok).toBe(false);
    expect(parseCdrLine('"accountcode","src","dst"', { format: 'csv' })).toBeNull();
  });

  it('reads JSON lines with a field map', () => {
    const line = JSON.stringify({ from: '1001', to: '0088212345', begin: '2026-01-05T12:00:00Z', ans: '2026-01-05T12:00:02Z', fin: '2026-01-05T13:10:02Z', secs: 4200, status: 'ANSWERED', id: 'j1', peer: '203.0.113.5' });
    const r = parseCdrLine(line, {
      format: 'jsonl',
      fields: { caller: 'from', callee: 'to', start: 'begin', answer: 'ans', end: 'fin', billsec: 'secs', disposition: 'status', callId: 'id', ip: 'peer' },
    });
    expect(r?.ok && (r.events as CallEvent[]).map((e) => [e.type, e.callId, e.ip])).toEqual([
      ['call_attempt', 'j1', '203.0.113.5'],
      ['call_final', 'j1', '203.0.113.5'],
      ['call_end', 'j1', '203.0.113.5'],
    ]);
    expect(parseCdrLine('{bad', { format: 'jsonl' })?.ok).toBe(false);
    expect(parseCdrLine('[1]', { format: 'jsonl' })?.ok).toBe(false);
  });
});

describe('CdrSource tailing', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callprobe-cdr-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts every row exactly once through rename-rotation, truncation and a restart', async () => {
    const p = join(dir, 'Master.csv');
    const events: AnalyticsEvent[] = [];
    const mk = () => new CdrSource({ path: p, format: 'csv', stateFile: join(dir, 'cdr.pos'), onEvent: (e) => events.push(e) });
    writeFileSync(p, `${row(1, '1002', 'ANSWERED', 10)}\n${row(2, '1002', 'BUSY', 0)}\n`);
    let src = mk();
    await src.poll();
    appendFileSync(p, `${row(3, '1002', 'NO ANSWER', 0)}\n`);
    renameSync(p, `${p}.1`);
    writeFileSync(p, `${row(4, '1002', 'ANSWERED', 20)}\n`);
    await src.poll();
    await src.close();
    appendFileSync(p, `${row(5, '1002', 'ANSWERED', 30)}\ngarbage,line\n`);
    src = mk();
    await src.poll();
    truncateSync(p, 0);
    appendFileSync(p, `${row(6, '1002', 'FAILED', 0)}\n`);
    await src.poll();
    await src.close();
    const finals = events.flatMap((e) => (e.type === 'call_final' ? [e.callId] : []));
    expect(finals).toEqual(['170000001.1', '170000002.1', '170000003.1', '170000004.1', '170000005.1', '170000006.1']);
    expect(src.stats.badRows).toBe(1);
  });
});
