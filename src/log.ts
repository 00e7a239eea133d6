// The one logger factory. Logs go to stderr so that `--json` keeps stdout clean.
// Secrets are redacted by path wherever they might appear.
//
// pino takes ~40 ms to load on the 2-core VMs, most of a one-shot command's
// start-up budget (`probe options`: node -e 0 + 60 ms), and a one-shot run at
// the default level usually logs nothing. So the logger is pino's shape but
// loads pino (CommonJS, so synchronously) on the first record that passes the
// level, or on any use other than the level methods and child().
import { createRequire } from 'node:module';
import type { Logger, LoggerOptions, pino as PinoFn } from 'pino';

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

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVEL_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

function loadPino(level: string): Logger {
  const { pino } = createRequire(import.meta.url)('pino') as { pino: typeof PinoFn };
  const options: LoggerOptions = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'callprobe' } };
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

/** A Logger that becomes `materialize()` the first time it has to do anything. */
function lazyLogger(level: string, materialize: () => Logger): Logger {
  const threshold = LEVELS[level];
  if (threshold === undefined) return materialize(); // pino reports an unknown level itself
  let real: Logger | undefined;
  const get = (): Logger => (real ??= materialize());
  return new Proxy({} as Logger, {
    get(_target, key) {
      if (real) return member(real, key);
      if (key === 'level') return level;
      if (key === 'isLevelEnabled') return (l: string) => (LEVELS[l] ?? Infinity) >= threshold;
      if (typeof key === 'string' && LEVEL_METHODS.has(key)) {
        if ((LEVELS[key] ?? 0) < threshold) return noop;
        return (...args: unknown[]) => (get()[key as 'info'] as (...a: unknown[]) => void)(...args);
      }
      if (key === 'child') {
        return (bindings: Record<string, unknown>, options?: Record<string, unknown>) =>
          lazyLogger(typeof options?.level === 'string' ? options.level : level, () => get().child(bindings, options));
      }
      return member(get(), key);
    },
    set(_target, key, value) {
      return Reflect.set(get(), key, value);
    },
  });
}

const noop = (): void => undefined;

/**
 * A property of the real logger, methods bound to it. Unbound, `proxy.child()`
 * runs pino's child() with `this` = the proxy: the child is created on top of
 * the proxy and every binding it sets goes through the proxy's set trap onto
 * the parent, so the root logger collected every probe's fields (issue 21.3).
 */
function member(real: Logger, key: PropertyKey): unknown {
  const value = Reflect.get(real, key) as unknown;
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
}

export function createLogger(level: string = process.env.CALLPROBE_LOG_LEVEL ?? 'warn'): Logger {
  return lazyLogger(level, () => loadPino(level));
}
