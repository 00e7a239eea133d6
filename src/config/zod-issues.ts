// Turns zod issues into `path: message` issues with YAML line numbers.
import type * as z from 'zod';
import { formatPath, type ConfigIssue } from './errors.js';
import type { YamlSource } from './yaml-source.js';

export function issuesFromZod(error: z.ZodError, source: Pick<YamlSource, 'lineOf'> | null): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      // One line per key, each with its own path: "pbx.trasport: unknown key".
      for (const key of issue.keys) {
        out.push({ path: formatPath([...path, key]), message: 'unknown key', line: source?.lineOf(path, key) });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'required';
    out.push({ path: formatPath(path), message, line: source?.lineOf(path) });
  }
  return out;
}
