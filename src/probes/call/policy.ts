// Which numbers a test call may dial. A probe must never become a toll-fraud
// vector: anything that is not an extension we hold credentials for is dialled
// only when it matches an `allowed_destinations` pattern.
import { destinationAllowed } from '../../config/destinations.js';

export type Destination =
  | { kind: 'extension'; number: string }
  | { kind: 'external'; number: string; pattern: string }
  | { kind: 'refused'; number: string; reason: string };

/**
 * Classifies a destination: one of our own extensions (we answer it ourselves),
 * an allowed external number (trunk), or refused before any packet is sent.
 */
export function classifyDestination(number: string, ownExtensions: readonly string[], allowed: readonly string[]): Destination {
  if (ownExtensions.includes(number)) return { kind: 'extension', number };
  const pattern = allowed.find((p) => destinationAllowed(number, [p]));
  if (pattern !== undefined) return { kind: 'external', number, pattern };
  const hint = allowed.length === 0 ? 'allowed_destinations is empty' : `allowed_destinations: ${allowed.join(', ')}`;
  return {
    kind: 'refused',
    number,
    reason: `${number} is not an extension with credentials and matches no allowed destination (${hint})`,
  };
}
