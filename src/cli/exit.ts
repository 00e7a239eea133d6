// Exit codes of the CLI contract (docs/design): one place defines them.
export const EXIT = {
  OK: 0,
  /** A probe ran and failed: call failed, threshold crossed. */
  PROBE_FAILED: 1,
  /** Usage or config error. */
  USAGE: 2,
  /** Internal error: a bug or an environment fault we did not expect. */
  INTERNAL: 3,
  /** Interrupted by SIGINT/SIGTERM (128 + 2). */
  INTERRUPTED: 130,
} as const;

/** An error the user can fix (bad flag, bad config): printed without a stack, exit 2. */
export class UsageError extends Error {
  readonly code = 'E_USAGE';
}
