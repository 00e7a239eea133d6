// Issue 18 acceptance: two simultaneous probe calls whose media are crossed on purpose
// both report audio_crossed. Three `probe call --direct` processes call one
// `probe answer` through a test relay (helpers/media-relay.ts: it rewrites the SDP and
// carries the RTP): calls A and B go through a crossed pair (A's caller→callee RTP reaches
// B's callee and B's callee→caller RTP reaches A's caller, and the other way round), call C
// through a straight relay as the control. Every end marks its audio with its Call-ID
// and role, so each receiver of a crossed stream hears another call's markers. Call D goes
// to a second `probe answer --echo` with `--expect-echo`: its own markers come back and
// pass (the same markers without the expectation are a loop: unit-tested in content.test.ts).
// The agent, from its config files, calls an echo test number (a scripted far end whose RTP
// socket reflects every packet): `audio: { expect_echo: true }` passes, the same call
// without it is audio_crossed (looped back), `audio: { analysis: false }` has no audio section.
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freeTcpPort, labWorkdir, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';
import type { AnsweredCallReport } from '../../src/cli/answer.js';
import { answerSdp, jsonOf, runProbe, startFarEnd } from './helpers/far-end.js';
import { startRelayGroup, type RelayGroup } from './helpers/media-relay.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ANSWER_SIP = 5288;
const ECHO_SIP = 5289;
const ECHO_RTP = '15200-15209';
const ANSWER_RTP = '15100-15139';
const CALLER_RTP: Array<[number, number]> = [
  [15140, 15159],
  [15160, 15179],
  [15180, 15199],
  [15210, 15229],
];
/** The agent's RTP ports (this file only). */
const AGENT_RTP = { port_min: 15230, port_max: 15259 };

const relays: RelayGroup[] = [];
let answer: TrackedProcess | undefined;
let echo: TrackedProcess | undefined;
let agent: TrackedProcess | undefined;
const closers: Array<() => void> = [];
afterAll(async () => {
  await agent?.stop(3000);
  for (const c of closers) c();
  for (const r of relays) r.close();
  await answer?.stop(2000);
  await echo?.stop(2000);
});

