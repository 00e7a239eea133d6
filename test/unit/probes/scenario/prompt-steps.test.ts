// The listening steps apart from SIP: PromptSteps fed through its audio tap
// (what RtpSession would hand it), with a fake caller session for expect_echo.
import { describe, expect, it } from 'vitest';
import { monotonicClock } from '../../../../src/rtp/clock.js';
import { speechLikeSignal, type AudioSource, type PcmWav } from '../../../../src/rtp/audio.js';
import type { RtpSession } from '../../../../src/rtp/session.js';
import { StepFailure } from '../../../../src/probes/scenario/executor.js';
import { listensToAudio, PromptSteps } from '../../../../src/probes/scenario/prompt-steps.js';
import { parseScenarioText } from '../../../../src/probes/scenario/load.js';

const PROMPT = speechLikeSignal(2, 0x3333).samples;
const OTHER = speechLikeSignal(2, 0x4444).samples;
const wav = (samples: Int16Array): PcmWav => ({ name: 'p.wav', rate: 8000, samples });
const never = new AbortController().signal;

/** Feeds `audio` into the leg's tap as 20 ms frames arriving at `startEpochMs` + their position (+ `delayMs`), now. */
function feed(steps: PromptSteps, leg: 'caller' | 'callee', audio: Int16Array, startEpochMs: number, opts: { lose?: (frame: number) => boolean } = {}): void {
  const sink = steps.tap(leg)?.({ ssrc: 42, source: '127.0.0.1:1', payloadType: 8, codec: 'PCMA', clockRate: 8000 });
  if (!sink) throw new Error('no tap');
  const toMonotonic = monotonicClock.now() - Date.now();
  for (let f = 0; f * 160 < audio.length; f++) {
    if (opts.lose?.(f)) continue;
    sink.onFrame(audio.slice(f * 160, f * 160 + 160), 8000, 9000 + f * 160, startEpochMs + f * 20 + toMonotonic);
  }
}

function stepsWith(opts: Partial<ConstructorParameters<typeof PromptSteps>[0]> = {}): PromptSteps {
  return new PromptSteps({ baseDir: '/scenarios', enabled: true, readPcm: async () => wav(PROMPT), ...opts });
}

describe('expect_prompt', () => {
  it('finds the prompt heard since the answer and reports similarity, coverage and start', async () => {
    const steps = stepsWith();
    const heardFrom = Date.now() - 3000;
    const audio = new Int16Array(8000 + PROMPT.length);
    audio.set(PROMPT, 4000); // the prompt starts 0.5 s after the answer
    feed(steps, 'caller', audio, heardFrom);
    steps.answered('caller', heardFrom);
    const done = await steps.run({ kind: 'expect_prompt', file: 'p.wav', within: 0, min_similarity: 0.8, leg: 'caller' }, never, {} as RtpSession);
    expect(done.values.similarity).toBeGreaterThanOrEqual(0.9);
    expect(done.values.coverage).toBeGreaterThan(0.95);
    expect(Math.abs((done.values.prompt_start_s ?? 0) - 0.5)).toBeLessThanOrEqual(0.005);
    expect(done.message).toMatch(/^p\.wav: similarity 0\.9\d+, starting 0\.5\d* s after the answer/);
  });

  it('fails below min_similarity with the figure and where, and on a missing file as config', async () => {
    const steps = stepsWith();
    const t = Date.now() - 3000;
    feed(steps, 'caller', OTHER, t);
    steps.answered('caller', t);
    const err = await steps.run({ kind: 'expect_prompt', file: 'p.wav', within: 0, min_similarity: 0.8, leg: 'caller' }, never, {} as RtpSession).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailure);
    const f = err as StepFailure;
    expect(f.phase).toBe('media');
    expect(f.message).toMatch(/^prompt p\.wav not heard: best similarity 0\.\d+ < 0\.8/);
    expect(f.actual).toBeLessThan(0.4);
    expect(f.values?.similarity).toBe(f.actual);

    const missing = stepsWith({ readPcm: () => Promise.reject(new Error('ENOENT: no such file')) });
    feed(missing, 'caller', PROMPT, t);
    const e2 = (await missing.run({ kind: 'expect_prompt', file: 'nope.wav', within: 0, min_similarity: 0.8, leg: 'caller' }, never, {} as RtpSession).catch((e: unknown) => e)) as StepFailure;
    expect(e2.phase).toBe('config');
    expect(e2.message).toContain('/scenarios/nope.wav');
    const silent = stepsWith({ readPcm: async () => wav(new Int16Array(8000)) });
    feed(silent, 'caller', PROMPT, t);
    await expect(silent.run({ kind: 'expect_prompt', file: 's.wav', within: 0, min_similarity: 0.8, leg: 'caller' }, never, {} as RtpSession)).rejects.toThrow(/is silent/);
  });

  it('fails when less than half of the prompt arrived, whatever the similarity', async () => {
    const steps = stepsWith();
    const t = Date.now() - 3000;
    feed(steps, 'caller', PROMPT, t, { lose: (f) => Math.floor(f / 10) % 3 !== 0 }); // 200 ms heard in every 600
    steps.answered('caller', t);
    await expect(steps.run({ kind: 'expect_prompt', file: 'p.wav', within: 0, min_similarity: 0.5, leg: 'caller' }, never, {} as RtpSession)).rejects.toThrow(
      /prompt p\.wav not heard: only \d+ % of it arrived/,
    );
  });

  it('a leg without kept audio is a media failure; nothing is kept when no step listens', async () => {
    const steps = stepsWith();
    await expect(steps.run({ kind: 'expect_prompt', file: 'p.wav', within: 0, min_similarity: 0.8, leg: 'callee' }, never, {} as RtpSession)).rejects.toThrow(/listening on the callee leg needs the agent to answer the call/);
    expect(new PromptSteps({ baseDir: '/', enabled: false }).tap('caller')).toBeUndefined();
  });
});

