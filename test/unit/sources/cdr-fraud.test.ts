// Acceptance (3): a CDR file rotated mid-stream (rename + new file) and then
// truncated: every row is counted exactly once, and the long-call and
// high-risk-prefix rules fire on exactly the matching rows.
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FraudEngine } from '../../../src/analytics/fraud/engine.js';
import type { FraudEvent } from '../../../src/analytics/fraud/types.js';
import { KpiTracker } from '../../../src/analytics/kpi.js';
import { CdrSource } from '../../../src/sources/cdr.js';

const BASE = Date.UTC(2026, 0, 5, 9, 0, 0);
const fmt = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

interface Row {
  id: number;
  dst: string;
  billsec: number;
  dispo: 'ANSWERED' | 'BUSY' | 'NO ANSWER';
}

function rows(): Row[] {
  const out: Row[] = [];
  for (let id = 1; id <= 30; id++) {
    const dst = id === 4 ? '0088212345678' : id === 17 ? '+97955501' : id === 27 ? '01188112345' : `10${id}`;
    const billsec = id === 8 ? 3601 : id === 22 ? 7200 : id === 12 ? 3600 : 30;
    out.push({ id, dst, billsec, dispo: id % 5 === 0 ? 'BUSY' : id % 7 === 0 ? 'NO ANSWER' : 'ANSWERED' });
  }
  return out;
}

function csv(r: Row): string {
  const start = BASE + r.id * 120_000; // 2 min apart, distinct callers: no velocity / concurrency noise
  const answered = r.dispo === 'ANSWERED';
  const answer = start + 3000;
  const end = answered ? answer + r.billsec * 1000 : start + 20_000;
  return [
    '""', `"${2000 + r.id}"`, `"${r.dst}"`, '"from-internal"', `"""User ${r.id}"" <${2000 + r.id}>"`, `"SIP/${2000 + r.id}-1"`, '"SIP/trunk-1"',
    '"Dial"', '"SIP/trunk/x,60"', `"${fmt(start)}"`, `"${answered ? fmt(answer) : ''}"`, `"${fmt(end)}"`,
    String((end - start) / 1000), String(answered ? r.billsec : 0), `"${r.dispo}"`, '"DOCUMENTATION"', `"cdr-${r.id}"`, '""',
  ].join(',');
}

describe('CDR tailing with rotation and truncation feeding the fraud engine', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callprobe-cdrfraud-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts every row once; long_call and high_risk_destination fire on exactly the matching rows', async () => {
    const all = rows();
    const lines = all.map(csv);
    const p = join(dir, 'Master.csv');
    const engine = new FraudEngine({ high_risk_prefixes: ['+882', '+979', '+881'] });
    const kpi = new KpiTracker({ now: () => BASE + 2 * 3_600_000, retainMs: 24 * 3_600_000 });
    const frauds: FraudEvent[] = [];
    engine.onFraud((f) => frauds.push(f));
    const seen = new Map<string, number>();
    const src = new CdrSource({
      path: p,
      format: 'csv',
      stateFile: join(dir, 'cdr.pos'),
      onEvent: (e) => {
        if (e.type === 'call_final') seen.set(e.callId, (seen.get(e.callId) ?? 0) + 1);
        kpi.observe(e);
        engine.observe(e);
      },
    });
    const slice = (a: number, b: number) => lines.slice(a, b).map((l) => `${l}\n`).join('');

    writeFileSync(p, slice(0, 10));
    await src.poll();
    appendFileSync(p, slice(10, 13) + lines[13]); // row 14 without its newline yet
    await src.poll();
    appendFileSync(p, `\n${slice(14, 15)}`);
    renameSync(p, `${p}.1`); // logrotate: rename, new file
    writeFileSync(p, slice(15, 20));
    await src.poll();
    appendFileSync(p, slice(20, 25));
    await src.poll();
    truncateSync(p, 0); // copytruncate-style
    appendFileSync(p, slice(25, 30));
    await src.poll();
    await src.close();

    expect([...seen.keys()].sort()).toEqual(all.map((r) => `cdr-${r.id}`).sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(src.stats).toEqual({ rows: 30, badRows: 0 });

    const byRule = (rule: string) => frauds.filter((f) => f.rule === rule).map((f) => f.evidence.callId ?? '').sort();
    expect(byRule('long_call')).toEqual(['cdr-22', 'cdr-8']);
    expect(byRule('high_risk_destination')).toEqual(['cdr-17', 'cdr-27', 'cdr-4']);
    expect(frauds.filter((f) => f.rule !== 'long_call' && f.rule !== 'high_risk_destination')).toEqual([]);

    // KPIs from the same rows, against a hand count of the fixture.
    const answered = all.filter((r) => r.dispo === 'ANSWERED').length;
    const snap = kpi.snapshot(24 * 3_600_000).find((s) => s.source === '*');
    expect(snap?.seizures).toBe(30);
    expect(snap?.answered).toBe(answered);
    expect(snap?.asr).toBeCloseTo(answered / 30);
    expect(snap?.ner).toBeCloseTo(1); // BUSY (486) and NO ANSWER (480) are user-caused
  });
});
