// Acceptance 1-3 against the lab's Kamailio: OPTIONS and REGISTER over UDP,
// TCP and TLS with per-phase timings; bindings visible in `kamcmd ul.dump`;
// a wrong password stops after 2 REGISTERs (counted in a tshark capture).
// `probe register --unregister` removes only the probe's own binding (another
// device's binding of the same extension stays); --unregister-all removes all.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { ProbeResult } from '../../src/probes/result.js';
import { probeOptions } from '../../src/probes/options.js';
import { probeRegister } from '../../src/probes/register.js';
import { capture, kamcmd, LAB, registeredContacts, removeBindings, sipp, USERS } from '../lab/lab.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const ctx = () => ({ logger: createLogger('silent'), signal: new AbortController().signal });
const H = LAB.host;
const servers = {
  udp: `sip:${H}:${LAB.ports.udp}`,
  tcp: `sip:${H}:${LAB.ports.tcp}`,
  tls: `sip:${H}:${LAB.ports.tls}`,
} as const;

describe('OPTIONS against Kamailio', () => {
  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`answers 200 over ${transport} with per-phase timings`, async () => {
      const r = await probeOptions(ctx(), { target: servers[transport], transport, timeoutMs: 5000, tls: { insecure: true } });
      expect(r.failures).toEqual([]);
      expect(r.success).toBe(true);
      expect(r.status).toBe(200);
      const t = r.timings_ms as Record<string, number>;
      expect(t.dns).toBe(0); // IP literal: no DNS
      expect(t.request).toBeGreaterThan(0);
      if (transport === 'udp') expect(t.connect).toBe(0);
      else expect(t.connect).toBeGreaterThan(0);
      if (transport === 'tls') {
        expect(t.tls).toBeGreaterThan(0);
        expect(r.tls).toMatchObject({ subject: 'pbx.lab', protocol: expect.stringMatching(/^TLSv1\.[23]$/) });
        expect((r.tls as { days_left: number }).days_left).toBeGreaterThan(300);
      } else expect(t.tls).toBeUndefined();
    });
  }

  it('the 5-day certificate on 5062 shows its expiry', async () => {
    const r = await probeOptions(ctx(), { target: `sip:${H}:${LAB.ports.tlsExpiring}`, transport: 'tls', timeoutMs: 5000, tls: { insecure: true } });
    expect(r.success).toBe(true);
    expect(r.tls).toMatchObject({ subject: 'expiring.pbx.lab' });
    expect((r.tls as { days_left: number }).days_left).toBeLessThanOrEqual(5);
  });

  it('TLS with --ca trusting the lab certificate verifies it (no --insecure)', async () => {
    const { labWorkdir } = await import('../lab/lab.js');
    const fs = await import('node:fs');
    const dir = `${labWorkdir()}/tls`;
    const crt = fs.readdirSync(dir).find((f) => f.endsWith('.crt') && !f.includes('expir'));
    expect(crt).toBeDefined();
    const ca = fs.readFileSync(`${dir}/${crt ?? ''}`, 'utf8');
    const r = await probeOptions(ctx(), { target: servers.tls, transport: 'tls', timeoutMs: 5000, tls: { ca } });
    expect(r.failures).toEqual([]);
    expect(r.success).toBe(true);
  });

  it('TLS without --insecure rejects the self-signed certificate in the tls phase', async () => {
    const r = await probeOptions(ctx(), { target: servers.tls, transport: 'tls', timeoutMs: 5000 });
    expect(r.success).toBe(false);
    expect(r.failures[0]?.phase).toBe('tls');
    expect(r.failures[0]?.message).toMatch(/self-signed|certificate/i);
  });

  it('TCP to a closed port fails in the connect phase with "connection refused"', async () => {
    const r = await probeOptions(ctx(), { target: `sip:${H}:5199`, transport: 'tcp', timeoutMs: 2000 });
    expect(r.success).toBe(false);
    expect(r.failures[0]).toMatchObject({ phase: 'connect' });
    expect(r.failures[0]?.message).toContain('connection refused');
  });
});

