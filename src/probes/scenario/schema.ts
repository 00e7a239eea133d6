// The scenario file's shape (scenarios/*.yaml), once, in zod. A step is a map
// with exactly one key, the step's kind; its value holds the step's options.
// Objects are strict, so a typo'd key is an error with its path
// ("steps[2].call.codc: unknown key") instead of a silently ignored line.
import * as z from 'zod';
import { duration as durationText } from '../../config/duration.js';
import { codecName, dialNumber, sipUri, transport } from '../../config/schema.js';

/** An extension, number or feature code ("1002", "+15550100", "*97") or a SIP URI. */
const destination = z.union([dialNumber, sipUri], {
  error: 'expected an extension, number or feature code like "1002", "+15550100" or "*97", or a SIP URI',
});

const account = z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'expected an account name from the config, like "1001"');

const leg = z.enum(['caller', 'callee']);

const status = z.number().int().min(100).max(699);

const dtmfDigits = z.string().regex(/^[0-9*#A-D]+$/, 'DTMF digits are 0-9, *, #, A-D');

/** A duration with a unit; a bare number gets a hint instead of zod's type message. */
function duration(opts: { min?: string; max?: string } = {}) {
  return z.preprocess((v, ctx) => {
    if (typeof v === 'number') {
      ctx.addIssue({ code: 'custom', message: `expected a duration with a unit, e.g. "${v}s" or "${v}ms" (a bare number is ambiguous)` });
      return z.NEVER;
    }
    return v;
  }, durationText(opts));
}

const codecs = z.union([codecName, z.array(codecName).min(1)], { error: 'expected PCMU, PCMA, G722 or opus, or an offer order like [opus, G722, PCMU]' });

/** `- hold:` with nothing after it is the same as `- hold: {}`. */
function optionsOf<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null || v === undefined ? {} : v), schema);
}

export const STEP_SCHEMAS = {
  /** REGISTER an account; when it is not the caller, the agent answers calls to it. */
  register: z.strictObject({
    account,
    expires: duration({ min: '1s', max: '1h' }).prefault('60s'),
    /** How the agent answers INVITEs to this account: at once, or ring until CANCEL. */
    answer: z.enum(['auto', 'never']).default('auto'),
  }),
  /** INVITE; the step ends once the call rings (180/183) or gets its final answer. */
  call: z.strictObject({
    to: destination.optional(),
    /** One codec or an offer order; default: the config's rtp.codecs. */
    codec: codecs.optional(),
    /** CANCEL and fail when nothing final arrives within this time. */
    ring_timeout: duration({ min: '1s', max: '5m' }).prefault('30s'),
    /** 8 kHz mono 16-bit WAV, relative to the scenario file. */
    audio: z.string().min(1).optional(),
  }),
  /** Waits for the call's final answer and checks it. */
  expect: optionsOf(
    z.strictObject({
      status: status.default(200),
      /** Post-dial delay: INVITE → first 180/183 (or the answer when none came). */
      max_pdd: duration({ min: '1ms', max: '5m' }).optional(),
      /** INVITE → final answer. */
      max_setup: duration({ min: '1ms', max: '5m' }).optional(),
    }),
  ),
  wait: duration({ min: '1ms', max: '1h' }).transform((ms) => ({ ms })),
  /** re-INVITE a=sendonly; the far end must answer recvonly/inactive and stop sending RTP. */
  hold: optionsOf(z.strictObject({ check_rtp: z.boolean().default(true) })),
  /** re-INVITE a=sendrecv; RTP must flow again. */
  resume: optionsOf(z.strictObject({ check_rtp: z.boolean().default(true) })),
  /** RFC 4733 telephone-events on one leg's RTP. */
  send_dtmf: z.strictObject({
    digits: dtmfDigits,
    duration: duration({ min: '20ms', max: '5s' }).prefault('100ms'),
    pause: duration({ min: '0ms', max: '5s' }).prefault('100ms'),
    leg: leg.default('caller'),
  }),
  /** The digits must arrive on this leg (the callee's, when the agent answered) in order. */
  expect_dtmf: z.strictObject({
    digits: dtmfDigits,
    timeout: duration({ min: '100ms', max: '1m' }).prefault('3s'),
    leg: leg.default('callee'),
  }),
  /** Waits this long, sends CANCEL, expects 487 Request Terminated. */
  cancel_after: duration({ min: '0ms', max: '5m' }).transform((ms) => ({ ms })),
  /** Hangs up: stops media, measures it, BYE must get 200. */
  bye: optionsOf(z.strictObject({ by: leg.default('caller') })),
  /** Writes what a leg heard for `seconds` from now as a WAV file (relative to the scenario), for a human. */
  record: z.strictObject({
    file: z.string().min(1),
    seconds: z.number().positive().max(600),
    leg: leg.default('caller'),
  }),
  /** A reference recording (8/16 kHz mono WAV) must be heard on the leg, starting within `within`; fingerprint match. */
  expect_prompt: z.strictObject({
    file: z.string().min(1),
    within: duration({ min: '0ms', max: '5m' }).prefault('5s'),
    min_similarity: z.number().min(0).max(1).default(0.8),
    leg: leg.default('caller'),
  }),
  /** Our own audio must come back within `max_delay` (a far end that echoes, `probe answer --echo`): reports the round trip. */
  expect_echo: optionsOf(
    z.strictObject({
      seconds: z.number().min(0.5).max(30).default(2),
      max_delay: duration({ min: '1ms', max: '10s' }).prefault('1s'),
      min_similarity: z.number().min(0).max(1).default(0.8),
    }),
  ),
  /** Out-of-dialog OPTIONS ping. */
  options: optionsOf(
    z.strictObject({
      uri: sipUri.optional(),
      /** Whose UA sends it; default: the scenario's `from`. */
      account: account.optional(),
      status: status.default(200),
    }),
  ),
} as const;

