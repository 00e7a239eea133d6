// Toll-fraud guard: a probe dials a trunk/external number only when it matches
// one of the config's allowed_destinations patterns.

/**
 * Matches a dialled number against "+1555*"-style patterns: `*` any run, `?` one character,
 * `\*`, `\?` and `\#` the character itself (feature codes: "\*97" allows exactly "*97").
 */
export function destinationAllowed(number: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => patternToRegExp(pattern).test(number));
}

function patternToRegExp(pattern: string): RegExp {
  let body = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) body += literal(pattern[++i] as string);
    else if (ch === '*') body += '.*';
    else if (ch === '?') body += '.';
    else body += literal(ch);
  }
  return new RegExp(`^${body}$`);
}

function literal(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\#]/g, '\\$&');
}

/**
 * A pattern that starts with an unescaped `*` followed only by digits ("*97") matches every
 * number ending in those digits ("+88297" too), which is rarely what was meant: the feature
 * code is "\*97". config check warns about these.
 */
export function looksLikeUnescapedFeatureCode(pattern: string): boolean {
  return /^\*[0-9#]+$/.test(pattern);
}
