// Probe definitions (probes/*.yaml): what to probe, how often, with which
// thresholds. Validated like the config (strict, every error at once, with
// file, path and line), then cross-checked against the config's accounts and
// allowed destinations so a typo'd extension fails at load, not at 3 a.m.
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as z from 'zod';
import { duration } from './duration.js';
import { destinationAllowed } from './destinations.js';
import { ConfigError, formatPath, type ConfigIssue } from './errors.js';
import { deepFreeze } from './freeze.js';
import { codecName, dialNumber, sipUri, transport, type Config } from './schema.js';
import { MAX_CONFIG_BYTES, readBoundedFile } from './read-file.js';
import { parseYamlSource } from './yaml-source.js';
import { issuesFromZod } from './zod-issues.js';
import { signallingOf, SRTP_MODES, srtpSignallingError } from './srtp-keys.js';

export const PROBE_KINDS = ['options', 'register', 'call', 'cert', 'scenario'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/** Per-probe overrides of the config's thresholds; absent keys fall back to the config. */
export const probeThresholdsSchema = z.strictObject({
  mos_min: z.number().min(1).max(5).optional(),
  loss_max_percent: z.number().min(0).max(100).optional(),
  pdd_max_ms: z.number().positive().optional(),
  jitter_max_ms: z.number().positive().optional(),
  cert_warn_days: z.number().nonnegative().optional(),
  cert_crit_days: z.number().nonnegative().optional(),
});
export type ProbeThresholds = z.output<typeof probeThresholdsSchema>;

// Label names become Prometheus-compatible keys in alerts; values are free text.
const labelsSchema = z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names: letters, digits, _'), z.string());

const common = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'probe names: lower-case letters, digits, "_", "-", "." (max 63)'),
  interval: duration({ min: '1s', max: '24h' }).prefault('60s'),
  /** Default: 10s; calls: duration + 20s; scenarios: max_call_duration + 20s. */
  timeout: duration({ min: '100ms', max: '24h' }).optional(),
  thresholds: probeThresholdsSchema.prefault({}),
  labels: labelsSchema.default({}),
};

/** TLS client settings for sips:/TLS targets. */
const tlsSchema = z.strictObject({
  /** Accept self-signed / unverifiable certificates (labs; the cert kind watches expiry separately). */
  insecure: z.boolean().default(false),
  /** SNI and the name the certificate must match, when the target is an IP address. */
  servername: z.string().min(1).optional(),
});

/** Media security of a call probe (call/srtp.ts). */
const callMediaSchema = z.strictObject({
  /** SDES-SRTP (RFC 4568): off, optional (RTP/AVP offer with a=crypto) or required (RTP/SAVP). */
  srtp: z.enum(SRTP_MODES).default('off'),
  /** Send SDES keys over plain UDP/TCP signalling too (they are readable by anyone on the path). */
  allow_insecure_keys: z.boolean().default(false),
});

const extension = z.string().regex(/^\+?[A-Za-z0-9_.-]+$/, 'expected an extension or number like "1001" or "+15550100"');

/**
 * The probe's next hop (outbound proxy, or the PBX behind the proxy reached directly):
 * wins over the account's registrar and the config's pbx.uri.
 */
const nextHop = {
  server: sipUri.optional(),
  transport: transport.optional(),
};

export const probeDefinitionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...common,
    kind: z.literal('options'),
    /** Default: the config's pbx.uri. */
    target: sipUri.optional(),
    transport: transport.optional(),
    tls: tlsSchema.optional(),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('register'),
    account: extension,
    ...nextHop,
    /** Binding lifetime asked for, seconds: short, so the probe's binding lapses soon after it stops. */
    expires: z.number().int().min(1).max(86_400).default(60),
    tls: tlsSchema.optional(),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('call'),
    from: extension,
    /** An account, a number, or a feature code / short number ("*97", "#21": quote them in YAML). */
    to: dialNumber,
    ...nextHop,
    duration: duration({ min: '1s', max: '1h' }).prefault('10s'),
    /** CANCEL when no final answer came this long after the INVITE (any provisional counts as ringing). */
    ring_timeout: duration({ min: '100ms', max: '5m' }).prefault('30s'),
    codec: codecName.optional(),
    tls: tlsSchema.optional(),
    media: callMediaSchema.prefault({}),
    /** Audio content checks from the decoded audio (docs/quality.md). */
    audio: z
      .strictObject({
        /** Decode what each end hears and send the marked signal; false: nothing is decoded. */
        analysis: z.boolean().default(true),
        /** Active speech level below which a direction is audio_silent (default -45 dBov). */
        level_min_dbov: z.number().min(-90).max(0).optional(),
        /**
         * The far end reflects our audio on purpose (an echo test number, `probe answer --echo`):
         * our own markers coming back are what we should hear, not media looped back (--expect-echo).
         */
        expect_echo: z.boolean().default(false),
      })
      .prefault({}),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('cert'),
    /** sips:host:port, https://host[:port], host:port or a PEM file path. */
    targets: z.array(z.string().min(1)).min(1),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('scenario'),
    /** Scenario file, relative to the config's scenarios_dir. */
    file: z.string().min(1),
    /** SDES-SRTP of the scenario's call (and of its own answering side), as for a call probe. */
    media: callMediaSchema.prefault({}),
    /** Wins over the scenario file's own `server`. */
    ...nextHop,
  }),
]);

export const probeFileSchema = z.strictObject({
  probes: z.array(probeDefinitionSchema).min(1, 'a probe file lists at least one probe'),
});

