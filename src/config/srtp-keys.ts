// media.srtp modes and the rule that SDES keys (RFC 4568: they travel in the
// SDP, readable by anyone who reads the signalling) only go over TLS unless the
// operator explicitly allows otherwise. Pure; shared by config check, the call
// probe's spec and the CLI.

export const SRTP_MODES = ['off', 'optional', 'required'] as const;
export type SrtpMode = (typeof SRTP_MODES)[number];

/**
 * Keys only over TLS signalling: a message when `mode` would put SDES keys on
 * a plain UDP/TCP hop and the operator did not allow it, else undefined.
 */
export function srtpSignallingError(mode: SrtpMode, transport: string, target: string, allowInsecureKeys: boolean): string | undefined {
  if (mode === 'off' || allowInsecureKeys) return undefined;
  // the UA speaks TLS for transport tls and for any sips: target (sip/ua.ts)
  if (transport === 'tls' || /^sips:/i.test(target)) return undefined;
  return (
    `srtp ${mode}: SDES keys would be sent in clear over ${transport.toUpperCase()} signalling to ${target}; ` +
    'use TLS (transport tls / sips:) or allow it explicitly (--allow-insecure-keys, media.allow_insecure_keys: true)'
  );
}

/**
 * Where and how a call's signalling goes: an explicit transport wins; a server
 * named for the call brings its own (its `;transport=`, else udp; sips: is TLS
 * anyway); else the config's pbx.uri with pbx.transport.
 */
export function signallingOf(
  explicitTransport: string | undefined,
  namedServer: string | undefined,
  pbx: { uri: string; transport: string },
): { target: string; transport: string } {
  if (namedServer === undefined) return { target: pbx.uri, transport: explicitTransport ?? pbx.transport };
  const own = /;transport=(udp|tcp|tls)\b/i.exec(namedServer)?.[1]?.toLowerCase();
  return { target: namedServer, transport: explicitTransport ?? own ?? 'udp' };
}
