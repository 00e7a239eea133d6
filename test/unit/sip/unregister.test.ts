// unregister removes only our own binding(s) (RFC 3261 §10.2.2), found again by
// the instance id from another process / port; { all: true } is Contact: *.
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register as registerRegisterCommand, renderRemoval } from '../../../src/cli/register.js';
import { createLogger } from '../../../src/log.js';
import { probeInstanceId, probeRegister } from '../../../src/probes/register.js';
import { isOurBinding, UserAgent, type UserAgentOptions } from '../../../src/sip/ua.js';
import { startBindingRegistrar, type BindingRegistrarOptions } from './binding-registrar.js';

const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const PHONE = 'sip:1001@127.0.0.9:5060';
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function ua(opts: Partial<UserAgentOptions> & { server: string }): Promise<UserAgent> {
  const u = await UserAgent.create({ user: '1001', timeoutMs: 2000, ...opts });
  cleanups.push(() => u.close());
  return u;
}

/** A registrar where a "phone" (another device) already holds a binding of 1001. */
async function registrarWithPhone(opts: BindingRegistrarOptions = {}) {
  const reg = await startBindingRegistrar(opts);
  cleanups.push(() => reg.close());
  reg.bind('1001', { uri: PHONE, expires: 3600, instance: '<urn:uuid:11111111-2222-4333-8444-555555555555>' });
  return { reg, server: `sip:127.0.0.1:${reg.port}` };
}

const uris = (reg: { bindings: Map<string, Array<{ uri: string }>> }): string[] => (reg.bindings.get('1001') ?? []).map((b) => b.uri);

describe('UserAgent.unregister with an instance id', () => {
  for (const [name, opts] of [
    ['a registrar matching +sip.instance (Kamailio-like)', { instanceMatching: true }],
    ['a registrar matching URIs only, not echoing +sip.instance', { instanceMatching: false, echoInstance: false }],
  ] as const) {
    it(`${name}: a new process removes the binding an earlier one made from another port; the phone stays`, async () => {
      const { reg, server } = await registrarWithPhone(opts);
      const first = await ua({ server, instanceId: ID });
      const r = await first.register({ expires: 120 });
      expect(r.ok).toBe(true);
      const ourUri = `sip:1001@127.0.0.1:${first.localPort};callprobe=${ID}`;
      expect(r.contact).toBe(`<${ourUri}>`);
      expect(reg.requests.at(-1)?.headers.get('contact')).toBe(`<${ourUri}>;+sip.instance="<urn:uuid:${ID}>";expires=120`);
      expect(uris(reg)).toEqual([PHONE, ourUri]);
      first.close();

      const second = await ua({ server, instanceId: ID });
      expect(second.localPort).not.toBe(first.localPort);
      reg.requests.length = 0;
      const u = await second.unregister();
      expect(u).toMatchObject({ ok: true, status: 200, expires: 0, removed: [ourUri], kept: 1, attempts: 2 });
      expect(uris(reg)).toEqual([PHONE]);
      // query (no Contact), then our listed URI with expires=0: never a wildcard
      expect(reg.requests.map((q) => q.headers.get('contact') ?? null)).toEqual([null, `<${ourUri}>;expires=0`]);
      expect(reg.requests.map((q) => q.cseq.seq)).toEqual([1, 2]);
    });
  }

  it('re-registering from a new port replaces our binding on an instance-matching registrar (no stale pile-up)', async () => {
    const { reg, server } = await registrarWithPhone({ instanceMatching: true });
    for (let i = 0; i < 3; i++) {
      const u = await ua({ server, instanceId: ID });
      expect((await u.register()).ok).toBe(true);
      u.close();
    }
    expect(uris(reg)).toHaveLength(2);
    expect(uris(reg)[0]).toBe(PHONE);
  });

  it('nothing of ours registered: only the query is sent, nothing removed, success', async () => {
    const { reg, server } = await registrarWithPhone();
    const u = await ua({ server, instanceId: ID });
    const out = await u.unregister();
    expect(out).toMatchObject({ ok: true, removed: [], kept: 1, attempts: 1 });
    expect(reg.requests).toHaveLength(1);
    expect(reg.requests[0]?.headers.has('contact')).toBe(false);
    expect(uris(reg)).toEqual([PHONE]);
  });

  it('a registrar that keeps our binding after expires=0 is a failure (EBINDING)', async () => {
    const { reg, server } = await registrarWithPhone({ ignoreRemoval: true });
    const u = await ua({ server, instanceId: ID });
    await u.register();
    const out = await u.unregister();
    expect(out.ok).toBe(false);
    expect(out.failure).toMatchObject({ code: 'EBINDING', phase: 'request' });
    expect(out.failure?.message).toContain(`callprobe=${ID}`);
    expect(uris(reg)).toHaveLength(2);
  });

  it('{ all: true } sends Contact: * with Expires: 0 and removes every binding, the phone too', async () => {
    const { reg, server } = await registrarWithPhone();
    const u = await ua({ server, instanceId: ID });
    await u.register();
    const out = await u.unregister({ all: true });
    expect(out).toMatchObject({ ok: true, contact: '*' });
    expect(reg.requests.at(-1)?.headers.get('contact')).toBe('*');
    expect(reg.requests.at(-1)?.headers.get('expires')).toBe('0');
    expect(uris(reg)).toEqual([]);
  });

  it('without an instance id: our current Contact with expires=0, as before', async () => {
    const { reg, server } = await registrarWithPhone();
    const u = await ua({ server });
    const r = await u.register();
    expect(r.contact).toBe(`<sip:1001@127.0.0.1:${u.localPort}>`);
    expect(reg.requests.at(-1)?.headers.get('contact')).toBe(`${r.contact};expires=300`);
    const out = await u.unregister();
    expect(out.ok).toBe(true);
    expect(reg.requests.at(-1)?.headers.get('contact')).toBe(`${r.contact};expires=0`);
    expect(uris(reg)).toEqual([PHONE]);
  });
});