describe('record', () => {
  it('writes what was heard as a WAV of the asked length, silence where nothing arrived', async () => {
    const written: Array<{ path: string; data: Buffer }> = [];
    const steps = stepsWith({ write: async (path, data) => void written.push({ path, data }) });
    steps.tap('caller'); // the session exists, nothing arrives: a dead far end
    const done = await steps.run({ kind: 'record', file: 'out/heard.wav', seconds: 0.2, leg: 'caller' }, never, {} as RtpSession);
    expect(written[0]?.path).toBe('/scenarios/out/heard.wav');
    expect(written[0]?.data.length).toBe(44 + 2 * 1600);
    expect(done.values).toEqual({ seconds: 0.2, heard_s: 0 });
  });

  it('fails with the path and the error when the file cannot be written (full disk)', async () => {
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const steps = stepsWith({ write: () => Promise.reject(full) });
    steps.tap('caller');
    const err = (await steps.run({ kind: 'record', file: '/var/lib/x.wav', seconds: 0.1, leg: 'caller' }, never, {} as RtpSession).catch((e: unknown) => e)) as StepFailure;
    expect(err.phase).toBe('internal');
    expect(err.message).toBe('cannot write /var/lib/x.wav: ENOSPC no space left on device');
  });
});

describe('expect_echo', () => {
  /** A caller session sending `source` from tick zero at `zeroEpochMs`, as sourcePositionAt() says. */
  function fakeSession(source: AudioSource, zeroEpochMs: number): RtpSession {
    const loop = Math.ceil(source.samples.length / 160) * 160;
    return {
      source,
      sourceLoop: loop,
      sourcePositionAt: (ms: number) => (((Math.round((ms - zeroEpochMs) * 8) % loop) + loop) % loop),
    } as unknown as RtpSession;
  }

  it('measures the round trip of our own audio coming back 137 ms later', async () => {
    const source = speechLikeSignal(4, 0x5555);
    const steps = stepsWith();
    const zero = Date.now() - 1000; // we have been sending for a second
    const session = fakeSession(source, zero);
    steps.tap('caller'); // as the session's constructor does
    const run = steps.run({ kind: 'expect_echo', seconds: 1, max_delay: 400, min_similarity: 0.8 }, never, session);
    // the echo: what we sent, each 20 ms frame arriving 137 ms after it went out
    const loop = new Int16Array(source.samples.length * 3);
    for (let i = 0; i < loop.length; i++) loop[i] = source.samples[i % source.samples.length] ?? 0;
    feed(steps, 'caller', loop, zero + 137);
    const done = await run;
    expect(Math.abs((done.values.round_trip_ms ?? 0) - 137)).toBeLessThanOrEqual(1);
    expect(done.values.similarity).toBeGreaterThanOrEqual(0.9);
    expect(done.message).toMatch(/^round trip 13[6-8](\.\d)? ms/);
  });

  it('fails when what comes back is not our audio', async () => {
    const steps = stepsWith();
    const zero = Date.now() - 1000;
    steps.tap('caller');
    const run = steps.run({ kind: 'expect_echo', seconds: 1, max_delay: 300, min_similarity: 0.8 }, never, fakeSession(speechLikeSignal(4, 0x5555), zero));
    feed(steps, 'caller', speechLikeSignal(6, 0x6666).samples, zero);
    await expect(run).rejects.toThrow(/our audio did not come back within 300 ms: best similarity 0\.\d+ \(min 0\.8\)/);
  });
});

describe('scenario files', () => {
  const config = { accounts: { '1001': { password: 'a' } }, allowed_destinations: [] };
  it('parse the listening steps with their defaults and need a call first', () => {
    const s = parseScenarioText(
      'name: ivr\nfrom: "1001"\nto: "1001"\nsteps:\n  - call: {}\n  - expect_prompt: { file: g.wav }\n  - record: { file: r.wav, seconds: 3 }\n  - expect_echo:\n',
      'ivr.yaml',
      config,
    );
    expect(s.steps.slice(1)).toEqual([
      { kind: 'expect_prompt', file: 'g.wav', within: 5000, min_similarity: 0.8, leg: 'caller' },
      { kind: 'record', file: 'r.wav', seconds: 3, leg: 'caller' },
      { kind: 'expect_echo', seconds: 2, max_delay: 1000, min_similarity: 0.8 },
    ]);
    expect(listensToAudio(s.steps)).toBe(true);
    expect(() => parseScenarioText('name: x\nfrom: "1001"\nsteps:\n  - record: { file: r.wav, seconds: 1 }\n', 'x.yaml', config)).toThrow(/put a "call" step before it/);
    expect(() => parseScenarioText('name: x\nfrom: "1001"\nto: "1001"\nsteps:\n  - call: {}\n  - expect_prompt: { file: g.wav, min_similarity: 2 }\n', 'x.yaml', config)).toThrow(/min_similarity/);
  });
});
