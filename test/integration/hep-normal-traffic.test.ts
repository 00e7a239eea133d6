// Acceptance: ordinary lab traffic seen through HEP (REGISTERs with digest auth,
// two answered SIPp calls, one call to an unknown extension (404), one call
// CANCELled while ringing (487)) → no fraud event at all, and the KPIs equal a
// hand count of what the scenario did (cross-checked with Kamailio's ACC lines).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyticsEvent, CallFinalEvent } from '../../src/analytics/events.js';
import { FraudEngine } from '../../src/analytics/fraud/engine.js';
import type { FraudEvent } from '../../src/analytics/fraud/types.js';
import { KpiTracker } from '../../src/analytics/kpi.js';
import { HepListener } from '../../src/sources/hep-listener.js';
import { kamailioLog, LAB, removeBindings, sipp, sippStart, USERS } from '../lab/lab.js';

const H = LAB.host;
const S = LAB.sippPorts;

function register(ext: '1001' | '1002', regPort: number, contactPort: number) {
  return sipp('reg_auth.xml', [
    `${H}:5060`, '-m', '1', '-i', H, '-p', String(regPort), '-s', ext, '-au', ext, '-ap', USERS[ext],
    '-key', 'contact_port', String(contactPort), '-key', 'expires', '300',
  ]);
}

function call(to: string, durationMs: number) {
  return sipp('uac_call.xml', [
    `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.uac1001), '-mi', H, '-mp', String(S.uac1001Rtp),
    '-s', to, '-key', 'caller', '1001', '-au', '1001', '-ap', USERS['1001'], '-d', String(durationMs),
  ], { timeoutMs: 20_000 });
}

describe('normal lab traffic through HEP', () => {
  let listener: HepListener;
  const events: AnalyticsEvent[] = [];
  const frauds: FraudEvent[] = [];
  const kpi = new KpiTracker();
  const engine = new FraudEngine();

  beforeAll(async () => {
    engine.onFraud((f) => frauds.push(f));
    listener = new HepListener({
      host: H,
      port: LAB.ports.hep,
      onEvent: (e) => {
        events.push(e);
        kpi.observe(e);
        engine.observe(e);
      },
    });
    await listener.start();
  });

  afterAll(async () => {
    await listener?.close();
    await removeBindings(['1001', '1002']);
  });

  it('no fraud; ASR, NER, SER, PDD and ACD equal the hand count', async () => {
    const logBefore = kamailioLog().length;
    const uas = await sippStart('uas_answer.xml', ['-i', H, '-p', String(S.uas1002), '-mi', H, '-mp', String(S.uas1002Rtp), '-s', '1002']);
    try {
      expect((await register('1002', S.reg1002, S.uas1002)).code).toBe(0);
      expect((await register('1001', S.reg1001, S.uac1001)).code).toBe(0);
      for (let i = 0; i < 2; i++) {
        const c = await call('1002', 1000);
        expect(c.code, c.errors || c.stderr).toBe(0);
      }
      await call('1009', 0); // unknown extension: 404 (SIPp itself fails the scenario, expected)
      const cancel = await sipp('uac_cancel.xml', [
        `${H}:5060`, '-m', '1', '-i', H, '-p', String(S.uac1001), '-mi', H, '-mp', String(S.uac1001Rtp),
        '-s', '1004', '-key', 'caller', '1001', '-au', '1001', '-ap', USERS['1001'], '-d', '1000',
      ], { timeoutMs: 20_000 });
      expect(cancel.code, cancel.errors || cancel.stderr).toBe(0);
    } finally {
      await uas.stop();
    }
    await new Promise((r) => setTimeout(r, 500));

    expect(frauds).toEqual([]);

    // What the scenario did, by hand: 4 seizures by 1001 — 2 answered (1002), 1 x 404, 1 x 487.
    const finals = events.filter((e): e is CallFinalEvent => e.type === 'call_final' && e.caller === '1001');
    expect(finals.map((f) => `${f.callee}:${f.status}`).sort()).toEqual(['1002:200', '1002:200', '1004:487', '1009:404']);
    // Kamailio's own accounting (one ACC line per INVITE transaction) agrees, code for code.
    const acc = kamailioLog().slice(logBefore).match(/ACC: transaction answered: [^\n]*method=INVITE;[^\n]*src_user=1001[^\n]*/g) ?? [];
    const accCodes = acc.map((l) => /code=(\d+)/.exec(l)?.[1]).sort();
    expect(accCodes).toEqual(finals.map((f) => String(f.status)).sort());

    const all = kpi.snapshot(5 * 60_000).find((s) => s.source === '*');
    expect(all).toBeDefined();
    if (!all) return;
    const ours = finals.length;
    expect(all.seizures).toBe(ours);
    expect(all.answered).toBe(2);
    expect(all.asr).toBeCloseTo(2 / 4);
    expect(all.ner).toBeCloseTo((2 + 1) / 4); // 487 is user-caused, 404 is not
    expect(all.ser).toBeCloseTo(2 / 4);
    expect(all.seer).toBeCloseTo(2 / 4);
    expect(all.by_class).toMatchObject({ '2xx': 2, '4xx': 2 });
    expect(all.acd_s).toBeGreaterThan(0.8);
    expect(all.acd_s).toBeLessThan(3);
    expect(all.pdd_mean_s).toBeGreaterThan(0);
    expect(all.pdd_p95_s).toBeLessThan(2);
    expect(listener.stats.decodeErrors).toBe(0);
    expect(listener.stats.sipErrors).toBe(0);
  });
});
