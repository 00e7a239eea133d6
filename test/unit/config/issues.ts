import { ConfigError, formatIssues } from '../../../src/config/errors.js';

/** The formatted issue lines of the ConfigError `fn` throws (fails if it throws nothing or something else). */
export function configIssuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return formatIssues(err.issues).split('\n');
    throw err;
  }
  throw new Error('expected a ConfigError');
}
