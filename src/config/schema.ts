// The config's shape, once: zod schemas are the single source; the TypeScript
// type and docs/config.schema.json are derived from them. Objects are strict,
// so a typo'd key is an error with its path instead of a silently ignored line.
import * as z from 'zod';
import { THRESHOLD_DEFAULTS } from './threshold-defaults.js';
import { duration } from './duration.js';
import { exposureIssue, httpSchema } from './http.js';
import type { SecretEnvironment } from './secrets.js';
import { resolveSecret } from './secrets.js';

const SIP_URI_RE = /^sips?:(?:[^@\s;?]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?(?:;[^\s?]*)?$/;
const HOST_PORT_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

function portInRange(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/** sip:/sips: URI with a host (user part optional), e.g. "sip:127.0.0.1:5060;transport=udp". */
export const sipUri = z
  .string()
  .refine((s) => {
    const m = SIP_URI_RE.exec(s);
    return m !== null && portInRange(m[1]);
  }, 'expected a SIP URI like "sip:pbx.example.com:5060" or "sips:127.0.0.1:5061"')
  // sip:user:password@host (RFC 3261 §19.1.1, NOT RECOMMENDED): the password would travel in clear
  // in every request. The message never repeats the value (zod issues do not carry it).
  .refine((s) => !/^sips?:[^@]*:[^@]*@/i.test(s), 'a password inside a SIP URI is not allowed: put it in accounts.<name>.password')
  .describe('SIP URI, e.g. "sip:127.0.0.1:5060;transport=udp"');

/** "host:port", e.g. "127.0.0.1:9464" or "[::1]:9464"; port 0 picks a free port (tests). */
export const hostPort = z.string().refine((s) => {
  const m = HOST_PORT_RE.exec(s);
  return m !== null && (m[1] === '0' || portInRange(m[1]));
}, 'expected "host:port", e.g. "127.0.0.1:9464"').describe('"host:port"');

export const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL');

/** Dial patterns: digits, "+", "#", "?" (one character), "*" (any run); "\\*", "\\?" and "\\#" are the characters themselves. */
export const destinationPattern = z
  .string()
  .regex(/^\+?(?:[A-Za-z0-9#?*._-]|\\[*?#])+$/, 'expected a dial pattern like "+1555*", "9*" or "\\*97" (digits, letters, + . _ - #, ? and *; \\* a literal star)')
  .describe('dial pattern: "*" any run of characters, "?" one character, "\\*" a literal "*" (feature codes like "\\*97")');

/** A number to dial: an extension, a number ("+15550100"), a feature code or short number ("*97", "#21"). */
export const dialNumber = z
  .string()
  .regex(/^\+?[A-Za-z0-9_.*#-]+$/, 'expected an extension, number or feature code like "1001", "+15550100" or "*97"');

/** A host name or IP address (no port), e.g. an account's AOR domain "carrier.example". */
export const hostName = z
  .string()
  .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)$/, 'expected a host name or IP address like "carrier.example"');

/** An IPv4 or IPv6 address (no host names: it goes into Via, Contact and SDP as is). */
export const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: 'expected an IP address like "203.0.113.7"' });

/** A DSCP value (RFC 2474: 6 bits); 0 sends unmarked. */
const dscpMark = z.number().int().min(0).max(63);
/** A UDP port number. */
const udpPort = z.number().int().min(1).max(65535);
export const codecName = z.enum(['PCMU', 'PCMA', 'G722', 'opus']);
export const transport = z.enum(['udp', 'tcp', 'tls']);
export const severity = z.enum(['info', 'warning', 'critical']);

/**
 * A secret: literal, `env:NAME` or `file:/path` (or a name in $CREDENTIALS_DIRECTORY).
 * Resolved while parsing so every missing secret is reported with its path,
 * together with every other error.
 */
function secret(where: SecretEnvironment | null) {
  return z
    .string()
    .min(1, 'empty secret')
    .describe('secret: a literal, "env:NAME" or "file:/path" (relative: in $CREDENTIALS_DIRECTORY)')
    .transform((ref, ctx) => {
      if (where === null) return ref;
      const r = resolveSecret(ref, where);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.message });
        return z.NEVER;
      }
      return r.value;
    });
}

