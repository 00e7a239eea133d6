// Toll-fraud guard: a probe dials a trunk/external number only when it matches
// one of the config's allowed_destinations patterns.

/** Matches a dialled number against "+1555*"-style patterns (`*` any run, `?` one character). */
export function destinationAllowed(number: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => patternToRegExp(pattern).test(number));
}

function patternToRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\#]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}
