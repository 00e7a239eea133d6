// The scenario steps that listen to the audio itself: `record` (what a leg heard,
// as a WAV for a human) and `expect_prompt` (a reference recording must be heard,
// matched by the fingerprint of src/audio/). Each leg's decoded audio is kept on
// one timeline (HeardAudio) from the answer on, only when the scenario has such
// a step: decoding costs nothing otherwise.
import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { FP_RATE, matchPromptGradually, promptFingerprint, toFingerprintRate, type PromptFingerprint } from '../../audio/fingerprint.js';
import { atFingerprintRate, HeardAudio } from '../../audio/heard.js';
import { readPcmWav, wavFile, type PcmWav } from '../../rtp/audio.js';
import { monotonicClock } from '../../rtp/clock.js';
import type { AudioTap } from '../../rtp/receive-streams.js';
import type { RtpSession } from '../../rtp/session.js';
import { round } from '../../round.js';
import { sleep, StepFailure, type StepDone } from './executor.js';
import type { Step, StepOf } from './schema.js';

type Leg = 'caller' | 'callee';
export type ListenStep = StepOf<'record'> | StepOf<'expect_prompt'> | StepOf<'expect_echo'>;

/** A prompt must be heard over at least this share of its weight to count (the rest lost or not yet received). */
export const MIN_PROMPT_COVERAGE = 0.5;
/** Longest reference recording: a prompt, not a call. */
const MAX_PROMPT_SECONDS = 60;
/** How often expect_prompt looks at what has arrived (each look costs tens of ms of CPU, in slices). */
const POLL_MS = 1000;
/**
 * A prompt may have begun this long before the first audio we kept: a far end that
 * starts playing as it sends its 200 OK has its first packets arrive before our
 * media session listens. The missing head counts as not heard.
 */
const EARLY_START_MS = 500;
/** Audio still in flight (jitter, relay buffers) when the window closes. */
const SETTLE_MS = 300;

export interface PromptStepsOptions {
  /** Relative files resolve against this (the scenario file's directory). */
  baseDir: string;
  /** Keep decoded audio at all: the scenario has a record or expect_prompt step. */
  enabled: boolean;
  /** Loads a reference WAV (injected in tests). */
  readPcm?: ((path: string) => Promise<PcmWav>) | undefined;
  /** Writes a file (injected in tests). */
  write?: (path: string, data: Buffer) => Promise<void>;
}

interface LegAudio {
  heard: HeardAudio;
  /** Epoch ms before which expect_prompt does not look: the answer, then the end of the last prompt matched. */
  since: number;
  sinceLabel: 'the answer' | 'the previous prompt';
}

/**
 * Runs a gradual match to its end, letting the event loop (the RTP pacer and
 * receivers of this very call) run between slices.
 */