export type ProbeDefinition = z.output<typeof probeDefinitionSchema> & {
  /** The file this probe was defined in (absolute). */
  source: string;
};
export type ProbeDefinitionOf<K extends ProbeKind> = Extract<ProbeDefinition, { kind: K }>;

const DEFAULT_TIMEOUT_MS = 10_000;
const CALL_TIMEOUT_SLACK_MS = 20_000;

/** The timeout the runner enforces for one run of this probe. */
export function effectiveTimeoutMs(def: ProbeDefinition, config?: Pick<Config, 'max_call_duration'>): number {
  if (def.timeout !== undefined) return def.timeout;
  if (def.kind === 'call') {
    const t = def.duration + CALL_TIMEOUT_SLACK_MS;
    return config === undefined ? t : Math.min(t, config.max_call_duration + CALL_TIMEOUT_SLACK_MS);
  }
  // A scenario's length depends on its steps: allow up to the longest call.
  if (def.kind === 'scenario') return (config?.max_call_duration ?? 120_000) + CALL_TIMEOUT_SLACK_MS;
  return DEFAULT_TIMEOUT_MS;
}

/** Probe names are metric labels and /probe targets: unique across all loaded files. */
function duplicateNames(defs: readonly ProbeDefinition[], seen: Map<string, string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  defs.forEach((def, i) => {
    const prior = seen.get(def.name);
    if (prior !== undefined) {
      issues.push({ path: formatPath(['probes', i, 'name']), message: `duplicate probe name "${def.name}" (also in ${prior})` });
    }
    seen.set(def.name, basename(def.source));
  });
  return issues;
}

/** Cross-checks against the config: known accounts, allowed destinations, call length. */
function crossCheck(defs: readonly ProbeDefinition[], config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const accounts = Object.keys(config.accounts);
  const known = accounts.length > 0 ? accounts.join(', ') : 'none';
  defs.forEach((def, i) => {
    const at = (...rest: PropertyKey[]) => formatPath(['probes', i, ...rest]);
    if (def.kind === 'register' && config.accounts[def.account] === undefined) {
      issues.push({ path: at('account'), message: `unknown account "${def.account}" (config accounts: ${known})` });
    }
    if (def.kind === 'call') {
      if (config.accounts[def.from] === undefined) {
        issues.push({ path: at('from'), message: `unknown account "${def.from}" (config accounts: ${known})` });
      }
      if (config.accounts[def.to] === undefined && !destinationAllowed(def.to, config.allowed_destinations)) {
        issues.push({
          path: at('to'),
          message: `"${def.to}" is neither a config account nor in allowed_destinations (toll-fraud guard)`,
        });
      }
      if (def.duration > config.max_call_duration) {
        issues.push({ path: at('duration'), message: 'longer than the config\'s max_call_duration' });
      }
      const sig = signallingOf(def.transport, def.server, config.pbx);
      const keys = srtpSignallingError(def.media.srtp, sig.transport, sig.target, def.media.allow_insecure_keys);
      if (keys !== undefined) issues.push({ path: at('media', 'srtp'), message: keys });
    }
  });
  return issues;
}

/**
 * Parses one probe file's text. With a config, also cross-checks accounts and
 * destinations. Throws ConfigError with every issue.
 */
export function parseProbeFileText(
  text: string,
  file: string,
  config?: Config,
  seen: Map<string, string> = new Map(),
): ProbeDefinition[] {
  const source = parseYamlSource(text);
  if (source.issues.length > 0) throw new ConfigError(file, source.issues);
  const parsed = probeFileSchema.safeParse(source.value ?? {});
  if (!parsed.success) throw new ConfigError(file, issuesFromZod(parsed.error, source));
  const defs: ProbeDefinition[] = parsed.data.probes.map((p) => ({ ...p, source: file }));
  const issues = [...duplicateNames(defs, seen), ...(config === undefined ? [] : crossCheck(defs, config))];
  if (issues.length > 0) {
    throw new ConfigError(file, issues.map((issue) => ({ ...issue, line: source.lineOf(pathKeys(issue.path)) })));
  }
  return deepFreeze(defs);
}

/** "probes[2].account" → ["probes", 2, "account"] (for line lookup). */
function pathKeys(path: string): PropertyKey[] {
  const keys: PropertyKey[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) keys.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''));
  return keys;
}

/** Loads probe files; every file's errors are collected before throwing one ConfigError. */
export function loadProbeFiles(files: readonly string[], config?: Config): ProbeDefinition[] {
  const seen = new Map<string, string>();
  const defs: ProbeDefinition[] = [];
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    const abs = resolve(file);
    const read = readBoundedFile(abs, MAX_CONFIG_BYTES);
    if (!read.ok) {
      issues.push({ file: abs, path: '', message: `${abs} ${read.message}` });
      continue;
    }
    try {
      defs.push(...parseProbeFileText(read.text, abs, config, seen));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues.map((issue) => ({ ...issue, file: abs })));
    }
  }
  if (issues.length > 0) throw new ConfigError(files.length === 1 ? resolve(files[0] ?? '') : 'probe files', issues);
  return defs;
}

/**
 * The agent's continuous probes: every `*.yaml`/`*.yml` in probes_dir except
 * `smoke*.yaml`, which are suites for `probe smoke`.
 */
export function continuousProbeFiles(probesDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(probesDir);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ConfigError(probesDir, [
      { path: 'probes_dir', message: `cannot list ${probesDir} (${typeof code === 'string' ? code : 'error'})` },
    ]);
  }
  return names
    .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('smoke'))
    .sort()
    .map((n) => join(probesDir, n));
}
