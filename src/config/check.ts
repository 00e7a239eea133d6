// The logic behind `probe config check`: load everything, collect every error.
import { existsSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from './errors.js';
import { loadConfig } from './load.js';
import { continuousProbeFiles, loadProbeFiles } from './probes.js';
import type { Config } from './schema.js';


export interface CheckResult {
  ok: boolean;
  file: string;
  /** Number of valid probe definitions checked. */
  probes: number;
  errors: ConfigIssue[];
}

export function checkConfig(opts: { file?: string; probeFiles?: string[]; env?: Record<string, string | undefined> }): CheckResult {
  let config: Config | undefined;
  let file = opts.file ?? '';
  const errors: ConfigIssue[] = [];
  const collect = (err: unknown) => {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(...err.issues.map((issue) => ({ ...issue, file: issue.file ?? err.file })));
  };
  try {
    const loaded = loadConfig({ file: opts.file, env: opts.env });
    file = loaded.file;
    config = loaded.config;
  } catch (err) {
    collect(err);
  }
  let probes = 0;
  let probeFiles = opts.probeFiles;
  if (probeFiles === undefined && config !== undefined && existsSync(config.probes_dir)) {
    probeFiles = continuousProbeFiles(config.probes_dir);
  }
  if (probeFiles !== undefined && probeFiles.length > 0) {
    try {
      probes = loadProbeFiles(probeFiles, config).length;
    } catch (err) {
      collect(err);
    }
  }
  return { ok: errors.length === 0, file, probes, errors };
}