async function inSlices<T>(work: Generator<void, T>): Promise<T> {
  for (;;) {
    const r = work.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Whether any step of the scenario listens to audio. */
export function listensToAudio(steps: readonly Step[]): boolean {
  return steps.some((s) => s.kind === 'record' || s.kind === 'expect_prompt' || s.kind === 'expect_echo');
}

export class PromptSteps {
  private readonly legs = new Map<Leg, LegAudio>();

  constructor(private readonly opts: PromptStepsOptions) {}

  /**
   * The audio tap for the RTP session of `leg` (RtpSessionOptions.audioTap): what it
   * decodes goes onto the leg's timeline. Undefined when no step listens (no decoding).
   */
  tap(leg: Leg): AudioTap | undefined {
    if (!this.opts.enabled) return undefined;
    let audio = this.legs.get(leg);
    if (!audio) {
      audio = { heard: new HeardAudio(), since: Date.now(), sinceLabel: 'the answer' };
      this.legs.set(leg, audio);
    }
    const { heard } = audio;
    // the session stamps arrivals on the media engine's monotonic clock; the steps work in epoch ms
    const toEpoch = Date.now() - monotonicClock.now();
    return (stream) => ({
      onFrame: (pcm, rate, ts, arrivalMs) => heard.add(stream.ssrc, pcm, rate, ts, arrivalMs + toEpoch, stream.clockRate),
    });
  }

  /** The call was answered on `leg` at `epochMs`: expect_prompt looks from there on. */
  answered(leg: Leg, epochMs: number): void {
    const audio = this.legs.get(leg);
    if (audio) audio.since = epochMs;
  }

  /** The step's outer time limit, ms (`base`: the scenario's step_timeout). */
  timeoutMs(step: ListenStep, base: number): number {
    if (step.kind === 'record') return step.seconds * 1000 + base;
    if (step.kind === 'expect_echo') return step.seconds * 1000 + step.max_delay + base;
    return step.within + (MAX_PROMPT_SECONDS + 1) * 1000 + base;
  }

  /** Runs a listening step; `session` is the caller's (whose own audio an echo brings back). */
  run(step: ListenStep, signal: AbortSignal, session: RtpSession): Promise<StepDone> {
    if (step.kind === 'record') return this.record(step, signal);
    if (step.kind === 'expect_prompt') return this.expectPrompt(step, signal);
    return this.expectEcho(step, signal, session);
  }

  private leg(leg: Leg): LegAudio {
    const known = this.legs.get(leg);
    if (!known && leg === 'callee') {
      throw new StepFailure('config', 'listening on the callee leg needs the agent to answer the call: add a "register" step for the callee before the call');
    }
    if (!known) throw new StepFailure('media', `no audio of the ${leg} leg is kept (the call has no media on that leg)`);
    return known;
  }

  private async record(step: StepOf<'record'>, signal: AbortSignal): Promise<StepDone> {
    const { heard } = this.leg(step.leg);
    const path = resolve(this.opts.baseDir, step.file);
    const t0 = Date.now();
    const t1 = t0 + step.seconds * 1000;
    await sleep(t1 + SETTLE_MS - Date.now(), signal);
    if (signal.aborted) throw new StepFailure('media', 'interrupted');
    const snap = heard.snapshot({ fromMs: t0, toMs: t1 });
    // the file always lasts `seconds`: what did not arrive is silence
    const samples = new Int16Array(Math.round(step.seconds * snap.rate));
    const at = Math.max(0, heard.empty ? 0 : Math.round(((snap.startMs - t0) * snap.rate) / 1000));
    samples.set(snap.samples.subarray(0, Math.max(0, samples.length - at)), Math.min(at, samples.length));
    let heardSamples = 0;
    for (const h of snap.heard) heardSamples += h;
    const heardS = round(heardSamples / snap.rate, 2);
    try {
      await (this.opts.write ?? ((p: string, d: Buffer) => writeFile(p, d)))(path, wavFile(samples, snap.rate));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new StepFailure('internal', `cannot write ${path}: ${e.code ?? ''} ${e.message}`.trim());
    }
    return {
      message: `${step.seconds} s to ${path} (${snap.rate} Hz), audio heard for ${heardS} s`,
      values: { seconds: step.seconds, heard_s: heardS },
    };
  }

  private async reference(file: string): Promise<{ path: string; fp: PromptFingerprint; seconds: number }> {
    const path = resolve(this.opts.baseDir, file);
    let wav: PcmWav;
    try {
      wav = await (this.opts.readPcm ?? readPcmWav)(path);
    } catch (err) {
      throw new StepFailure('config', `prompt ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const seconds = wav.samples.length / wav.rate;
    if (seconds > MAX_PROMPT_SECONDS) throw new StepFailure('config', `prompt ${path} lasts ${round(seconds, 1)} s; at most ${MAX_PROMPT_SECONDS} s`);
    const fp = promptFingerprint(toFingerprintRate(wav.samples, wav.rate));
    if (fp.totalWeight === 0) throw new StepFailure('config', `prompt ${path} is silent (nothing to match)`);
    return { path, fp, seconds };
  }

  private async expectPrompt(step: StepOf<'expect_prompt'>, signal: AbortSignal): Promise<StepDone> {
    const leg = this.leg(step.leg);
    const ref = await this.reference(step.file);
    const name = basename(ref.path);
    const since = leg.since;
    const latestStart = Date.now() + step.within;
    const deadline = latestStart + ref.seconds * 1000 + SETTLE_MS;
    let best = { similarity: 0, coverage: 0, startMs: since };
    for (;;) {
      const last = Date.now() >= deadline;
      const snap = leg.heard.snapshot({ fromMs: since });
      if (snap.samples.length > 0) {
        const { samples, heard } = atFingerprintRate(snap);
        const to = Math.round(((latestStart - snap.startMs) * FP_RATE) / 1000);
        const from = -Math.round((EARLY_START_MS * FP_RATE) / 1000);
        const m = await inSlices(matchPromptGradually(ref.fp, samples, { from, to: Math.max(from, to), heard }));
        best = { similarity: m.similarity, coverage: m.coverage, startMs: snap.startMs + (m.offset * 1000) / FP_RATE };
        if (m.similarity >= step.min_similarity && m.coverage >= MIN_PROMPT_COVERAGE && this.complete(m.offset, ref.fp.samples, samples.length)) break;
      }
      if (last) break;
      await sleep(Math.min(POLL_MS, deadline - Date.now()), signal);
      if (signal.aborted) throw new StepFailure('media', 'interrupted');
    }
    const values = {
      similarity: round(best.similarity, 3),
      coverage: round(best.coverage, 3),
      prompt_start_s: round((best.startMs - since) / 1000, 3),
    };
    const where = `starting ${values.prompt_start_s} s after ${leg.sinceLabel}`;
    const heardPct = `${Math.round(best.coverage * 100)} % of the prompt heard`;
    if (best.similarity < step.min_similarity) {
      throw new StepFailure('media', `prompt ${name} not heard: best similarity ${values.similarity} < ${step.min_similarity} (${where}, ${heardPct})`, step.min_similarity, values.similarity, values);
    }
    if (best.coverage < MIN_PROMPT_COVERAGE) {
      throw new StepFailure(
        'media',
        `prompt ${name} not heard: only ${Math.round(best.coverage * 100)} % of it arrived (similarity ${values.similarity} over that part, ${where})`,
        step.min_similarity,
        values.similarity,
        values,
      );
    }
    leg.since = best.startMs + ref.seconds * 1000;
    leg.sinceLabel = 'the previous prompt';
    return { message: `${name}: similarity ${values.similarity}, ${where}, ${Math.round(best.coverage * 100)} % heard`, values };
  }

  /**
   * Our own audio, sent from now for `seconds`, must come back within `max_delay`:
   * the fingerprint of what we sent, searched in what the caller heard. The round
   * trip is the lag of the best match (arrival of the echo − sending, one clock).
   */
  private async expectEcho(step: StepOf<'expect_echo'>, signal: AbortSignal, session: RtpSession): Promise<StepDone> {
    const leg = this.leg('caller');
    // right after the answer the pacer may not have sent its first packet yet
    for (let waited = 0; session.sourcePositionAt(Date.now()) === undefined && waited < 1000 && !signal.aborted; waited += 20) await sleep(20, signal);
    const t0 = Date.now();
    const start = session.sourcePositionAt(t0);
    if (start === undefined) throw new StepFailure('media', 'we are not sending audio (on hold?): nothing to echo');
    const n = Math.round(step.seconds * FP_RATE);
    const sent = new Int16Array(n);
    const loop = session.sourceLoop;
    const source = session.source.samples;
    for (let i = 0; i < n; i++) sent[i] = source[(start + i) % loop] ?? 0; // past the source's end: the padded frame's zeros
    const fp = promptFingerprint(sent);
    if (fp.totalWeight === 0) throw new StepFailure('config', `the audio sent is silent for those ${step.seconds} s: nothing to recognise in the echo`);
    await sleep(t0 + step.seconds * 1000 + step.max_delay + SETTLE_MS - Date.now(), signal);
    if (signal.aborted) throw new StepFailure('media', 'interrupted');
    const snap = leg.heard.snapshot({ fromMs: t0 });
    const { samples, heard } = atFingerprintRate(snap);
    const m = await inSlices(matchPromptGradually(fp, samples, { from: 0, to: Math.round((step.max_delay * FP_RATE) / 1000), heard, refine: true }));
    const roundTrip = snap.startMs + (m.offset * 1000) / FP_RATE - t0;
    const values = { round_trip_ms: round(roundTrip, 1), similarity: round(m.similarity, 3), coverage: round(m.coverage, 3) };
    if (m.coverage < MIN_PROMPT_COVERAGE || m.similarity < step.min_similarity) {
      throw new StepFailure(
        'media',
        `our audio did not come back within ${step.max_delay} ms: best similarity ${values.similarity} (min ${step.min_similarity}), ${Math.round(m.coverage * 100)} % heard`,
        step.min_similarity,
        values.similarity,
        values,
      );
    }
    return { message: `round trip ${values.round_trip_ms} ms (similarity ${values.similarity}, ${Math.round(m.coverage * 100)} % heard)`, values };
  }

  /** The alignment's whole prompt has had time to arrive (an early match must not stop on a partial one). */
  private complete(offset: number, promptSamples: number, received: number): boolean {
    return offset + promptSamples <= received;
  }
}
