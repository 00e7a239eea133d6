// Finds, reads, validates and freezes the config. Every error comes back at
// once, each as `path: message (line N)`, inside one ConfigError.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { deepFreeze } from './freeze.js';
import { MAX_CONFIG_BYTES, readBoundedFile } from './read-file.js';
import { buildConfigSchema, type Config } from './schema.js';
import { parseYamlSource } from './yaml-source.js';
import { issuesFromZod } from './zod-issues.js';

export const DEFAULT_CONFIG_PATHS = ['./callprobe.yaml', '/etc/callprobe/callprobe.yaml'] as const;

export interface LoadOptions {
  /** Explicit file (--config); otherwise $CALLPROBE_CONFIG, ./callprobe.yaml, /etc/callprobe/callprobe.yaml. */
  file?: string;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

export interface LoadedConfig {
  /** Absolute path of the file the config came from. */
  file: string;
  config: Config;
}

/** The config file to use, by the design's search order. Throws ConfigError when none exists. */
export function findConfigFile(opts: LoadOptions = {}): string {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.file !== undefined) return resolve(cwd, opts.file);
  const fromEnv = env.CALLPROBE_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  for (const candidate of DEFAULT_CONFIG_PATHS) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  throw new ConfigError('callprobe.yaml', [
    {
      path: '',
      message: `no config file: pass --config, set $CALLPROBE_CONFIG, or create ${DEFAULT_CONFIG_PATHS.join(' or ')}`,
    },
  ]);
}

/** Validates config text. `file` names the source in errors and anchors relative paths. */
export function parseConfigText(text: string, file: string, env: LoadOptions['env'] = process.env): Config {
  const source = parseYamlSource(text);
  if (source.issues.length > 0) throw new ConfigError(file, source.issues);
  const raw = source.value ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'expected a YAML mapping at the top level' }]);
  }
  const baseDir = dirname(file);
  const schema = buildConfigSchema({ env, baseDir });
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(file, issuesFromZod(parsed.error, source));
  const config = parsed.data;
  // Relative paths mean "next to the config file", not "wherever the agent was started".
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  config.probes_dir = abs(config.probes_dir);
  config.scenarios_dir = abs(config.scenarios_dir);
  config.state_dir = abs(config.state_dir);
  if (config.sources.cdr !== undefined) config.sources.cdr = abs(config.sources.cdr);
  if (config.sources.security_log !== undefined) config.sources.security_log.path = abs(config.sources.security_log.path);
  const tls = config.http.tls_server_config;
  if (tls !== undefined) {
    tls.cert_file = abs(tls.cert_file);
    tls.key_file = abs(tls.key_file);
  }
  if (typeof config.fraud.fail2ban_log === 'string') config.fraud.fail2ban_log = abs(config.fraud.fail2ban_log);
  return deepFreeze(config);
}

/** Finds and loads the config. Throws ConfigError (every issue at once). */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const file = findConfigFile(opts);
  const read = readBoundedFile(file, MAX_CONFIG_BYTES);
  if (!read.ok) throw new ConfigError(file, [{ path: '', message: `${file} ${read.message}` }]);
  return { file, config: parseConfigText(read.text, file, opts.env ?? process.env) };
}
