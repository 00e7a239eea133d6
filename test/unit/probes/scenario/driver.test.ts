// The scenario probe end to end on 127.0.0.1 against the embedded answering
// peer (no registrar: the "server" is the peer itself, which never challenges).
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemoPeer, type DemoPeer } from '../../../../src/probes/call/demo.js';
import { buildOffer } from '../../../../src/call/sdp.js';
import { UserAgent } from '../../../../src/sip/ua.js';
import { openUdpioSockets } from '../../../../src/rtp/udp.js';
import { parseConfigText } from '../../../../src/config/load.js';
import { parseScenarioText, runScenarioFile, scenarioBudgetMs, scenarioKeysError, scenarioProbe, type ScenarioResult } from '../../../../src/probes/scenario/index.js';
import type { ScenarioSpec } from '../../../../src/probes/scenario/index.js';

const logger = pino({ level: 'silent' });
const RTP: [number, number] = [18700, 18799];
let peer: DemoPeer | undefined;

afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

/** UDP sockets this process holds (the leak check: back to the count before the run). */
function udpHandles(): number {
  // SIP sockets are node:dgram (UDPWrap); media sockets may be udpio, counted apart.
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length + openUdpioSockets();
}

/** Closes the peer (its answered sessions live until then), then compares. */
async function noLeak(before: number): Promise<boolean> {
  await peer?.close();
  peer = undefined;
  await new Promise((r) => setTimeout(r, 50)); // closed handles leave the list on the next loop turn
  return udpHandles() === before;
}

async function run(p: DemoPeer, steps: string, signal = new AbortController().signal, extra: Partial<ScenarioSpec> = {}): Promise<ScenarioResult> {
  const scenario = parseScenarioText(`name: t\nfrom: tester\nto: "${p.uri}"\nstep_timeout: 3s\nsteps:\n${steps}`, 't.yaml');
  const spec: ScenarioSpec = {
    scenario,
    accounts: { tester: { password: 'unused' } },
    server: p.uri.replace('demo@', ''),
    transport: 'udp',
    codecs: ['PCMU', 'PCMA'],
    rtpPortMin: RTP[0],
    rtpPortMax: RTP[1],
    localAddress: '127.0.0.1',
    thresholds: { mos_min: 3.5, loss_max_percent: 1, pdd_max_ms: 3000, cert_warn_days: 30, cert_crit_days: 7 },
    ...extra,
  };
  return scenarioProbe({ logger, signal }, spec);
}

describe('scenarioProbe against the embedded peer', () => {
  it('call, expect, wait, DTMF, bye: every step passes, media measured, ports released', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const r = await run(peer, '  - call: {}\n  - expect: { status: 200, max_pdd: 2s }\n  - wait: 1s\n  - send_dtmf: { digits: "5#" }\n  - bye: {}\n');
    expect(r.failures).toEqual([]);
    expect(r.success).toBe(true);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect(r.call?.final_status).toBe(200);
    expect(r.call?.timings_ms.bye).toBeGreaterThan(0);
    const back = r.call?.media?.directions.find((d) => d.direction === 'callee_to_caller');
    expect(back?.measured_by).toBe('receiver');
    expect(back?.packets_received).toBeGreaterThan(40);
    expect(back?.packets_lost).toBe(0);
    expect(await noLeak(before)).toBe(true);
  });

  it('a far end that ignores hold (answers a=sendrecv) fails the hold step at phase invite; the call is still hung up', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const r = await run(peer, '  - call: {}\n  - expect: {}\n  - hold: {}\n  - wait: 1s\n  - bye: {}\n');
    expect(r.success).toBe(false);
    expect(r.failures).toEqual([
      { check: 'step[2] hold', phase: 'invite', expected: 'recvonly|inactive', actual: 'sendrecv', message: 'hold: re-INVITE (hold) answered a=sendrecv, expected a=recvonly or a=inactive' },
    ]);
    expect(r.steps.map((s) => (s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAIL'))).toEqual(['ok', 'ok', 'FAIL', 'skipped', 'skipped']);
    expect(r.call?.media?.directions).toHaveLength(2);
    expect(await noLeak(before)).toBe(true);
  });

  it('cancel_after on a call that rings: 487, and no expect needed for it', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ neverAnswer: true, rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const r = await run(peer, '  - call: {}\n  - cancel_after: 300ms\n');
    expect(r.failures).toEqual([]);
    expect(r.steps[0]?.message).toMatch(/^ringing after \d+ ms$/);
    expect(r.steps[1]?.message).toBe('487 Request Terminated');
    expect(r.call?.final_status).toBe(487);
    expect(r.call?.media).toBeNull();
    expect(await noLeak(before)).toBe(true);
  });

  it('a final non-2xx no step checked fails the scenario (no silent pass)', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ neverAnswer: true, rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const r = await run(peer, '  - call: { ring_timeout: 1s }\n  - wait: 1500ms\n');
    expect(r.steps.every((s) => s.ok)).toBe(true);
    expect(r.success).toBe(false);
    expect(r.failures).toEqual([
      { check: 'call', phase: 'invite', expected: 200, actual: 487, message: 'the call ended 487 Request Terminated and no expect step checked it' },
    ]);
    expect(await noLeak(before)).toBe(true);
  });

  it('DTMF on the callee leg without the agent answering is a clear step error', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const r = await run(peer, '  - call: {}\n  - expect_dtmf: { digits: "1" }\n');
    expect(r.failures[0]).toMatchObject({ check: 'step[1] expect_dtmf', phase: 'config' });
    expect(r.failures[0]?.message).toMatch(/needs the agent to answer the call/);
    expect(await noLeak(before)).toBe(true);
  });

  it('an abort mid-call hangs up, marks the run interrupted and releases the ports', async () => {
    const before = udpHandles();
    peer = await startDemoPeer({ rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('SIGINT')), 600);
    const t0 = Date.now();
    const r = await run(peer, '  - call: {}\n  - wait: 20s\n  - bye: {}\n', controller.signal);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.interrupted).toBe(true);
    expect(r.success).toBe(false);
    expect(r.failures).toEqual([{ check: 'interrupted', phase: 'media', message: 'interrupted by signal: hung up' }]);
    expect(await noLeak(before)).toBe(true);
  });

  it('a peer that answers but never sends RTP fails the wait at phase media (one-way audio)', async () => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(18898, '127.0.0.1', () => resolve()));
    const ua = await UserAgent.create({ server: 'sip:127.0.0.1', localAddress: '127.0.0.1', localPort: 0, user: 'mute', logger });
    ua.onInvite((incoming) => {
      incoming.progress(180);
      void incoming.accept(buildOffer('127.0.0.1', 18898, ['PCMU'])).catch(() => undefined);
    });
    const before = udpHandles();
    const silent = { uri: `sip:mute@127.0.0.1:${ua.localPort}`, close: async () => ua.close() } as unknown as DemoPeer;
    try {
      const r = await run(silent, '  - call: {}\n  - expect: {}\n  - wait: 2100ms\n  - bye: {}\n');
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]).toMatchObject({ check: 'step[2] wait', phase: 'media', expected: 2000 });
      expect(r.failures[0]?.message).toMatch(/^wait 2\.1s: no RTP callee→caller in 2\.\d s since media started \(one-way audio\) \(media timeout 2 s\)$/);
      expect(r.call?.media?.directions.find((d) => d.direction === 'callee_to_caller')?.packets_received).toBe(0);
      expect(await noLeak(before)).toBe(true);
    } finally {
      ua.close();
      sink.close();
    }
  });
});

