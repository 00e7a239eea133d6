// The one logger factory. Logs go to stderr so that `--json` keeps stdout clean.
// Secrets are redacted by path wherever they might appear.
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'secret',
  '*.secret',
  '*.*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["proxy-authorization"]',
];

export type { Logger };

export function createLogger(level: string = process.env.CALLPROBE_LOG_LEVEL ?? 'warn'): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'callprobe' } },
    pino.destination({ dest: 2, sync: true }),
  );
}
