// Where an account's requests go and as whom: its password's env var when no config
// names it, and its next hop / AOR domain (a trunk registers at its carrier's registrar).

/** The password env var for an extension: 1001 → CALLPROBE_1001_PASSWORD. */
export function passwordEnvName(ext: string): string {
  return `CALLPROBE_${ext.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}_PASSWORD`;
}

/** The topology keys of a config account. */
export interface AccountTopology {
  domain?: string | undefined;
  registrar?: string | undefined;
}

/** Where one account's UA sends its requests, and its AOR domain (undefined: the UA uses the server's host). */
export interface AccountEndpoint {
  server: string;
  /** Undefined: from the server URI (`;transport=`, sips: → tls, else udp). */
  transport?: 'udp' | 'tcp' | 'tls';
  domain?: string;
}

/**
 * The next hop and AOR domain of an account. Precedence of the next hop: the probe's own
 * `server` (CLI --server, probe definition, scenario file), then the account's `registrar`,
 * then the config's pbx. The AOR domain: the account's `domain`, else its registrar's host
 * (so an outbound proxy in front of a carrier does not change the AOR).
 */
export function accountEndpoint(
  account: AccountTopology | undefined,
  explicit: { server?: string | undefined; transport?: 'udp' | 'tcp' | 'tls' | undefined },
  pbx: { uri: string; transport?: 'udp' | 'tcp' | 'tls' },
): AccountEndpoint {
  const domain = account?.domain ?? (account?.registrar !== undefined ? uriHost(account.registrar) : undefined);
  const withDomain = <T extends object>(e: T): T & { domain?: string } => (domain !== undefined ? { ...e, domain } : e);
  if (explicit.server !== undefined) {
    return withDomain({ server: explicit.server, ...(explicit.transport !== undefined ? { transport: explicit.transport } : {}) });
  }
  if (account?.registrar !== undefined) {
    return withDomain({ server: account.registrar, ...(explicit.transport !== undefined ? { transport: explicit.transport } : {}) });
  }
  const transport = explicit.transport ?? pbx.transport;
  return withDomain({ server: pbx.uri, ...(transport !== undefined ? { transport } : {}) });
}

/** The host of "sip:user@host:port;params" (brackets kept off an IPv6 literal). */
function uriHost(uri: string): string | undefined {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;?]+)/i.exec(uri);
  return m?.[1]?.replace(/^\[|\]$/g, '');
}
