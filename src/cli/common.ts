// Helpers shared by every CLI command. Commands stay thin: parse flags, call a
// library function, render its result. Rendering never computes.
import type { AudioSource } from '../rtp/audio.js';
import { AUDIO_CODECS, codecOfName, type AudioCodec } from '../rtp/codec.js';
import { EXIT, UsageError } from './exit.js';

export { EXIT, UsageError };

/** Flags every command accepts (design: common flags). */
export interface CommonOptions {
  config?: string;
  json?: boolean;
  junit?: string;
  quiet?: boolean;
  logLevel?: string;
}

/**
 * Runs a command body and turns its outcome into an exit code.
 * UsageError or refused SIP input → message on stderr, exit 2. Anything else unexpected → one-line
 * message (stack only with --log-level debug/trace), exit 3. Never a bare stack trace.
 */
export async function runCommand(body: () => Promise<number>, opts: { logLevel?: string } = {}): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    if (err instanceof UsageError || isInputError(err)) {
      process.stderr.write(`probe: ${(err as Error).message}\n`);
      process.exitCode = EXIT.USAGE;
      return;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    process.stderr.write(`probe: internal error: ${e.message}${typeof code === 'string' ? ` (${code})` : ''}\n`);
    if (opts.logLevel === 'debug' || opts.logLevel === 'trace') process.stderr.write(`${e.stack ?? ''}\n`);
    process.exitCode = EXIT.INTERNAL;
  }
}

/**
 * Input the SIP layer refused (src/sip/input.ts SipInputError: CR/LF/NUL, a
 * malformed URI, a password inside a URI) is the user's to fix: exit 2. Matched
 * by code so that one-shot commands need not load src/sip/ to recognise it.
 */
function isInputError(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'E_SIP_INPUT';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "10s", "1500ms", "2m", "1h" or a bare number of seconds into milliseconds. */
export function parseDuration(text: string, flag = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new UsageError(`--${flag}: "${text}" is not a duration (examples: 10s, 1500ms, 2m)`);
  const value = Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000);
  if (!Number.isFinite(value)) throw new UsageError(`--${flag}: "${text}" is too large`);
  return value;
}

/** `--timeout`: a duration greater than 0. */
export function parseTimeout(text: string): number {
  const ms = parseDuration(text, 'timeout');
  if (ms <= 0) throw new UsageError('--timeout must be greater than 0');
  return ms;
}

/** Parses a number flag with bounds, as a UsageError when it does not fit. */
export function parseNumber(text: string, flag: string, min = -Infinity, max = Infinity): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    const range = Number.isFinite(min) || Number.isFinite(max) ? ` (${min} to ${max})` : '';
    throw new UsageError(`--${flag}: "${text}" is not a valid number${range}`);
  }
  return value;
}

/** Writes one JSON object on stdout (the `--json` contract). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `--audio file.wav`: the WAV as an audio source, or a usage error saying why it is unusable. */
export async function loadAudioFlag(path: string | undefined): Promise<AudioSource | undefined> {
  if (path === undefined || path === '') return undefined;
  const { readWav } = await import('../rtp/audio.js');
  try {
    return await readWav(path);
  } catch (err) {
    throw new UsageError(`--audio: ${(err as Error).message}`);
  }
}

/** "--codec G722,pcmu,OPUS" → ['G722', 'PCMU', 'opus'] (case-insensitive, order kept); `what` ends the error message. */
export function parseCodecList(text: string, what: string): AudioCodec[] {
  return text.split(',').map((name) => {
    const codec = codecOfName(name);
    if (!codec) throw new UsageError(`--codec: "${name.trim()}" is not supported (${AUDIO_CODECS.join(', ')}; ${what})`);
    return codec;
  });
}
