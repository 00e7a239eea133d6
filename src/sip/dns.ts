// RFC 3263 server location: NAPTR → SRV → A/AAAA, with its own timing.
// IP literals skip DNS (0 ms). The resolver is injectable for tests.
import { promises as dnsPromises } from 'node:dns';
import { performance } from 'node:perf_hooks';
import { ipFamily, type Destination, type TransportProto } from './transport.js';
import type { SipUri } from './uri.js';

export interface Resolver {
  resolveNaptr(name: string): Promise<Array<{ flags: string; service: string; regexp: string; replacement: string; order: number; preference: number }>>;
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /** getaddrinfo fallback (/etc/hosts: "localhost", lab names). */
  lookup?(name: string, opts: { all: true }): Promise<Array<{ address: string }>>;
}

export interface ResolvedTargets {
  /** Destinations in the order to try (RFC 3263 §4.3). */
  targets: Destination[];
  dnsMs: number;
}

export class DnsError extends Error {
  readonly code = 'EDNS';
}

const NAPTR_SERVICE: Record<string, TransportProto> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Record<TransportProto, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };

function defaultPort(t: TransportProto): number {
  return t === 'tls' ? 5061 : 5060;
}

/**
 * RFC 3263 §4: picks transport, port and addresses for `uri`.
 * `preferred` is the transport asked for by configuration when the URI has none.
 */
export async function resolveSipTarget(uri: SipUri, preferred?: TransportProto, resolver: Resolver = dnsPromises): Promise<ResolvedTargets> {
  const t0 = performance.now();
  const uriTransport = typeof uri.params.transport === 'string' ? (uri.params.transport.toLowerCase() as TransportProto) : undefined;
  const transport: TransportProto | undefined = uri.scheme === 'sips' ? 'tls' : uriTransport ?? preferred;
  if (transport && !['udp', 'tcp', 'tls'].includes(transport)) throw new DnsError(`unsupported transport ${transport}`);
  const host = typeof uri.params.maddr === 'string' ? uri.params.maddr : uri.host;

  // §4.1/§4.2: numeric IP, or explicit port → A/AAAA only.
  if (ipFamily(host)) {
    const t = transport ?? 'udp';
    return { targets: [{ transport: t, host, port: uri.port ?? defaultPort(t) }], dnsMs: 0 };
  }
  const servername = host;
  if (uri.port !== undefined) {
    const t = transport ?? 'udp';
    const addrs = await addresses(host, resolver);
    return { targets: addrs.map((a) => ({ transport: t, host: a, port: uri.port ?? defaultPort(t), servername })), dnsMs: performance.now() - t0 };
  }

  // §4.1 NAPTR when no transport was chosen.
  const srvNames: Array<{ name: string; transport: TransportProto }> = [];
  if (!transport) {
    const naptr = await resolver.resolveNaptr(host).catch(() => []);
    const usable = naptr
      .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICE[r.service.toUpperCase()])
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    for (const r of usable) {
      const t = NAPTR_SERVICE[r.service.toUpperCase()];
      if (t) srvNames.push({ name: r.replacement, transport: t });
    }
  }
  if (srvNames.length === 0) {
    for (const t of transport ? [transport] : (['udp', 'tcp', 'tls'] as TransportProto[])) srvNames.push({ name: SRV_PREFIX[t] + host, transport: t });
  }

  // §4.2 SRV, ordered by priority then weight (weighted random is not needed for a probe: deterministic order).
  const targets: Destination[] = [];
  for (const s of srvNames) {
    const srv = await resolver.resolveSrv(s.name).catch(() => []);
    if (srv.length === 0) continue;
    srv.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    for (const r of srv) {
      for (const a of await addresses(r.name, resolver).catch(() => [])) targets.push({ transport: s.transport, host: a, port: r.port, servername });
    }
    if (targets.length > 0) break;
  }
  if (targets.length === 0) {
    // §4.2: no SRV → A/AAAA on the host with the default port.
    const t = transport ?? 'udp';
    for (const a of await addresses(host, resolver)) targets.push({ transport: t, host: a, port: defaultPort(t), servername });
  }
  return { targets, dnsMs: performance.now() - t0 };
}

async function addresses(host: string, resolver: Resolver): Promise<string[]> {
  const [v4, v6] = await Promise.all([resolver.resolve4(host).catch(() => [] as string[]), resolver.resolve6(host).catch(() => [] as string[])]);
  const all = [...v4, ...v6];
  if (all.length === 0 && resolver.lookup) {
    const found = await resolver.lookup(host, { all: true }).catch(() => []);
    all.push(...found.map((f) => f.address));
  }
  if (all.length === 0) throw new DnsError(`cannot resolve ${host} (no A/AAAA records)`);
  return all;
}