describe('REGISTER against Kamailio', () => {
  afterAll(async () => {
    await removeBindings(['1001']);
  });

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`registers 1001 over ${transport} with digest; the binding shows in ul.dump; unREGISTER removes it`, async () => {
      await removeBindings(['1001']);
      const spec = { server: servers[transport], transport, user: '1001', password: USERS['1001'], expires: 120, timeoutMs: 5000, tls: { insecure: true } };
      const r = await probeRegister(ctx(), spec);
      expect(r.failures).toEqual([]);
      expect(r.success).toBe(true);
      expect(r.attempts).toBe(2); // 401 challenge + authenticated REGISTER
      expect(r.expires).toBeGreaterThan(0);
      const contacts = await registeredContacts('1001');
      const ours = String(r.contact).replace(/^<|>$/g, '');
      expect(contacts).toContain(ours);
      if (transport !== 'udp') expect(ours).toContain(`transport=${transport}`);
      const u = await probeRegister(ctx(), { ...spec, unregister: true });
      expect(u.success).toBe(true);
      expect(await registeredContacts('1001')).toEqual([]);
    });
  }

  it('a wrong password fails after at most 2 REGISTERs, naming user and realm', async () => {
    const cap = await capture({ filter: `udp port ${LAB.ports.udp}` });
    // capture() resolves on "Capturing on", a moment before dumpcap really captures.
    await new Promise((resolve) => setTimeout(resolve, 700));
    let r;
    try {
      r = await probeRegister(ctx(), { server: servers.udp, transport: 'udp', user: '1001', password: 'wrong', timeoutMs: 5000 });
    } finally {
      await cap.stop();
    }
    expect(r.success).toBe(false);
    expect(r.attempts).toBe(2);
    expect(r.status).toBe(401);
    expect(r.failures[0]).toMatchObject({ phase: 'register', check: 'credentials' });
    expect(r.failures[0]?.message).toBe(`credentials for 1001@${H} rejected twice (401)`);
    const { stdout } = await execFileP('tshark', ['-r', await cap.stop(), '-Y', 'sip.Method == "REGISTER"', '-T', 'fields', '-e', 'sip.CSeq']);
    const registers = stdout.trim().split('\n').filter(Boolean);
    expect(registers.length).toBe(2);
  });
});

describe('probe register --unregister against Kamailio: only the probe\'s own binding goes', () => {
  const phone = `sip:1001@${H}:${LAB.sippPorts.uac1001}`;
  afterAll(async () => {
    await removeBindings(['1001']);
  });

  /** Another device: SIPp registers 1001 with a Contact pointing at the SIPp UAC port. */
  async function phoneRegisters(): Promise<void> {
    const r = await sipp('reg_auth.xml', [
      `${H}:${LAB.ports.udp}`, '-m', '1', '-i', H, '-p', String(LAB.sippPorts.reg1001), '-s', '1001', '-au', '1001', '-ap', USERS['1001'],
      '-key', 'contact_port', String(LAB.sippPorts.uac1001), '-key', 'expires', '300',
    ], { timeoutMs: 15_000 });
    expect(r.code, `${r.stdout.slice(-1500)}\n${r.errors}`).toBe(0);
  }

  /** `probe register <args>` as its own process (a new ephemeral port every time). */
  async function probe(...args: string[]): Promise<ProbeResult> {
    const env: NodeJS.ProcessEnv = { ...process.env, CALLPROBE_1001_PASSWORD: USERS['1001'] };
    delete env.CALLPROBE_CONFIG; // ROOT has no callprobe.yaml: no config is loaded
    const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'register', '1001', '--server', servers.udp, '--json', ...args], {
      cwd: ROOT,
      env,
      timeout: 20_000,
    }).catch((err: { stdout?: string; stderr?: string; code?: unknown }) => {
      throw new Error(`probe register ${args.join(' ')} exited ${String(err.code)}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    return JSON.parse(stdout) as ProbeResult;
  }

  it('--unregister keeps the other device\'s binding and removes ours (registered by an earlier process); --unregister-all removes both', async () => {
    await removeBindings(['1001']);
    await phoneRegisters();
    expect(await registeredContacts('1001')).toEqual([phone]);

    const reg = await probe();
    expect(reg).toMatchObject({ success: true, action: 'register' });
    const ours = String(reg.contact).replace(/^<|>$/g, '');
    expect(ours).toMatch(new RegExp(`^sip:1001@127\\.0\\.0\\.1:\\d+;callprobe=${String(reg.instance_id)}$`));
    expect((await registeredContacts('1001')).sort()).toEqual([phone, ours].sort());
    // the usrloc record carries our +sip.instance
    expect(await kamcmd('ul.dump')).toContain(`<urn:uuid:${String(reg.instance_id)}>`);

    // a second run (another process, another port) re-registers in place: Kamailio matches +sip.instance
    const again = await probe();
    const oursNow = String(again.contact).replace(/^<|>$/g, '');
    expect(oursNow).not.toBe(ours);
    expect((await registeredContacts('1001')).sort()).toEqual([phone, oursNow].sort());

    const un = await probe('--unregister');
    expect(un).toMatchObject({ success: true, action: 'unregister', removed: [oursNow], other_bindings: 1, failures: [] });
    expect(await registeredContacts('1001')).toEqual([phone]);

    // nothing of ours left: a second --unregister removes nothing and still succeeds
    const none = await probe('--unregister');
    expect(none).toMatchObject({ success: true, removed: [], other_bindings: 1 });
    expect(await registeredContacts('1001')).toEqual([phone]);

    await probe();
    expect(await registeredContacts('1001')).toHaveLength(2);
    const all = await probe('--unregister-all');
    expect(all).toMatchObject({ success: true, action: 'unregister-all', contact: '*' });
    expect(await registeredContacts('1001')).toEqual([]);
  });
});