export type StepKind = keyof typeof STEP_SCHEMAS;
export const STEP_KINDS = Object.keys(STEP_SCHEMAS) as StepKind[];

export type StepOf<K extends StepKind> = { kind: K } & z.output<(typeof STEP_SCHEMAS)[K]>;
export type Step = { [K in StepKind]: StepOf<K> }[StepKind];

/** Steps that act on the call, so a `call` step must come first. */
const NEEDS_CALL: ReadonlySet<StepKind> = new Set(['expect', 'hold', 'resume', 'send_dtmf', 'expect_dtmf', 'cancel_after', 'bye', 'record', 'expect_prompt', 'expect_echo']);

/** Levenshtein distance, for "did you mean" on a typo'd step kind. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(key: string): string {
  const best = STEP_KINDS.map((k) => ({ k, d: distance(key, k) })).sort((x, y) => x.d - y.d)[0];
  return best !== undefined && best.d <= 2 ? ` (did you mean "${best.k}"?)` : '';
}

/** One step: `{ <kind>: <options> }`, validated by its kind's schema, errors under `<kind>.`. */
const stepSchema = z.unknown().transform((raw, ctx): Step => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.keys(raw).length !== 1) {
    ctx.addIssue({ code: 'custom', message: `a step is a map with one key, the step kind: ${STEP_KINDS.join(', ')}` });
    return z.NEVER;
  }
  const [key, value] = Object.entries(raw)[0] as [string, unknown];
  if (!(STEP_KINDS as string[]).includes(key)) {
    ctx.addIssue({ code: 'custom', path: [key], message: `unknown step "${key}"${suggestion(key)}; steps: ${STEP_KINDS.join(', ')}` });
    return z.NEVER;
  }
  const kind = key as StepKind;
  const parsed = (STEP_SCHEMAS[kind] as z.ZodType).safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [kind, ...issue.path] } as never);
    return z.NEVER;
  }
  return { kind, ...(parsed.data as object) } as Step;
});

export const scenarioThresholdsSchema = z.strictObject({
  mos_min: z.number().min(1).max(5).optional(),
  loss_max_percent: z.number().min(0).max(100).optional(),
  pdd_max_ms: z.number().positive().optional(),
  jitter_max_ms: z.number().positive().optional(),
});
export type ScenarioThresholds = z.output<typeof scenarioThresholdsSchema>;

export const scenarioSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'scenario names: lower-case letters, digits, "_", "-", "." (max 63)'),
    description: z.string().optional(),
    /** Caller account (credentials from the config). */
    from: account,
    /** Default destination of the `call` step. */
    to: destination.optional(),
    /** Registrar/proxy; default: the config's pbx.uri. */
    server: sipUri.optional(),
    transport: transport.optional(),
    /** Limit for steps without a time of their own. */
    step_timeout: duration({ min: '100ms', max: '10m' }).prefault('10s'),
    steps: z.array(stepSchema).min(1, 'a scenario has at least one step'),
    thresholds: scenarioThresholdsSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    let calls = 0;
    s.steps.forEach((step, i) => {
      if (step.kind === 'call') {
        calls++;
        if (calls > 1) ctx.addIssue({ code: 'custom', path: ['steps', i, 'call'], message: 'one call per scenario (split the flow into two scenarios)' });
        if (step.to === undefined && s.to === undefined) {
          ctx.addIssue({ code: 'custom', path: ['steps', i, 'call', 'to'], message: 'required (or set the scenario\'s top-level "to")' });
        }
      } else if (NEEDS_CALL.has(step.kind) && calls === 0) {
        ctx.addIssue({ code: 'custom', path: ['steps', i, step.kind], message: `"${step.kind}" acts on the call: put a "call" step before it` });
      }
    });
  });

export type Scenario = z.output<typeof scenarioSchema>;

/** Where the call of a scenario goes: its call step's `to`, else the top-level one. */
export function callDestination(s: Scenario): string | undefined {
  const call = s.steps.find((st): st is StepOf<'call'> => st.kind === 'call');
  return call ? (call.to ?? s.to) : undefined;
}

/** A short label for a step in tables and failure checks: `call 1002`, `wait 2s`. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'register':
      return `register ${step.account}`;
    case 'call':
      return `call ${step.to ?? ''}`.trim();
    case 'expect':
      return `expect ${step.status}`;
    case 'wait':
      return `wait ${formatMs(step.ms)}`;
    case 'cancel_after':
      return `cancel_after ${formatMs(step.ms)}`;
    case 'send_dtmf':
      return `send_dtmf ${step.digits}`;
    case 'expect_dtmf':
      return `expect_dtmf ${step.digits}`;
    case 'bye':
      return step.by === 'callee' ? 'bye (callee)' : 'bye';
    case 'options':
      return `options${step.uri ? ` ${step.uri}` : ''}`;
    case 'record':
      return `record ${step.file}`;
    case 'expect_prompt':
      return `expect_prompt ${step.file}`;
    default:
      return step.kind;
  }
}

export function formatMs(ms: number): string {
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)}s`;
  return `${ms}ms`;
}
