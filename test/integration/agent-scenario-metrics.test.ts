// Issue 16: a `kind: scenario` probe in the agent exports per-direction MOS,
// loss, jitter and RTP counters like a call probe. Started as a user starts it
// (config file + `src/cli/main.ts agent`), running the shipped
// scenarios/basic-call.yaml against the lab's Kamailio + rtpengine, then
// /metrics is read for the scenario probe's series.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../lab/lab.js';
import { ROOT, startCliAgent, until, type CliAgent } from './helpers/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'cp-agent-scenario-'));
const PROBE = 'scenario-basic';
let agent: CliAgent | undefined;

/** Value of one exposition line `series value`, undefined when absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  const accounts = Object.fromEntries(Object.entries(USERS).map(([ext, pw]) => [ext, { password: pw }]));
  agent = await startCliAgent(dir, { accounts, scenarios_dir: join(ROOT, 'scenarios'), state_dir: dir }, [
    { name: PROBE, kind: 'scenario', file: 'basic-call.yaml', interval: '60s' },
  ]);
});

afterAll(async () => {
  await agent?.proc.stop(10_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('probe agent running a scenario probe', () => {
  it('exports per-direction MOS, loss, jitter and RTP counters for it on /metrics', async () => {
    const a = agent as CliAgent;
    // basic-call: register, call, 5 s of media, bye; the first run starts within the interval's offset.
    const text = await until(
      'a finished scenario run on /metrics',
      async () => {
        const body = (await a.get('/metrics')).body;
        return value(body, `probe_success{probe="${PROBE}",kind="scenario"}`) !== undefined ? body : undefined;
      },
      45_000,
      500,
    );
    expect(value(text, `probe_success{probe="${PROBE}",kind="scenario"}`), a.proc.stderr()).toBe(1);
    for (const direction of ['caller_to_callee', 'callee_to_caller']) {
      const labels = `{probe="${PROBE}",direction="${direction}"}`;
      expect(value(text, `callprobe_mos${labels}`), direction).toBeGreaterThanOrEqual(4.0);
      expect(value(text, `callprobe_r_factor${labels}`), direction).toBeGreaterThan(80);
      expect(value(text, `callprobe_rtp_loss_ratio${labels}`), direction).toBe(0);
      const jitter = value(text, `callprobe_rtp_jitter_seconds${labels}`);
      expect(jitter, direction).toBeGreaterThanOrEqual(0);
      expect(jitter, direction).toBeLessThan(0.02);
      // ~5 s of 20 ms packets each way.
      expect(value(text, `callprobe_rtp_packets_sent_total${labels}`), direction).toBeGreaterThan(200);
      expect(value(text, `callprobe_rtp_packets_received_total${labels}`), direction).toBeGreaterThan(200);
    }
    expect(value(text, `callprobe_calls_total{probe="${PROBE}",result="answered"}`)).toBe(1);
    expect(value(text, `callprobe_sip_responses_total{probe="${PROBE}",code="200"}`)).toBe(1);
    expect(value(text, `callprobe_sip_phase_seconds{probe="${PROBE}",phase="pdd"}`)).toBeGreaterThan(0);
  });
});
