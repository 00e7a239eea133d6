// Config errors are values with a path, printed as `path: message`, all at once.

export interface ConfigIssue {
  /** Dotted path into the document ("accounts.1001.password", "webhooks[0].url"); "" for the whole file. */
  path: string;
  message: string;
  /** 1-based line in the source file, when known. */
  line?: number;
  /** Source file, when errors from several files are reported together. */
  file?: string;
}

export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}\n${formatIssues(issues)}`);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path === '' ? '(root)' : issue.path;
  const file = issue.file === undefined ? '' : `${issue.file}: `;
  return `${file}${where}: ${issue.message}${issue.line === undefined ? '' : ` (line ${issue.line})`}`;
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}