describe('isOurBinding', () => {
  it('matches the callprobe URI parameter or the +sip.instance URN, case-insensitively, and nothing else', () => {
    expect(isOurBinding({ uri: 'x', callprobeId: ID.toUpperCase() }, ID)).toBe(true);
    expect(isOurBinding({ uri: 'x', instance: `<urn:uuid:${ID.toUpperCase()}>` }, ID)).toBe(true);
    expect(isOurBinding({ uri: 'x', instance: `urn:uuid:${ID}` }, ID)).toBe(true);
    expect(isOurBinding({ uri: 'x', instance: '<urn:uuid:11111111-2222-4333-8444-555555555555>' }, ID)).toBe(false);
    expect(isOurBinding({ uri: `sip:1001@h;callprobe=${ID}` }, ID)).toBe(false); // only the parsed parameter counts
    expect(isOurBinding({ uri: 'x' }, ID)).toBe(false);
  });
});

describe('probeInstanceId', () => {
  it('is a stable RFC 4122 version-5 UUID of extension, domain and host', () => {
    const a = probeInstanceId('1001', 'pbx.example', 'probe-host');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(probeInstanceId('1001', 'PBX.example', 'Probe-Host')).toBe(a);
    const others = [probeInstanceId('1002', 'pbx.example', 'probe-host'), probeInstanceId('1001', 'other.example', 'probe-host'), probeInstanceId('1001', 'pbx.example', 'host-2')];
    expect(new Set([a, ...others]).size).toBe(4);
  });
});

describe('probeRegister --unregister / --unregister-all', () => {
  const ctx = () => ({ logger: createLogger('silent'), signal: new AbortController().signal });

  it('unregister removes the binding a previous run registered and reports what it kept', async () => {
    const { reg, server } = await registrarWithPhone({ instanceMatching: true });
    const r = await probeRegister(ctx(), { server, user: '1001', timeoutMs: 2000 });
    expect(r).toMatchObject({ success: true, action: 'register', instance_id: probeInstanceId('1001', '127.0.0.1') });
    expect(uris(reg)).toHaveLength(2);
    const u = await probeRegister(ctx(), { server, user: '1001', unregister: true, timeoutMs: 2000 });
    expect(u).toMatchObject({ success: true, action: 'unregister', expires: 0, other_bindings: 1, failures: [] });
    expect(u.removed).toEqual([String(r.contact).replace(/^<|>$/g, '')]);
    expect(uris(reg)).toEqual([PHONE]);
    expect(renderRemoval(u)).toBe(`  removed: ${String((u.removed as string[])[0])}\n  other devices' bindings kept: 1\n`);
  });

  it('unregisterAll sends Contact: * and removes the phone too', async () => {
    const { reg, server } = await registrarWithPhone();
    const u = await probeRegister(ctx(), { server, user: '1001', unregisterAll: true, timeoutMs: 2000 });
    expect(u).toMatchObject({ success: true, action: 'unregister-all', contact: '*' });
    expect(u.instance_id).toBeUndefined();
    expect(reg.requests.at(-1)?.headers.get('contact')).toBe('*');
    expect(uris(reg)).toEqual([]);
  });

  it('an instance id that is not a UUID is a config failure, nothing sent', async () => {
    const { reg, server } = await registrarWithPhone();
    const u = await probeRegister(ctx(), { server, user: '1001', unregister: true, instanceId: 'x;y', timeoutMs: 2000 });
    expect(u.success).toBe(false);
    expect(u.failures[0]).toMatchObject({ check: 'instance_id', phase: 'config' });
    expect(reg.requests).toHaveLength(0);
  });

  it('CLI: --unregister and --unregister-all exclude each other; --help warns about other devices', async () => {
    const program = new Command().exitOverride();
    registerRegisterCommand(program);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await program.parseAsync(['node', 'probe', 'register', '1001', '--unregister', '--unregister-all', '--server', 'sip:127.0.0.1:9']);
    expect(process.exitCode).toBe(2);
    expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain('exclude each other');
    const help = program.commands.find((c) => c.name() === 'register')?.helpInformation() ?? '';
    expect(help).toMatch(/--unregister-all\s+remove EVERY binding/);
    expect(help.replace(/\s+/g, ' ')).toContain("also de-registers the extension's real phones and other devices");
  });
});