async function ready(p: TrackedProcess, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!p.stderr().includes(text)) {
    if (Date.now() > deadline) throw new Error(`probe answer not ready within ${timeoutMs} ms: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function callerConfig(name: string, rtp: [number, number]): string {
  const file = path.join(labWorkdir(), `${name}.yaml`);
  fs.writeFileSync(file, `pbx: { uri: "sip:127.0.0.1:${ANSWER_SIP}" }\nrtp: { port_min: ${rtp[0]}, port_max: ${rtp[1]} }\nstate_dir: ${labWorkdir()}/${name}-state\n`);
  return file;
}

describe('crossed media between two simultaneous calls (test relay swaps the RTP destinations)', () => {
  it('both crossed calls report audio_crossed and exit 1, at both ends; the straight control passes; an expected echo of our own markers passes', async () => {
    answer = spawnTracked(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'answer', '--bind', `127.0.0.1:${ANSWER_SIP}`, '--calls', '3', '--json', '--rtp-ports', ANSWER_RTP, '--duration-max', '30s'], { cwd: ROOT });
    echo = spawnTracked(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'answer', '--bind', `127.0.0.1:${ECHO_SIP}`, '--echo', '--calls', '1', '--json', '--rtp-ports', ECHO_RTP, '--duration-max', '30s'], { cwd: ROOT });
    await ready(answer, 'answering calls to', 20_000);
    await ready(echo, 'answering calls to', 20_000);
    const target = { address: '127.0.0.1', port: ANSWER_SIP };
    const crossed = await startRelayGroup(target, 2, { crossed: true, syncAnswers: true });
    const straight = await startRelayGroup(target, 1, { crossed: false });
    relays.push(crossed, straight);
    const uris = [...crossed.calls, ...straight.calls].map((c) => c.uri('far'));
    uris.push(`sip:echo@127.0.0.1:${ECHO_SIP}`);
    const runs = await Promise.all(
      uris.map((uri, i) =>
        runProbe(
          ['call', `caller${i}`, 'far', '--direct', uri, '--codec', 'PCMU', '--duration', '4s', '--json', '--config', callerConfig(`audio-crossed-${i}`, CALLER_RTP[i] ?? [0, 0]), ...(i === 3 ? ['--expect-echo'] : [])],
          { killAfterMs: 45_000 },
        ),
      ),
    );
    const echoed = await echo.exited;
    const exited = await answer.exited;
    const answered = answer
      .stdout()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AnsweredCallReport);
    const results = runs.map((r) => jsonOf<CallResult>(r));
    const summary = results.map((r, i) => ({
      call: 'ABCD'[i],
      exit: runs[i]?.code,
      failures: r.failures.map((f) => f.check),
      heard: r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.audio,
    }));
    console.log(`[audio-crossed] callers ${JSON.stringify(summary)}; relay ${JSON.stringify([...crossed.calls, ...straight.calls].map((c) => c.counts))}; answer exit ${exited.code}, echo answer exit ${echoed.code}`);
    // D: its own markers back from the echo, expected: no failure
    const d = results[3];
    const dHeard = d?.media?.directions.find((x) => x.direction === 'callee_to_caller')?.audio;
    expect(dHeard, runs[3]?.stderr).toMatchObject({ present: true, markers_heard: 0, markers_foreign: 0, markers_expected: true, marker_match: true });
    expect(dHeard?.markers_echoed).toBeGreaterThanOrEqual(1);
    expect(d?.failures, runs[3]?.stderr).toEqual([]);
    expect(runs[3]?.code).toBe(0);
    // the echoing far end heard D's caller markers (this call's): a match, exit 0
    const echoReport = JSON.parse(echo.stdout().trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as AnsweredCallReport;
    expect(echoReport.sent_audio).toBe('echo');
    expect(echoReport.audio).toMatchObject({ marker_match: true, markers_foreign: 0 });
    expect(echoed.code, echo.stderr()).toBe(0);
    for (const [i, r] of results.slice(0, 3).entries()) {
      const heard = r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.audio;
      expect(r.sip.final_status, runs[i]?.stderr).toBe(200);
      expect(heard?.present, `call ${'ABC'[i]}`).toBe(true);
      if (i < 2) {
        // the other call's callee markers (2 are due in 4 s; one may fall before the partner's media starts)
        expect(heard?.markers_foreign, `call ${'ABC'[i]}`).toBeGreaterThanOrEqual(1);
        expect(heard?.markers_heard).toBe(0);
        expect(heard?.marker_match).toBe(false);
        expect(r.failures.map((f) => f.check)).toEqual(['audio_crossed']);
        expect(runs[i]?.code).toBe(1);
      } else {
        expect(heard?.markers_heard).toBeGreaterThanOrEqual(1);
        expect(heard?.markers_foreign).toBe(0);
        expect(heard?.marker_match).toBe(true);
        expect(r.failures, runs[i]?.stderr).toEqual([]);
        expect(runs[i]?.code).toBe(0);
      }
    }
    // the far end heard the same: its answers per Call-ID
    expect(answered.length, answer.stderr()).toBe(3);
    for (const [i, r] of results.slice(0, 3).entries()) {
      const a = answered.find((x) => x.call_id === r.sip.call_id);
      expect(a, `answer report of call ${'ABC'[i]}`).toBeDefined();
      if (i < 2) {
        expect(a?.audio?.markers_foreign, `callee of ${'ABC'[i]}`).toBeGreaterThanOrEqual(1);
        expect(a?.audio?.marker_match).toBe(false);
        expect(a?.failures.map((f) => f.check)).toContain('audio_crossed');
      } else {
        expect(a?.audio?.markers_heard).toBeGreaterThanOrEqual(1);
        expect(a?.audio?.marker_match).toBe(true);
        expect(a?.failures).toEqual([]);
      }
    }
    expect(exited.code).toBe(1);
  }, 60_000);
});

describe('the agent calling an echo test number, from its config files', () => {
  it('audio.expect_echo: true passes on our own markers back; without it audio_crossed (looped back); audio.analysis: false has no audio section', async () => {
    // the echo test number: every RTP packet goes back where it came from, with the far end's SSRC
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    closers.push(() => rtp.close());
    rtp.on('message', (msg, from) => {
      if (msg.length < 12 || (msg[1] ?? 0) >= 192) return; // RTP only
      msg.writeUInt32BE(0xec40ec40, 8);
      rtp.send(msg, from.port, from.address);
    });
    const fe = await startFarEnd((req, f) => {
      if (req.method === 'REGISTER') f.reply(req, 200, { headers: [['Contact', `${req.headers.get('contact') ?? ''};expires=60`]] });
      else if (req.method === 'INVITE') f.reply(req, 200, { body: answerSdp(rtp.address().port) });
      else if (req.method === 'BYE') f.reply(req, 200);
    });
    closers.push(() => fe.close());
    const dir = path.join(labWorkdir(), 'agent-echo');
    fs.mkdirSync(dir, { recursive: true });
    const port = await freeTcpPort();
    fs.writeFileSync(
      path.join(dir, 'callprobe.yaml'),
      stringify({ pbx: { uri: `sip:127.0.0.1:${fe.port}`, transport: 'udp' }, accounts: { '1001': { password: 'pw-1001' } }, allowed_destinations: ['*43'], rtp: AGENT_RTP, state_dir: dir }),
    );
    // 4 s calls: our markers leave at 0.3 and 2.8 s, so at least one comes back whole
    const call = (name: string, audio: Record<string, unknown>) => ({ name, kind: 'call', from: '1001', to: '*43', duration: '4s', interval: '1h', timeout: '15s', audio });
    fs.writeFileSync(
      path.join(dir, 'probes.yaml'),
      stringify({ probes: [call('echo-expected', { expect_echo: true }), call('echo-unexpected', {}), call('echo-no-analysis', { analysis: false })] }),
    );
    agent = spawnTracked(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', path.join(dir, 'callprobe.yaml'), '--probes', path.join(dir, 'probes.yaml'), '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
      { cwd: ROOT, name: 'callprobe-agent-echo' },
    );
    const started = Date.now();
    while ((await fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() - started > 20_000) throw new Error(`agent not ready: ${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // on demand, all three at once (a scheduled run of the same probe is joined, not doubled)
    const run = async (name: string) => (await (await fetch(`http://127.0.0.1:${port}/probe?target=${name}&format=json`)).json()) as CallResult;
    const [expected, unexpected, off] = await Promise.all([run('echo-expected'), run('echo-unexpected'), run('echo-no-analysis')]);
    const back = (r: CallResult) => r.media?.directions.find((d) => d.direction === 'callee_to_caller');

    expect(expected.failures, JSON.stringify(expected.failures)).toEqual([]);
    expect(back(expected)?.audio).toMatchObject({ markers_expected: true, markers_foreign: 0, markers_heard: 0, marker_match: true });
    expect(back(expected)?.audio?.markers_echoed).toBeGreaterThanOrEqual(1);

    expect(unexpected.failures.map((f) => f.check)).toEqual(['audio_crossed']);
    expect(unexpected.failures[0]?.message).toMatch(/looped back/);
    expect(back(unexpected)?.audio).toMatchObject({ marker_match: false });
    expect(back(unexpected)?.audio?.markers_echoed).toBeGreaterThanOrEqual(1);

    expect(off.failures, JSON.stringify(off.failures)).toEqual([]);
    expect(back(off)?.packets_received).toBeGreaterThan(100);
    expect(off.media?.directions.every((d) => d.audio === undefined)).toBe(true);
  });
});
