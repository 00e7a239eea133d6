// A media relay that dies mid-call (issue 21 item 1): `probe call 1001 1002
// --duration 12s` through Kamailio + rtpengine, rtpengine SIGKILLed (by PID)
// 4 s into the media. The call must fail at phase media, with the missing
// tail counted as loss both ways and the MOS showing it. rtpengine is started
// again (and re-enabled in Kamailio) before the next test file runs.
import { afterAll, describe, expect, it } from 'vitest';
import type { CallResult } from '../../src/probes/call/index.js';
import { kamailioLog, killRtpengine, labPid, removeBindings, spawnTracked, startRtpengine } from '../lab/lab.js';
import { writeCallConfig } from './helpers/call-config.js';
import { probeCommand, ROOT } from './helpers/impairment.js';

async function restoreRtpengine(): Promise<void> {
  if (labPid('rtpengine') === undefined) await startRtpengine();
}

/** Resolves when Kamailio logged a 200 answer after `from` (the call is up, media starts). */
async function answered(from: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (/ACC: transaction answered.*code=200/.test(kamailioLog().slice(from))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no answered INVITE in the kamailio log within ${timeoutMs} ms`);
}

function runCall(args: string[]) {
  const [cmd, argv] = probeCommand(['call', '1001', '1002', '--config', writeCallConfig('media-outage', { rtp: [16700, 16799], rtpExtra: 'media_timeout: 2s' }), '--json', ...args]);
  return spawnTracked(cmd, argv, { cwd: ROOT });
}

function parse(stdout: string, stderr: string): CallResult {
  try {
    return JSON.parse(stdout) as CallResult;
  } catch {
    throw new Error(`probe printed no JSON:\n${stdout}\n${stderr}`);
  }
}

describe('rtpengine killed mid-call', () => {
  afterAll(async () => {
    await restoreRtpengine();
    await removeBindings(['1001', '1002']);
  }, 20_000);

  it('fails at phase media with ≥ 60 % loss both ways and a MOS that shows it', async () => {
    const logFrom = kamailioLog().length;
    const call = runCall(['--duration', '12s']);
    await answered(logFrom, 15_000);
    await new Promise((r) => setTimeout(r, 4000));
    await killRtpengine();
    const done = await Promise.race([call.exited, new Promise<null>((r) => setTimeout(() => r(null), 45_000))]);
    if (done === null) await call.stop(2000);
    const r = parse(call.stdout(), call.stderr());
    expect(done?.code, call.stderr()).toBe(1);
    expect(r.success).toBe(false);
    const media = r.failures.filter((f) => f.phase === 'media');
    expect(media.map((f) => f.check)).toEqual(expect.arrayContaining(['rtp_timeout']));
    expect(media.some((f) => /caller→callee/.test(f.message ?? '')) && media.some((f) => /callee→caller/.test(f.message ?? ''))).toBe(true);
    const dirs = r.media?.directions ?? [];
    expect(dirs).toHaveLength(2);
    for (const d of dirs) {
      expect(d.measured_by).toBe('receiver');
      // ~12 s of 20 ms packets were sent; only the first ~4 s arrived
      expect(d.packets_sent ?? 0).toBeGreaterThan(500);
      expect(d.packets_expected).toBeGreaterThanOrEqual(d.packets_sent ?? Infinity);
      expect(d.loss_percent ?? 0).toBeGreaterThanOrEqual(60);
      expect(d.mos ?? 5).toBeLessThan(2);
      expect(d.longest_silence_ms ?? 0).toBeGreaterThan(6000);
    }
    process.stderr.write(
      `media outage: ${dirs.map((d) => `${d.direction} sent ${d.packets_sent} received ${d.packets_received} loss ${d.loss_percent} % MOS ${d.mos}`).join('; ')}\n` +
        `  failures: ${r.failures.map((f) => `${f.check}: ${f.message ?? ''}`).join(' | ')}\n`,
    );
  }, 70_000);

  it('with rtpengine back, the same call passes again (the lab is restored for the next files)', async () => {
    await restoreRtpengine();
    const call = runCall(['--duration', '2s']);
    const done = await call.exited;
    const r = parse(call.stdout(), call.stderr());
    expect(r.failures).toEqual([]);
    expect(done.code).toBe(0);
  }, 40_000);
});
