// Finds, reads and validates scenario files. Every error comes back at once,
// each with its path and YAML line (`cancel.yaml:7: steps[2].call.codec: ...`),
// cross-checked against the config's accounts and allowed destinations so a
// typo'd extension fails before any packet is sent.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { destinationAllowed } from '../../config/destinations.js';
import { formatPath, type ConfigIssue } from '../../config/errors.js';
import { deepFreeze } from '../../config/freeze.js';
import type { Config } from '../../config/schema.js';
import { MAX_CONFIG_BYTES, readBoundedFile } from '../../config/read-file.js';
import { parseYamlSource } from '../../config/yaml-source.js';
import { issuesFromZod } from '../../config/zod-issues.js';
import { scenarioSchema, type Scenario } from './schema.js';

export class ScenarioError extends Error {
  readonly code = 'E_SCENARIO';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(issues.map((i) => formatScenarioIssue(file, i)).join('\n'));
  }
}

/** `file:line: path: message`, the compiler-style line editors jump to. */
export function formatScenarioIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}`;
  return `${where}: ${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`;
}

export interface LoadedScenario {
  /** Absolute path of the file. */
  file: string;
  scenario: Scenario;
}

/** The accounts, destinations and call cap of the config, cross-checked per step. */
function crossCheck(s: Scenario, config: Pick<Config, 'accounts' | 'allowed_destinations'>): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  const names = Object.keys(config.accounts);
  const known = names.length > 0 ? names.join(', ') : 'none';
  const unknown = (name: string) => `unknown account "${name}" (config accounts: ${known})`;
  if (config.accounts[s.from] === undefined) out.push({ path: ['from'], message: unknown(s.from) });
  const checkDestination = (to: string, path: PropertyKey[]) => {
    if (to.includes(':') || config.accounts[to] !== undefined || destinationAllowed(to, config.allowed_destinations)) return;
    out.push({ path, message: `"${to}" is neither a config account nor in allowed_destinations (toll-fraud guard)` });
  };
  if (s.to !== undefined) checkDestination(s.to, ['to']);
  s.steps.forEach((step, i) => {
    if (step.kind === 'register' && config.accounts[step.account] === undefined) {
      out.push({ path: ['steps', i, 'register', 'account'], message: unknown(step.account) });
    }
    if (step.kind === 'options' && step.account !== undefined && config.accounts[step.account] === undefined) {
      out.push({ path: ['steps', i, 'options', 'account'], message: unknown(step.account) });
    }
    if (step.kind === 'call' && step.to !== undefined) checkDestination(step.to, ['steps', i, 'call', 'to']);
  });
  return out;
}

/**
 * Parses one scenario's text. With a config, also cross-checks accounts and
 * destinations. Throws ScenarioError with every issue.
 */
export function parseScenarioText(text: string, file: string, config?: Pick<Config, 'accounts' | 'allowed_destinations'>): Scenario {
  const source = parseYamlSource(text);
  if (source.issues.length > 0) throw new ScenarioError(file, source.issues);
  const raw = source.value ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ScenarioError(file, [{ path: '', message: 'expected a YAML mapping with name, from and steps', line: 1 }]);
  }
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) throw new ScenarioError(file, sortByLine(issuesFromZod(parsed.error, source)));
  if (config !== undefined) {
    const issues = crossCheck(parsed.data, config);
    if (issues.length > 0) {
      throw new ScenarioError(file, sortByLine(issues.map((i) => ({ path: formatPath(i.path), message: i.message, line: source.lineOf(i.path) }))));
    }
  }
  return deepFreeze(parsed.data);
}

function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/**
 * Where a scenario argument points: an existing file, else `<name>.yaml` /
 * `<name>.yml` in the config's scenarios_dir, else in ./scenarios.
 */
export function resolveScenarioFile(nameOrFile: string, opts: { scenariosDir?: string; cwd?: string } = {}): string | undefined {
  const cwd = opts.cwd ?? process.cwd();
  const direct = isAbsolute(nameOrFile) ? nameOrFile : resolve(cwd, nameOrFile);
  if (existsSync(direct)) return direct;
  if (/[/\\]/.test(nameOrFile)) return undefined;
  const dirs = [opts.scenariosDir, resolve(cwd, 'scenarios')].filter((d): d is string => d !== undefined);
  for (const dir of dirs) {
    for (const ext of ['', '.yaml', '.yml']) {
      const candidate = resolve(dir, `${nameOrFile}${ext}`);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Finds, reads and validates a scenario. Throws ScenarioError. */
export function loadScenario(nameOrFile: string, opts: { config?: Config; cwd?: string } = {}): LoadedScenario {
  const file = resolveScenarioFile(nameOrFile, { ...(opts.config ? { scenariosDir: opts.config.scenarios_dir } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  if (file === undefined) {
    const where = opts.config ? `${opts.config.scenarios_dir} or ./scenarios` : './scenarios';
    throw new ScenarioError(nameOrFile, [{ path: '', message: `no such scenario file, and no ${nameOrFile}.yaml in ${where}` }]);
  }
  const read = readBoundedFile(file, MAX_CONFIG_BYTES);
  if (!read.ok) throw new ScenarioError(file, [{ path: '', message: `${file} ${read.message}` }]);
  return { file, scenario: parseScenarioText(read.text, file, opts.config) };
}

/** Directory that relative paths inside a scenario (audio files) are relative to. */
export function scenarioDir(file: string): string {
  return dirname(file);
}