export const thresholdsSchema = z.strictObject({
  mos_min: z.number().min(1).max(5).default(THRESHOLD_DEFAULTS.mos_min),
  loss_max_percent: z.number().min(0).max(100).default(THRESHOLD_DEFAULTS.loss_max_percent),
  pdd_max_ms: z.number().positive().default(THRESHOLD_DEFAULTS.pdd_max_ms),
  jitter_max_ms: z.number().positive().optional(),
  cert_warn_days: z.number().nonnegative().default(THRESHOLD_DEFAULTS.cert_warn_days),
  cert_crit_days: z.number().nonnegative().default(THRESHOLD_DEFAULTS.cert_crit_days),
  asr_min_percent: z.number().min(0).max(100).default(THRESHOLD_DEFAULTS.asr_min_percent),
});

const count = z.number().int().min(1);

/**
 * Fraud detector settings. The four keys of the design have defaults here; the
 * others are optional and, when absent, keep src/analytics' own defaults
 * (resolveFraudConfig spreads this object over DEFAULT_FRAUD_CONFIG).
 */
export const fraudSchema = z.strictObject({
  auth_fail_limit: count.default(10),
  auth_fail_window: duration({ min: '1s' }).prefault('60s'),
  max_call_duration: duration({ min: '1s' }).prefault('3600s'),
  /** Empty: the built-in list; ["-"] disables it. */
  high_risk_prefixes: z.array(z.string().regex(/^(?:\+?[0-9]+|-)$/, 'expected a number prefix like "+882"')).default([]),
  stuffing_user_limit: count.optional(),
  stuffing_window: duration({ min: '1s' }).optional(),
  enumeration_user_limit: count.optional(),
  enumeration_window: duration({ min: '1s' }).optional(),
  scanner_user_agents: z.array(z.string().min(1)).optional(),
  scanner_repeat: duration({ min: '1s' }).optional(),
  international_prefixes: z.array(z.string().regex(/^[0-9]+$/, 'expected digits like "00"')).optional(),
  home_country_code: z.string().regex(/^(?:\+[0-9]{1,4})?$/, 'expected "+<country code>" like "+1"').optional(),
  max_calls_per_minute: count.optional(),
  max_concurrent_calls: count.optional(),
  off_hours: z
    .strictObject({
      start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected "HH:MM"'),
      end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected "HH:MM"'),
      timezone: z.string().refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'unknown IANA time zone'),
      weekend_days: z.array(z.number().int().min(0).max(6)).default([]),
    })
    .nullable()
    .optional(),
  wangiri_call_limit: count.optional(),
  wangiri_window: duration({ min: '1s' }).optional(),
  wangiri_max_ring: duration({ min: '100ms' }).optional(),
  wangiri_prefix_digits: z.number().int().min(1).max(15).optional(),
  asr_collapse_ratio: z.number().gt(0).lt(1).optional(),
  asr_collapse_window: duration({ min: '1s' }).optional(),
  asr_collapse_min_calls: count.optional(),
  max_tracked_keys: count.optional(),
  /**
   * Where every detection is appended as a fail2ban line (docs/fraud.md). Absent:
   * /var/log/callprobe/fraud.log under systemd ($LOGS_DIRECTORY or $INVOCATION_ID
   * set), off elsewhere; false: off everywhere. Relative: next to the config file.
   */
  fail2ban_log: z
    .union([z.string().min(1), z.literal(false)])
    .optional()
    .describe('fail2ban log file; default /var/log/callprobe/fraud.log under systemd, off elsewhere; false: off'),
});

/**
 * Builds the schema. `secrets` resolves secret references during parsing;
 * null keeps them as written (JSON Schema generation, documentation).
 */
