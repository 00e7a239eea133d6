// Acceptance: real SIPVicious (bounded, exactly the lab-facts §5 commands, never
// -R/-A) against the lab Kamailio, whose siptrace mirrors every message as HEPv3
// to 127.0.0.1:9060 where our listener runs → brute_force fires once, naming
// 127.0.0.1 and the scanner UA, within 5 s of the 10th failure; scanner_ua fires;
// the fail2ban line is written and matched by the published failregex.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyticsEvent, AuthFailureEvent } from '../../src/analytics/events.js';
import { FraudEngine } from '../../src/analytics/fraud/engine.js';
import { FAIL2BAN_FAILREGEX, fail2banRegexToJs } from '../../src/analytics/fraud/fail2ban.js';
import type { FraudEvent } from '../../src/analytics/fraud/types.js';
import { FraudLogWriter } from '../../src/report/fraud-log.js';
import { HepListener } from '../../src/sources/hep-listener.js';
import { SecurityLogSource } from '../../src/sources/securitylog.js';
import { LAB, kamailioLog, labWorkdir, spawnTracked } from '../lab/lab.js';

const H = LAB.host;

async function runBounded(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const p = spawnTracked(cmd, args);
  const timer = setTimeout(() => void p.stop(), timeoutMs);
  const r = await p.exited;
  clearTimeout(timer);
  return { code: r.code, out: p.stdout() + p.stderr() };
}

describe('SIPVicious against the lab, observed through HEP', () => {
  let dir: string;
  let listener: HepListener;
  let writer: FraudLogWriter;
  let seclog: SecurityLogSource;
  const logFrauds: FraudEvent[] = [];
  const events: AnalyticsEvent[] = [];
  const frauds: { ev: FraudEvent; wallAt: number }[] = [];
  const failureWallTimes: number[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'callprobe-fraud-'));
    const engine = new FraudEngine();
    writer = new FraudLogWriter({ path: join(dir, 'fraud.log') });
    engine.onFraud((ev) => frauds.push({ ev, wallAt: Date.now() }));
    engine.onFraud(writer.write);
    listener = new HepListener({
      host: H,
      port: LAB.ports.hep,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'auth_failure') failureWallTimes.push(Date.now());
        engine.observe(e);
      },
    });
    await listener.start();
    // The same attack read from Kamailio's own log (LAB-AUTH-FAIL lines) by the security-log source.
    const logEngine = new FraudEngine();
    logEngine.onFraud((f) => logFrauds.push(f));
    seclog = new SecurityLogSource({ path: join(labWorkdir(), 'kamailio.log'), presets: ['kamailio'], pollMs: 200, onEvent: (e) => logEngine.observe(e) });
    await seclog.start();
  });

  afterAll(async () => {
    await listener?.close();
    await seclog?.close();
    await writer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('svwar + svcrack: brute force once (127.0.0.1, friendly-scanner), scanner UA, fail2ban line', async () => {
    const logBefore = kamailioLog().length;
    const war = await runBounded('svwar', ['-b', H, '-x', H, '-P', '5096', '-p', '5060', '-e1000-1010', H]);
    expect(war.code, war.out).toBe(0);
    const crack = await runBounded('svcrack', ['-b', H, '-x', H, '-P', '5096', '-p', '5060', '-u', '1001', '-r', '1-30', H]);
    expect(crack.code, crack.out).toBe(0);
    // let the last mirrored packets arrive
    await new Promise((r) => setTimeout(r, 500));
    await writer.flush();

    const kamLog = kamailioLog().slice(logBefore);
    const kamFails = (kamLog.match(/LAB-AUTH-FAIL .*src=127\.0\.0\.1:5096/g) ?? []).length;
    const ours = events.filter((e): e is AuthFailureEvent => e.type === 'auth_failure');
    // every wrong password Kamailio logged reached us through HEP as an auth failure
    expect(kamFails).toBeGreaterThanOrEqual(10);
    expect(ours.length).toBe(kamFails);
    expect(ours.every((e) => e.ip === H && e.ua === 'friendly-scanner')).toBe(true);

    const brute = frauds.filter((f) => f.ev.rule === 'brute_force');
    expect(brute).toHaveLength(1);
    expect(brute[0]?.ev.evidence).toMatchObject({ ip: H, ua: 'friendly-scanner', count: 10, window_s: 60 });
    // within 5 s of the 10th failure: its capture time (Kamailio clock) and its arrival here
    const tenth = ours[9];
    expect(tenth).toBeDefined();
    expect((brute[0]?.wallAt ?? Infinity) - (tenth?.at ?? 0)).toBeLessThan(5000);
    expect((brute[0]?.wallAt ?? Infinity) - (failureWallTimes[9] ?? 0)).toBeLessThan(5000);

    const scanner = frauds.filter((f) => f.ev.rule === 'scanner_ua');
    expect(scanner).toHaveLength(1);
    expect(scanner[0]?.ev.evidence).toMatchObject({ ip: H, ua: 'friendly-scanner' });

    const lines = readFileSync(join(dir, 'fraud.log'), 'utf8').trim().split('\n');
    const re = fail2banRegexToJs(FAIL2BAN_FAILREGEX);
    const bruteLine = lines.find((l) => l.includes('rule=brute_force'));
    expect(bruteLine).toMatch(/callprobe\[\d+\]: FRAUD rule=brute_force src=127\.0\.0\.1 user=1001 count=10 window=60s/);
    expect(re.exec(bruteLine ?? '')?.groups?.host).toBe(H);
    expect(listener.stats.decodeErrors).toBe(0);

    await seclog.poll();
    expect(seclog.stats.matches).toBe(kamFails);
    const fromLog = logFrauds.filter((f) => f.rule === 'brute_force');
    expect(fromLog).toHaveLength(1);
    expect(fromLog[0]?.evidence).toMatchObject({ ip: H, user: '1001', ua: 'friendly-scanner', count: 10 });
  });
});
