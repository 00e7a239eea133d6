// Dialled-number helpers shared by the destination rules.

/** Strips a SIP URI down to its user part and removes visual separators. */
export function dialledDigits(raw: string): string {
  let s = raw.trim();
  const m = /^(?:sips?|tel):([^@;>]*)/i.exec(s);
  if (m) s = m[1] ?? '';
  return s.replace(/[\s\-().]/g, '');
}

/**
 * "+E.164" form when the number is international: "+…" stays, "00…"/"011…"
 * (the configured international dial-out prefixes) become "+…". Returns null
 * for national / extension numbers.
 */
export function toInternational(raw: string, internationalPrefixes: readonly string[]): string | null {
  const d = dialledDigits(raw);
  if (/^\+\d+$/.test(d)) return d;
  // Longest prefix first so "011" wins over a configured "0".
  for (const p of [...internationalPrefixes].sort((a, b) => b.length - a.length)) {
    if (p.length > 0 && d.startsWith(p) && /^\d+$/.test(d) && d.length > p.length) return `+${d.slice(p.length)}`;
  }
  return null;
}

/** True when an international number leaves the home country (empty home code: all do). */
export function isInternational(e164: string | null, homeCountryCode: string): boolean {
  if (e164 === null) return false;
  return homeCountryCode === '' || !e164.startsWith(homeCountryCode);
}

/** The first configured prefix that matches a "+…" number, or null. */
export function matchPrefix(e164: string | null, prefixes: readonly string[]): string | null {
  if (e164 === null) return null;
  let best: string | null = null;
  for (const p of prefixes) {
    const norm = p.startsWith('+') ? p : `+${p}`;
    if (e164.startsWith(norm) && (best === null || norm.length > best.length)) best = norm;
  }
  return best;
}