export function buildConfigSchema(secrets: SecretEnvironment | null) {
  return z
    .strictObject({
      pbx: z.strictObject({
        uri: sipUri,
        transport: transport.default('udp'),
      }),
      accounts: z
        .record(
          z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'account names are SIP user parts (letters, digits, _ . + -)'),
          z.strictObject({
            password: secret(secrets),
            auth_user: z.string().min(1).optional(),
            display: z.string().optional(),
            /** AOR domain (From/To, REGISTER Request-URI); default: the registrar's host, else the server's. */
            domain: hostName.optional(),
            /** Where this account registers (a trunk at a carrier): its next hop unless a probe names a `server`. */
            registrar: sipUri.optional(),
          }),
        )
        .default({}),
      rtp: z
        .strictObject({
          port_min: z.number().int().min(1024).max(65534).default(16000),
          port_max: z.number().int().min(1025).max(65535).default(16999),
          codecs: z.array(codecName).min(1).default(['PCMU', 'PCMA']),
          /** A receive direction silent this long during a call's media phase fails it (one_way_audio / rtp_timeout). */
          media_timeout: duration({ min: '100ms', max: '60s' }).prefault('2s'),
          /** Behind a NAT: the public address written into our SDP (c= and o=); RTP ports stay the local ones. */
          external_ip: ipAddress.optional(),
          /**
           * The port range of a media relay on this host (rtpengine: 10000-20000 unless configured):
           * `probe config check` warns when port_min..port_max overlaps it. Absent: no relay here.
           */
          relay: z
            .strictObject({
              port_min: udpPort.default(10000),
              port_max: udpPort.default(20000),
            })
            .refine((r) => r.port_max >= r.port_min, { message: 'port_max must not be below port_min', path: ['port_max'] })
            .optional(),
        })
        .refine((r) => r.port_max - r.port_min >= 3, {
          message: 'port_max must be at least port_min + 3 (one RTP/RTCP pair per call leg)',
          path: ['port_max'],
        })
        .prefault({}),
      sip: z
        .strictObject({
          /** Behind a NAT: the public address written into Via (sent-by) and Contact; ports stay the local ones. */
          external_ip: ipAddress.optional(),
        })
        .prefault({}),
      /** DSCP marks (0-63, RFC 2474) set on the probe's sockets; 0 sends unmarked. */
      qos: z
        .strictObject({
          /** EF (46) by default: voice (RFC 4594). */
          rtp_dscp: dscpMark.default(46),
          /** CS3 (24) by default: signaling (RFC 4594). */
          sip_dscp: dscpMark.default(24),
        })
        .prefault({}),
      allowed_destinations: z.array(destinationPattern).default([]),
      probes_dir: z.string().min(1).default('/etc/callprobe/probes'),
      scenarios_dir: z.string().min(1).default('/etc/callprobe/scenarios'),
      listen: z.strictObject({ metrics: hostPort.default('127.0.0.1:9464') }).prefault({}),
      /** The HTTP listener: TLS, authentication, /probe rate limit (docs/operations.md "Securing the endpoints"). */
      http: httpSchema(secret(secrets)),
      webhooks: z
        .array(
          z.strictObject({
            /** A list sends every alert to each URL independently (an Alertmanager HA pair: give each member). */
            url: z.union([httpUrl, z.array(httpUrl).min(1)]),
            format: z.enum(['slack', 'json', 'alertmanager', 'alertmanager_webhook']).default('json'),
            secret: secret(secrets).optional(),
            min_severity: severity.default('warning'),
          }),
        )
        .default([]),
      alerts: z
        .strictObject({
          /** Consecutive failed runs before an alert fires. */
          for: z.number().int().min(1).default(2),
          repeat_interval: duration({ min: '1s' }).prefault('4h'),
          /** Consecutive ok runs before a firing alert resolves (flap damping). */
          resolve_after: z.number().int().min(1).default(1),
        })
        .prefault({}),
      thresholds: thresholdsSchema.prefault({}),
      fraud: fraudSchema.prefault({}),
      /** KPIs of the PBX's real calls (from `sources:`): labels, and ASR alerts through the webhooks. */
      kpi: z
        .strictObject({
          /** Alert (asr_min) when a route's ASR over the last hour is below this; absent: no floor. */
          asr_min_percent: z.number().min(0).max(100).optional(),
          /** Alert (asr_drop) when a route's ASR over the last hour fell more than this many points below the hour before. */
          asr_drop_points: z.number().gt(0).max(100).default(20),
          /** Routes with fewer seizures in an hour (either hour, for asr_drop) are not judged. */
          min_seizures: count.default(20),
          /** Route labels kept as they are; every other route is counted as "other" (bounded label values). */
          routes: z
            .array(
              z
                .string()
                .regex(/^[A-Za-z0-9_.:+-]{1,64}$/, 'route labels: letters, digits, _ . : + - (at most 64)')
                .refine((r) => r !== 'other', '"other" is where unnamed routes go'),
            )
            .max(100)
            .default([]),
          /** HEP: the SIP header of the INVITE that names its route (e.g. X-Route, added by Kamailio's append_hf). */
          route_header: z
            .string()
            .regex(/^[A-Za-z0-9-]+$/, 'a SIP header name')
            .optional(),
          /** How often the ASR alerts are judged. */
          interval: duration({ min: '1s' }).prefault('60s'),
        })
        .prefault({}),
      sources: z
        .strictObject({
          hep: hostPort.optional(),
          /** HEP3 authentication key (chunk 0x000e, Kamailio siptrace `auth_key`): packets without it are dropped and counted. */
          hep_auth_key: secret(secrets).optional(),
          cdr: z.string().min(1).optional(),
          security_log: z
            .strictObject({
              path: z.string().min(1),
              pattern: z
                .string()
                .refine((p) => {
                  try {
                    new RegExp(p);
                    return true;
                  } catch {
                    return false;
                  }
                }, 'not a valid regular expression')
                .optional(),
            })
            .optional(),
        })
        .prefault({}),
      state_dir: z.string().min(1).default('/var/lib/callprobe'),
      /** Pcaps of probe runs kept under state_dir/evidence and linked from alerts (docs/evidence.md). */
      evidence: z
        .strictObject({
          pcap: z.enum(['on_failure', 'always', 'off']).default('on_failure'),
          /** Files kept per probe, newest first. */
          keep: z.number().int().min(1).max(100_000).default(50),
          /** `headers` keeps only RTP headers (tshark's stream analysis still works); `full` keeps the audio. */
          rtp: z.enum(['full', 'headers']).default('headers'),
          /** Bound on all evidence files together, bytes; oldest deleted first. */
          max_bytes: z.number().int().min(1_000_000).default(200_000_000),
          /** Base of the links in alerts (default http://<listen.metrics>). */
          url: httpUrl.optional(),
        })
        .prefault({}),
      /** Upper bound for any single test call placed by a probe. */
      max_call_duration: duration({ min: '1s', max: '24h' }).prefault('120s'),
    })
    .superRefine((cfg, ctx) => {
      const exposed = exposureIssue(cfg.listen.metrics, cfg.http);
      if (exposed !== undefined) ctx.addIssue({ code: 'custom', path: ['listen', 'metrics'], message: exposed.message });
      if (cfg.thresholds.cert_crit_days > cfg.thresholds.cert_warn_days) {
        ctx.addIssue({
          code: 'custom',
          path: ['thresholds', 'cert_crit_days'],
          message: 'cert_crit_days must not exceed cert_warn_days',
        });
      }
    });
}

type ConfigSchema = ReturnType<typeof buildConfigSchema>;
/** The validated config: durations in milliseconds, secrets resolved, paths absolute. Deep-frozen. */
export type Config = z.output<ConfigSchema>;
/** What a user writes (YAML). */
export type ConfigInput = z.input<ConfigSchema>;
export type Thresholds = z.output<typeof thresholdsSchema>;
