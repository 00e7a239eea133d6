// Durations in config files are strings with a unit ("60s", "2m", "1500ms"):
// a bare number would leave the reader guessing seconds or milliseconds.
import * as z from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** "60s" → 60000. Returns null when the text is not a duration with a unit. */
export function durationToMs(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  return Number.isFinite(ms) ? ms : null;
}

/** A zod schema for a duration string; the parsed value is milliseconds. */
export function duration(opts: { min?: string; max?: string } = {}) {
  const minMs = opts.min === undefined ? 0 : (durationToMs(opts.min) ?? 0);
  const maxMs = opts.max === undefined ? Infinity : (durationToMs(opts.max) ?? Infinity);
  return z
    .string()
    .regex(DURATION_RE, 'expected a duration with a unit, e.g. "60s", "2m", "1500ms"')
    .describe('duration with a unit: ms, s, m, h, d (e.g. "60s", "2m")')
    .transform((text, ctx) => {
      const ms = durationToMs(text) ?? Number.NaN;
      if (!(ms >= minMs && ms <= maxMs)) {
        ctx.addIssue({
          code: 'custom',
          message: `duration ${text} out of range (${opts.min ?? '0s'} to ${opts.max ?? 'unbounded'})`,
        });
        return z.NEVER;
      }
      return ms;
    });
}