describe('runScenarioFile / scenarioBudgetMs', () => {
  it('a bad scenario file becomes a failed result with phase config (not an exception)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callprobe-scn-'));
    try {
      fs.writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nfrom: "1001"\nsteps:\n  - wait: 2\n');
      const config = parseConfigText(`pbx: { uri: "sip:127.0.0.1:5060" }\naccounts: { "1001": { password: x } }\nscenarios_dir: ${dir}\n`, path.join(dir, 'c.yaml'), {});
      const r = await runScenarioFile({ logger, signal: new AbortController().signal }, { file: 'bad.yaml', config });
      expect(r.success).toBe(false);
      expect(r.steps).toEqual([]);
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]).toMatchObject({ check: 'scenario_file', phase: 'config' });
      expect(r.failures[0]?.message).toContain(`${path.join(dir, 'bad.yaml')}:4: steps[0].wait: expected a duration with a unit`);
      const missing = await runScenarioFile({ logger, signal: new AbortController().signal }, { file: 'nope.yaml', config });
      expect(missing.failures[0]).toMatchObject({ check: 'scenario_file', phase: 'config' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('srtp: keys only over TLS (a UDP run is refused before any step); a plain far end fails a required call', async () => {
    const base = { server: 'sip:127.0.0.1:5060', srtp: 'required' as const };
    expect(scenarioKeysError({ ...base, transport: 'udp' })).toMatch(/SDES keys would be sent in clear over UDP/);
    expect(scenarioKeysError({ ...base, transport: 'tls' })).toBeUndefined();
    expect(scenarioKeysError({ ...base, server: 'sips:127.0.0.1:5061' })).toBeUndefined();
    expect(scenarioKeysError({ ...base, server: 'sip:127.0.0.1:5061;transport=tls' })).toBeUndefined();
    expect(scenarioKeysError({ ...base, transport: 'udp', allowInsecureKeys: true })).toBeUndefined();
    expect(scenarioKeysError({ server: 'sip:127.0.0.1:5060', transport: 'udp' })).toBeUndefined();

    peer = await startDemoPeer({ rtpPortMin: 18800, rtpPortMax: 18899, logger });
    const refused = await run(peer, '  - call: {}\n  - expect: {}\n  - bye: {}\n', undefined, { srtp: 'required' });
    expect(refused.steps).toEqual([]);
    expect(refused.failures).toMatchObject([{ check: 'srtp', phase: 'config' }]);
    // allowed over UDP: the demo peer speaks no SRTP, so the required call cannot stand
    const plain = await run(peer, '  - call: {}\n  - expect: {}\n  - wait: 500ms\n  - bye: {}\n', undefined, { srtp: 'required', allowInsecureKeys: true });
    expect(plain.success).toBe(false);
    // (it refuses our RTP/SAVP offer: 488, RFC 3264)
    expect(plain.failures).toMatchObject([{ check: 'step[1] expect', phase: 'invite', expected: 200, actual: 488 }]);
  });

  it('the budget grows with waits, ring timeouts and DTMF', () => {
    const base = parseScenarioText('name: a\nfrom: "1"\nto: "2"\nsteps:\n  - call: { ring_timeout: 5s }\n', 'a.yaml');
    const longer = parseScenarioText('name: a\nfrom: "1"\nto: "2"\nsteps:\n  - call: { ring_timeout: 5s }\n  - wait: 30s\n', 'a.yaml');
    expect(scenarioBudgetMs(base)).toBeGreaterThanOrEqual(10_000);
    expect(scenarioBudgetMs(longer) - scenarioBudgetMs(base)).toBe(31_000);
  });
});
