// Issue 18 items 3 and 4, acceptance: IVR prompts heard and matched by the
// shipped `probe run` (scenario steps expect_prompt, record, expect_echo), with
// far ends we did not write (baresip playing a WAV through its aufile module) and
// with `probe answer --play` / `--echo`.
//
// Two prompts of the same length (3.0 s) and level (peak −3 dBFS) are spoken by
// espeak-ng and cut by sox. baresip is called directly (no REGISTER, regint=0):
//   1. on 127.0.0.1: expect_prompt of its WAV ≥ 0.8, of the other prompt ≤ 0.4;
//   2. in namespace B behind a router that drops 5 % of its RTP to the probe in A
//      (iptables statistic, lab-facts §4): still ≥ 0.7;
//   3. `probe answer --play` as an IVR stand-in: expect_prompt ≥ 0.8, and record
//      writes what was heard (checked against the prompt again);
//   4. `probe answer --echo`: expect_echo reports a round trip within 2 ms of the
//      smallest one the pcap shows (1 ms search grid + pacer deadline vs send).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchPrompt, promptFingerprint } from '../../src/audio/fingerprint.js';
import type { ScenarioResult } from '../../src/probes/scenario/index.js';
import { readPcmWav } from '../../src/rtp/audio.js';
import { requiredInCi } from '../ci-required.js';
import { capture, labWorkdir, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import { writeBaresipConf } from '../lab/baresip.js';
import { addCountRule, addDropRule, rulePackets, waitUdpBound } from '../lab/netns.js';
import { NsProcesses, parseJson, probeCommand, ROOT, useTopology } from './helpers/impairment.js';

const execFileP = promisify(execFile);

const BARESIP = { sip: 5078, rtp: [17050, 17059] as const, ctrl: 5575 };
const ANSWER_SIP = 5097;
const PROBE_RTP: [number, number] = [18600, 18649];
const ANSWER_RTP: [number, number] = [18650, 18699];
const DROP_P = 0.05;

function have(bin: string): boolean {
  try {
    execFileSync('which', [bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const tools = requiredInCi(have('espeak-ng') && have('sox') && have('baresip'), 'espeak-ng, sox and baresip (prompt tests)');

const procs = new NsProcesses();
const topo = useTopology(procs);
const local = new Set<TrackedProcess>();
let dir = '';

function startLocal(cmd: string, args: readonly string[]): TrackedProcess {
  const p = spawnTracked(cmd, args, { cwd: ROOT });
  local.add(p);
  return p;
}

async function finish(p: TrackedProcess, what: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.exited, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)))]);
  clearTimeout(timer);
  if (r === 'timeout') {
    await p.stop(2000);
    throw new Error(`${what} did not finish within ${timeoutMs} ms\n${p.stdout().slice(-2000)}\n${p.stderr().slice(-2000)}`);
  }
  return { code: r.code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A probe config whose "PBX" is the far end itself (called directly). */
function writeConfig(name: string, farEnd: string): string {
  const file = path.join(dir, `${name}-config.yaml`);
  fs.writeFileSync(
    file,
    `pbx: { uri: "sip:${farEnd}", transport: udp }
accounts:
  "1001": { password: "unused-no-challenge" }
rtp: { port_min: ${PROBE_RTP[0]}, port_max: ${PROBE_RTP[1]}, codecs: [PCMA] }
state_dir: ${dir}/${name}-state
`,
  );
  return file;
}

function writeScenario(name: string, to: string, steps: string[], extra = ''): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}\nfrom: "1001"\nto: "${to}"\nsteps:\n${steps.map((s) => `  - ${s}\n`).join('')}${extra}`);
  return file;
}

function stepValues(r: ScenarioResult, index: number): Record<string, number> {
  return r.steps[index]?.values ?? {};
}

async function runScenario(ns: string | undefined, scenario: string, config: string): Promise<{ code: number | null; result: ScenarioResult; stderr: string }> {
  const args = ['run', scenario, '--config', config, '--json'];
  const p = ns !== undefined ? procs.startProbe(ns, args) : startLocal(...probeCommand(args));
  const done = ns !== undefined ? await procs.finish(p, 'probe run', 40_000) : await finish(p, 'probe run', 40_000);
  return { code: done.code, result: parseJson<ScenarioResult>(done.stdout, `probe run (exit ${done.code}; stderr: ${done.stderr.slice(-1500)})`), stderr: done.stderr };
}

function baresip(ns: string | undefined, address: string, audioFile: string, tag: string): TrackedProcess {
  const conf = writeBaresipConf(path.join(dir, `baresip-${tag}`), {
    user: '1003',
    password: 'unused',
    sipPort: BARESIP.sip,
    rtpPortMin: BARESIP.rtp[0],
    rtpPortMax: BARESIP.rtp[1],
    ctrlPort: BARESIP.ctrl,
    answermode: 'auto',
    audioFile,
    address,
    register: false,
  });
  const args = ['-f', conf, '-t', '40'];
  return ns !== undefined ? procs.start(ns, 'baresip', args) : startLocal('baresip', args);
}

beforeAll(async () => {
  if (!tools) return;
  dir = fs.mkdtempSync(path.join(labWorkdir(), 'ivr-'));
  const say = async (name: string, text: string): Promise<void> => {
    await execFileP('espeak-ng', ['-v', 'en', '-s', '160', '-w', path.join(dir, `${name}-raw.wav`), text]);
    // same length and level: 8 kHz mono 16-bit, 3.0 s (padded if short), peak normalised to -3 dBFS
    await execFileP('sox', [path.join(dir, `${name}-raw.wav`), '-r', '8000', '-c', '1', '-b', '16', path.join(dir, `${name}.wav`), 'pad', '0', '3', 'trim', '0', '3', 'norm', '-3']);
  };
  await say('welcome', 'Welcome to the callprobe laboratory. Your call matters.');
  await say('busy', 'All of our agents are busy. Please hold the line.');
  // baresip hangs up at the end of its source file: the prompt five times (15 s) outlasts every call here
  const w = path.join(dir, 'welcome.wav');
  await execFileP('sox', [w, w, w, w, w, path.join(dir, 'welcome-x5.wav')]);
}, 30_000);

afterAll(async () => {
  await Promise.all([...local].map((p) => p.stop(2000)));
  local.clear();
});

describe.skipIf(!tools)('IVR prompts (issue 18 items 3 and 4)', () => {
  it('baresip playing a WAV: expect_prompt of that WAV >= 0.8, of the other prompt <= 0.4', async () => {
    const far = baresip(undefined, '127.0.0.1', path.join(dir, 'welcome-x5.wav'), 'lo');
    try {
      const scenario = writeScenario('ivr-baresip', `sip:1003@127.0.0.1:${BARESIP.sip}`, [
        'call: {}',
        'expect: { status: 200 }',
        'expect_prompt: { file: welcome.wav, within: 2s, min_similarity: 0.8 }',
        'expect_prompt: { file: busy.wav, within: 1s, min_similarity: 0.8 }',
      ]);
      await waitUdpPortLocal(BARESIP.sip);
      const { code, result, stderr } = await runScenario(undefined, scenario, writeConfig('ivr-baresip', `127.0.0.1:${BARESIP.sip}`));
      const same = stepValues(result, 2);
      const other = stepValues(result, 3);
      console.log(`[ivr] baresip on lo: welcome.wav ${JSON.stringify(same)}; busy.wav ${JSON.stringify(other)}`);
      expect(result.steps[2]?.ok, stderr).toBe(true);
      expect(same.similarity).toBeGreaterThanOrEqual(0.8);
      // the other prompt is not what was played: the step fails and says why, with the figure
      expect(result.steps[3]?.ok).toBe(false);
      expect(other.similarity).toBeLessThanOrEqual(0.4);
      expect(result.steps[3]?.message).toMatch(/prompt busy\.wav not heard: best similarity [0-9.]+ < 0\.8/);
      expect(result.failures[0]?.check).toBe('step[3] expect_prompt');
      expect(code).toBe(1);
    } finally {
      await far.stop(2000);
    }
  }, 60_000);

  it('with 5 % of baresip\'s RTP dropped in a namespace router: still >= 0.7', async () => {
    const match = { src: topo.addr.b, dst: topo.addr.a, dportMin: PROBE_RTP[0], dportMax: PROBE_RTP[1], evenPortsOnly: true };
    const count = await addCountRule(topo, match);
    const drop = await addDropRule(topo, match, DROP_P);
    baresip(topo.b, topo.addr.b, path.join(dir, 'welcome-x5.wav'), 'ns');
    await waitUdpBound(topo.b, BARESIP.sip);
    const scenario = writeScenario('ivr-loss', `sip:1003@${topo.addr.b}:${BARESIP.sip}`, [
      'call: {}',
      'expect: { status: 200 }',
      'expect_prompt: { file: welcome.wav, within: 2s, min_similarity: 0.7 }',
      'bye: {}',
    ], 'thresholds: { loss_max_percent: 20 }  # the loss is on purpose here: the prompt is what is checked\n');
    const { code, result, stderr } = await runScenario(topo.a, scenario, writeConfig('ivr-loss', `${topo.addr.b}:${BARESIP.sip}`));
    const wire = await rulePackets(count);
    const dropped = await rulePackets(drop);
    const v = stepValues(result, 2);
    console.log(`[ivr] 5 % loss: iptables dropped ${dropped} of ${wire} RTP packets to the probe (${((100 * dropped) / Math.max(1, wire)).toFixed(1)} %); welcome.wav ${JSON.stringify(v)}`);
    expect(dropped, 'the rule dropped packets (P(0 of ~250) < 1e-5)').toBeGreaterThan(0);
    expect(result.steps[2]?.ok, `${result.steps[2]?.message ?? ''}\n${stderr}`).toBe(true);
    expect(v.similarity).toBeGreaterThanOrEqual(0.7);
    // lost packets are not heard: coverage below 1, and not so low that the match means little
    expect(v.coverage).toBeLessThan(1);
    expect(v.coverage).toBeGreaterThan(0.5);
    expect(code, JSON.stringify(result.failures)).toBe(0);
  }, 60_000);

  it('probe answer --play as the IVR: expect_prompt >= 0.8, record keeps what was heard', async () => {
    const answer = startLocal(...probeCommand([
      'answer', '--bind', `127.0.0.1:${ANSWER_SIP}`, '--play', path.join(dir, 'welcome.wav'), '--calls', '1', '--json', '--quiet',
      '--rtp-ports', `${ANSWER_RTP[0]}-${ANSWER_RTP[1]}`, '--duration-max', '30s',
    ]));
    await waitUdpPortLocal(ANSWER_SIP);
    const scenario = writeScenario('ivr-play', `sip:ivr@127.0.0.1:${ANSWER_SIP}`, [
      'call: {}',
      'expect: { status: 200 }',
      'record: { file: heard.wav, seconds: 3.5 }',
      'expect_prompt: { file: welcome.wav, within: 3s }',
      'bye: {}',
    ]);
    const { code, result, stderr } = await runScenario(undefined, scenario, writeConfig('ivr-play', `127.0.0.1:${ANSWER_SIP}`));
    const answered = await finish(answer, 'probe answer', 10_000);
    const v = stepValues(result, 3);
    console.log(`[ivr] probe answer --play: record ${JSON.stringify(stepValues(result, 2))}; welcome.wav ${JSON.stringify(v)}`);
    expect(code, `${JSON.stringify(result.steps)}\n${stderr}`).toBe(0);
    expect(v.similarity).toBeGreaterThanOrEqual(0.8);
    expect(JSON.parse(answered.stdout.trim()).sent_audio).toBe(path.join(dir, 'welcome.wav'));
    // the recording is a 3.5 s, 8 kHz WAV holding the prompt (it started at the answer, the prompt too)
    const heard = await readPcmWav(path.join(dir, 'heard.wav'));
    expect(heard.rate).toBe(8000);
    expect(heard.samples.length).toBe(28_000);
    const prompt = await readPcmWav(path.join(dir, 'welcome.wav'));
    const m = matchPrompt(promptFingerprint(prompt.samples), heard.samples, { from: -4000, to: 4000 });
    expect(m.similarity).toBeGreaterThanOrEqual(0.8);
  }, 60_000);

  it('probe answer --echo: expect_echo reports the round trip, within 2 ms of the pcap', async () => {
    const answer = startLocal(...probeCommand([
      'answer', '--bind', `127.0.0.1:${ANSWER_SIP}`, '--echo', '--calls', '1', '--json', '--quiet',
      '--rtp-ports', `${ANSWER_RTP[0]}-${ANSWER_RTP[1]}`, '--duration-max', '30s',
    ]));
    await waitUdpPortLocal(ANSWER_SIP);
    const pcap = await capture({ file: path.join(dir, 'echo.pcap'), filter: `udp and portrange ${PROBE_RTP[0]}-${ANSWER_RTP[1]}` });
    const scenario = writeScenario('ivr-echo', `sip:echo@127.0.0.1:${ANSWER_SIP}`, [
      'call: {}',
      'expect: { status: 200 }',
      'expect_echo: { seconds: 1.5, max_delay: 300ms }',
      'bye: {}',
    ]);
    const { code, result, stderr } = await runScenario(undefined, scenario, writeConfig('ivr-echo', `127.0.0.1:${ANSWER_SIP}`));
    await finish(answer, 'probe answer', 10_000);
    const file = await pcap.stop();
    const v = stepValues(result, 2);
    const wire = await pcapRoundTrips(file);
    console.log(`[ivr] probe answer --echo: ${JSON.stringify(v)}; pcap round trip min ${wire.min.toFixed(3)} ms, median ${wire.median.toFixed(3)} ms over ${wire.n} packets`);
    expect(code, `${JSON.stringify(result.steps)}\n${stderr}`).toBe(0);
    expect(wire.n).toBeGreaterThan(50);
    expect(Math.abs((v.round_trip_ms ?? Number.NaN) - wire.min)).toBeLessThanOrEqual(2);
    expect(v.similarity).toBeGreaterThanOrEqual(0.8);
  }, 60_000);
});

async function waitUdpPortLocal(port: number): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + 15_000;
  while (!fs.readFileSync('/proc/net/udp', 'utf8').split('\n').some((l) => (l.trim().split(/\s+/)[1] ?? '').endsWith(hex))) {
    if (Date.now() > deadline) throw new Error(`nothing bound udp ${port} within 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Per RTP sequence number: capture time of our packet to the echo, and of the same sequence number coming back. */
async function pcapRoundTrips(file: string): Promise<{ n: number; min: number; median: number }> {
  const { stdout } = await execFileP('tshark', ['-r', file, '-o', 'rtp.heuristic_rtp:TRUE', '-Y', 'rtp && rtp.p_type != 101', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'udp.dstport', '-e', 'rtp.seq']);
  const out = new Map<number, number>();
  const rtt: number[] = [];
  for (const line of stdout.trim().split('\n')) {
    const [t, dport, seq] = line.split('\t');
    const time = Number(t) * 1000;
    const port = Number(dport);
    if (port >= ANSWER_RTP[0] && port <= ANSWER_RTP[1]) out.set(Number(seq), time);
    else if (port >= PROBE_RTP[0] && port <= PROBE_RTP[1]) {
      const sent = out.get(Number(seq));
      if (sent !== undefined) rtt.push(time - sent);
    }
  }
  rtt.sort((a, b) => a - b);
  return { n: rtt.length, min: rtt[0] ?? Number.NaN, median: rtt[Math.floor(rtt.length / 2)] ?? Number.NaN };
}
