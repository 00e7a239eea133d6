import { describe, expect, it } from 'vitest';
import { DnsError, resolveSipTarget, type Resolver } from '../../../src/sip/dns.js';
import { parseUri } from '../../../src/sip/uri.js';

function uri(text: string) {
  const u = parseUri(text);
  if (!u) throw new Error(text);
  return u;
}

function fakeResolver(records: {
  naptr?: Record<string, Awaited<ReturnType<Resolver['resolveNaptr']>>>;
  srv?: Record<string, Awaited<ReturnType<Resolver['resolveSrv']>>>;
  a?: Record<string, string[]>;
}): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const miss = (name: string): Promise<never> => Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
  return {
    calls,
    resolveNaptr: (n) => (calls.push(`NAPTR ${n}`), records.naptr?.[n] ? Promise.resolve(records.naptr[n]) : miss(n)),
    resolveSrv: (n) => (calls.push(`SRV ${n}`), records.srv?.[n] ? Promise.resolve(records.srv[n]) : miss(n)),
    resolve4: (n) => (calls.push(`A ${n}`), records.a?.[n] ? Promise.resolve(records.a[n]) : miss(n)),
    resolve6: (n) => (calls.push(`AAAA ${n}`), miss(n)),
  };
}

describe('RFC 3263 resolution', () => {
  it('IP literals skip DNS', async () => {
    const r = fakeResolver({});
    const out = await resolveSipTarget(uri('sip:127.0.0.1:5070'), 'tcp', r);
    expect(out).toEqual({ targets: [{ transport: 'tcp', host: '127.0.0.1', port: 5070 }], dnsMs: 0 });
    expect(r.calls).toEqual([]);
    expect((await resolveSipTarget(uri('sips:[::1]'), undefined, r)).targets[0]).toEqual({ transport: 'tls', host: '::1', port: 5061 });
  });

  it('NAPTR → SRV → A, in NAPTR order', async () => {
    const r = fakeResolver({
      naptr: {
        'pbx.example': [
          { flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.pbx.example', order: 20, preference: 0 },
          { flags: 's', service: 'SIPS+D2T', regexp: '', replacement: '_sips._tcp.pbx.example', order: 10, preference: 0 },
        ],
      },
      srv: {
        '_sips._tcp.pbx.example': [
          { name: 'b.pbx.example', port: 5071, priority: 20, weight: 0 },
          { name: 'a.pbx.example', port: 5061, priority: 10, weight: 0 },
        ],
      },
      a: { 'a.pbx.example': ['192.0.2.1'], 'b.pbx.example': ['192.0.2.2'] },
    });
    const out = await resolveSipTarget(uri('sip:pbx.example'), undefined, r);
    expect(out.targets).toEqual([
      { transport: 'tls', host: '192.0.2.1', port: 5061, servername: 'pbx.example' },
      { transport: 'tls', host: '192.0.2.2', port: 5071, servername: 'pbx.example' },
    ]);
    expect(r.calls[0]).toBe('NAPTR pbx.example');
    expect(out.dnsMs).toBeGreaterThanOrEqual(0);
  });

  it('a chosen transport skips NAPTR and queries its SRV; no SRV falls back to A with the default port', async () => {
    const r = fakeResolver({ a: { 'pbx.example': ['192.0.2.9'] } });
    const out = await resolveSipTarget(uri('sip:pbx.example;transport=tcp'), undefined, r);
    expect(r.calls).toContain('SRV _sip._tcp.pbx.example');
    expect(r.calls.some((c) => c.startsWith('NAPTR'))).toBe(false);
    expect(out.targets).toEqual([{ transport: 'tcp', host: '192.0.2.9', port: 5060, servername: 'pbx.example' }]);
  });

  it('an explicit port means A/AAAA only; unresolvable names are a DnsError', async () => {
    const r = fakeResolver({ a: { 'pbx.example': ['192.0.2.9'] } });
    expect((await resolveSipTarget(uri('sip:pbx.example:5080'), 'udp', r)).targets).toEqual([{ transport: 'udp', host: '192.0.2.9', port: 5080, servername: 'pbx.example' }]);
    expect(r.calls.some((c) => c.startsWith('SRV'))).toBe(false);
    await expect(resolveSipTarget(uri('sip:nowhere.example:5060'), 'udp', r)).rejects.toBeInstanceOf(DnsError);
  });
});
