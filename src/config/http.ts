// The agent's HTTP listener settings (`http:`), in the style of Prometheus
// exporter-toolkit's web.config: TLS cert/key files, basic-auth users with
// password hashes, a bearer token. And the exposure rule: a listener beyond
// loopback without authentication is refused unless the config says so.
import * as z from 'zod';
import { duration } from './duration.js';
import type { ConfigIssue } from './errors.js';

/**
 * A password hash in PHC string format, scrypt: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`
 * (base64 without padding; passlib's "." for "+" is accepted too). `probe config hash-password` makes one.
 */
export const SCRYPT_PHC_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/.]{11,})\$([A-Za-z0-9+/.]{22,})$/;

/** Bounds that keep one verification within 64 MiB (passlib's default ln=16,r=8 is exactly that): a config must not be a memory bomb. */
export const SCRYPT_LIMITS = { lnMin: 10, lnMax: 20, rMax: 32, pMax: 16, memory: 64 * 1024 * 1024, maxmem: 65 * 1024 * 1024 } as const;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function b64(text: string): Buffer {
  return Buffer.from(text.replace(/\./g, '+'), 'base64');
}

/** Parses a PHC scrypt string; a message (never echoing the value) when it is not one we accept. */
export function parseScryptHash(text: string): ScryptParams | string {
  const m = SCRYPT_PHC_RE.exec(text.trim());
  if (!m) return 'expected a password hash "$scrypt$ln=15,r=8,p=1$<salt>$<hash>" (make one with `probe config hash-password`)';
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < SCRYPT_LIMITS.lnMin || ln > SCRYPT_LIMITS.lnMax) return `scrypt ln must be ${SCRYPT_LIMITS.lnMin} to ${SCRYPT_LIMITS.lnMax}`;
  if (r < 1 || r > SCRYPT_LIMITS.rMax || p < 1 || p > SCRYPT_LIMITS.pMax) return `scrypt r must be 1 to ${SCRYPT_LIMITS.rMax}, p 1 to ${SCRYPT_LIMITS.pMax}`;
  if (128 * 2 ** ln * r > SCRYPT_LIMITS.memory) return 'scrypt parameters need more than 64 MiB per verification (128·2^ln·r)';
  const salt = b64(m[4] ?? '');
  const hash = b64(m[5] ?? '');
  if (salt.length < 8 || hash.length < 16) return 'scrypt salt must be at least 8 bytes and the hash at least 16';
  return { N: 2 ** ln, r, p, salt, hash };
}

/** `http:` without the secrets (resolved by the caller's secret schema). */
export function httpSchema<S extends z.ZodType<string, string>>(secret: S) {
  return z
    .strictObject({
      /** HTTPS instead of HTTP. Files are re-read when they change (certificate renewal). */
      tls_server_config: z
        .strictObject({
          cert_file: z.string().min(1),
          key_file: z.string().min(1),
        })
        .optional(),
      /** user → password hash (a secret reference works too: "file:metrics-users-prometheus"). */
      basic_auth_users: z
        .record(
          z.string().regex(/^[^:\s]{1,64}$/, 'a user name without ":" or spaces'),
          secret.superRefine((hash, ctx) => {
            const parsed = parseScryptHash(hash);
            if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
          }),
        )
        .optional(),
      /** Accepted as `Authorization: Bearer <token>`. A secret: put it in a file (`file:metrics-token`). */
      bearer_token: secret.optional(),
      /** Listen beyond loopback without authentication: only when this says so. */
      allow_unauthenticated: z.boolean().default(false),
      /** Least time between the end of one on-demand run of a probe (/probe?target=) and the start of the next; 0s: no limit. */
      probe_min_interval: duration({ max: '24h' }).prefault('10s'),
    })
    .prefault({});
}

/** Loopback: 127.0.0.0/8, ::1, localhost. Anything else (0.0.0.0, a LAN address, a host name) is beyond. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** Whether the listener asks for credentials. */
export function httpAuthEnabled(http: { basic_auth_users?: Readonly<Record<string, string>> | undefined; bearer_token?: string | undefined }): boolean {
  return http.bearer_token !== undefined || Object.keys(http.basic_auth_users ?? {}).length > 0;
}

/** The exposure rule (issue 21.9): an issue when `listen` is beyond loopback, without auth, and not explicitly allowed. */
export function exposureIssue(
  listen: string,
  http: { basic_auth_users?: Readonly<Record<string, string>> | undefined; bearer_token?: string | undefined; allow_unauthenticated: boolean },
  path = 'listen.metrics',
): ConfigIssue | undefined {
  const host = /^(\[[^\]]+\]|[^:]+):\d+$/.exec(listen)?.[1] ?? listen;
  if (isLoopbackHost(host) || httpAuthEnabled(http) || http.allow_unauthenticated) return undefined;
  return {
    path,
    message:
      `${listen} is reachable beyond loopback but the HTTP listener has no authentication: anyone could place test calls through /probe. ` +
      'Set http.basic_auth_users or http.bearer_token, listen on 127.0.0.1, or set http.allow_unauthenticated: true',
  };
}

