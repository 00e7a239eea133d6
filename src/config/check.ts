// The logic behind `probe config check`: load everything, collect every error,
// including what `probe agent` would refuse at start (probe files, state_dir).
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, type ConfigIssue } from './errors.js';
import { isLoopbackHost } from './http.js';
import { loadConfig } from './load.js';
import { continuousProbeFiles, loadProbeFiles } from './probes.js';
import type { Config } from './schema.js';
import { readTlsMaterial } from './tls-files.js';
import { looksLikeUnescapedFeatureCode } from './destinations.js';

export interface CheckResult {
  ok: boolean;
  file: string;
  /** Number of valid probe definitions checked. */
  probes: number;
  errors: ConfigIssue[];
  /** Valid but probably not meant (ok stays true): an RTP range inside the relay's, a "*97" pattern, HEP open without a key. */
  warnings: ConfigIssue[];
}

/** What a valid config probably did not mean. */
export function configWarnings(config: Config): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const { port_min: min, port_max: max, relay } = config.rtp;
  if (relay !== undefined && min <= relay.port_max && relay.port_min <= max) {
    out.push({
      path: 'rtp.port_min',
      message:
        `the probe's RTP ports ${min}-${max} overlap the media relay's ${relay.port_min}-${relay.port_max} (rtp.relay) on this host: ` +
        'a call can fail when the relay holds a port the probe wants (or the other way round); move one range',
    });
  }
  config.allowed_destinations.forEach((pattern, i) => {
    if (looksLikeUnescapedFeatureCode(pattern)) {
      out.push({
        path: `allowed_destinations[${i}]`,
        message: `"${pattern}" allows every number ending in ${pattern.slice(1)} ("*" is a wildcard); for the feature code write "\\${pattern}"`,
      });
    }
  });
  // A HEP listener beyond loopback without a key takes SIP and RTCP reports (so fraud
  // detections and KPIs) from anyone who reaches it (issue 14: sources.hep_auth_key).
  const hep = config.sources.hep;
  const hepHost = hep === undefined ? undefined : (/^(\[[^\]]+\]|[^:]+):\d+$/.exec(hep)?.[1] ?? hep);
  if (hepHost !== undefined && !isLoopbackHost(hepHost) && config.sources.hep_auth_key === undefined) {
    out.push({
      path: 'sources.hep',
      message:
        `HEP listens on ${hep}, beyond loopback, without sources.hep_auth_key: anyone who reaches it can feed fraud detection and KPIs ` +
        "(set the same key in Kamailio siptrace's auth_key or heplify's -hk)",
    });
  }
  return out;
}

/** state_dir must be a directory, or creatable: its nearest existing ancestor a directory. */
function stateDirIssue(dir: string): ConfigIssue | undefined {
  for (let p = dir; ; p = dirname(p)) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(p) !== p) continue;
      return undefined; // EACCES and the like: the agent may run as another user (systemd StateDirectory=)
    }
    if (isDir) return undefined;
    return { path: 'state_dir', message: p === dir ? `${dir} is not a directory` : `${dir} cannot be created: ${p} is not a directory` };
  }
}

/**
 * What the agent needs beyond a valid config: a usable state_dir and, unless
 * probe files are named (--probes), at least one probe file in probes_dir.
 * `probe agent` and `probe config check` both ask here, so the check accepts
 * exactly what the agent accepts.
 */
export function agentStartIssues(config: Config, probeFiles?: readonly string[]): { files: string[]; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const stateDir = stateDirIssue(config.state_dir);
  if (stateDir !== undefined) issues.push(stateDir);
  const tls = config.http.tls_server_config;
  const material = tls === undefined ? undefined : readTlsMaterial(tls);
  if (Array.isArray(material)) issues.push(...material);
  if (probeFiles !== undefined) return { files: [...probeFiles], issues };
  if (!existsSync(config.probes_dir)) {
    issues.push({ path: 'probes_dir', message: `${config.probes_dir} does not exist (the agent runs the probe files in it)` });
    return { files: [], issues };
  }
  let files: string[] = [];
  try {
    files = continuousProbeFiles(config.probes_dir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  if (files.length === 0 && issues.every((i) => i.path !== 'probes_dir')) {
    issues.push({ path: 'probes_dir', message: `no probe files (*.yaml other than smoke*.yaml) in ${config.probes_dir}` });
  }
  return { files, issues };
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
  const warnings = config !== undefined ? configWarnings(config).map((w) => ({ ...w, file })) : [];
  if (config !== undefined) {
    const start = agentStartIssues(config, probeFiles);
    errors.push(...start.issues.map((issue) => ({ ...issue, file })));
    probeFiles = start.files;
  }
  if (probeFiles !== undefined && probeFiles.length > 0) {
    try {
      probes = loadProbeFiles(probeFiles, config).length;
    } catch (err) {
      collect(err);
    }
  }
  return { ok: errors.length === 0, file, probes, errors, warnings };
}
