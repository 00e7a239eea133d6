// Issue 17 items 1-2: a second SIP tier in the lab (the carrier Kamailio on 5164, realm
// carrier.lab, digest users that differ from the AOR users, 403 to wrong credentials).
// Everything goes through the shipped CLI with a config file:
// - `probe register 4930100`: the account's own registrar/domain/auth_user reach the
//   carrier: registered (binding in its usrloc); a wrong password: failed with the
//   carrier's 403;
// - `probe smoke`: a register probe and a call probe that name `server` reach the
//   carrier (an account without a registrar of its own), both directions measured; the
//   feature code *97 and the short number #21 (sent as %2321) are dialled through the
//   allowed_destinations patterns and answered behind the carrier.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CARRIER_USERS, kamailioLog, kamcmdOn, LAB, labWorkdir } from '../lab/lab.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CARRIER = `sip:${LAB.host}:${LAB.ports.carrierTier}`;

function probe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

let dir: string;
let config: string;

beforeAll(async () => {
  dir = path.join(labWorkdir(), 'carrier-tier');
  fs.mkdirSync(dir, { recursive: true });
  config = path.join(dir, 'callprobe.yaml');
  const a = CARRIER_USERS['4930100'];
  const b = CARRIER_USERS['4930200'];
  fs.writeFileSync(
    config,
    `pbx: { uri: "sip:${LAB.host}:${LAB.ports.udp}", transport: udp }
accounts:
  # a trunk at the carrier: its own registrar, realm/domain and digest user
  "4930100": { password: "${a.password}", auth_user: ${a.authUser}, domain: carrier.lab, registrar: "${CARRIER}" }
  # no registrar of its own: reaches the carrier only where a probe names the server
  "4930200": { password: "${b.password}", auth_user: ${b.authUser}, domain: carrier.lab }
rtp: { port_min: 16400, port_max: 16499, codecs: [PCMU, PCMA] }
allowed_destinations: ["\\\\*97", "#21"]
state_dir: ${dir}/state
`,
  );
  fs.writeFileSync(
    path.join(dir, 'suite.yaml'),
    `probes:
  - { name: reg-4930200-via-server, kind: register, account: "4930200", server: "${CARRIER}" }
  - { name: call-trunk-to-trunk, kind: call, from: "4930100", to: "4930200", server: "${CARRIER}", duration: 2s }
  - { name: feature-code-voicemail, kind: call, from: "4930100", to: "*97", duration: 2s }
  - { name: short-number-cfwd, kind: call, from: "4930100", to: "#21", duration: 2s }
`,
  );
  for (const aor of ['4930100', '4930200']) await kamcmdOn('carrier', 'ul.rm', 'location', `s:${aor}`).catch(() => undefined);
});

describe('the carrier tier (realm carrier.lab) from the shipped CLI', () => {
  it('probe register: the account\'s registrar, domain and auth_user reach the carrier: registered, binding stored', async () => {
    const run = await probe(['register', '4930100', '--config', config, '--json']);
    expect(run.stderr).toBe('');
    const r = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(r).toMatchObject({ success: true, status: 200, server: CARRIER, domain: 'carrier.lab', transport: 'udp', attempts: 2, failures: [] });
    expect(run.code).toBe(0);
    const dump = await kamcmdOn('carrier', 'ul.dump');
    expect(dump).toContain('4930100');
    expect(dump).toMatch(/sip:4930100@127\.0\.0\.1:\d+;callprobe=/);
    // the digest user was c4930100 (not the AOR user), in realm carrier.lab
    expect(kamailioLog('carrier')).toMatch(/LAB-REGISTER ok user=c4930100 contact=sip:4930100@127\.0\.0\.1/);
    // the PBX tier never saw it
    expect(await kamcmdOn('main', 'ul.dump')).not.toContain('4930100');
  }, 60_000);

  it('probe register with a wrong password: failed, with the carrier\'s 403', async () => {
    const run = await probe(['register', '4930100', '--config', config, '--json', '--password-env', 'TOPO_WRONG_PW'], { TOPO_WRONG_PW: 'not-the-password' });
    const r = JSON.parse(run.stdout) as { success: boolean; status: number; reason: string; attempts: number; failures: Array<Record<string, unknown>> };
    expect(r).toMatchObject({ success: false, status: 403, reason: 'Forbidden (carrier: bad credentials)', attempts: 2 });
    expect(r.failures).toEqual([expect.objectContaining({ check: 'register_response', phase: 'register', expected: '2xx', actual: 403 })]);
    expect(run.code).toBe(1);
    expect(kamailioLog('carrier')).toMatch(/LAB-CARRIER-AUTH-FAIL rc=-2 method=REGISTER user=c4930100 aor=4930100/);
  }, 60_000);

  it('probe smoke: register and call probes with `server`, a feature code and a short number through the carrier', async () => {
    const logBefore = kamailioLog('carrier').length;
    const run = await probe(['smoke', path.join(dir, 'suite.yaml'), '--config', config, '--json']);
    const out = JSON.parse(run.stdout) as { success: boolean; results: Array<Record<string, unknown> & { probe: string; success: boolean; failures: unknown[] }> };
    const byName = new Map(out.results.map((r) => [r.probe, r]));
    const reg = byName.get('reg-4930200-via-server');
    expect(reg).toMatchObject({ success: true, status: 200, server: CARRIER, domain: 'carrier.lab', failures: [] });

    type Call = { success: boolean; failures: unknown[]; sip: { final_status: number }; media: { codec: string; directions: Array<{ direction: string; packets_received: number | null; packets_lost: number | null }> } };
    const trunk = byName.get('call-trunk-to-trunk') as unknown as Call;
    expect(trunk.failures).toEqual([]);
    expect(trunk.sip.final_status).toBe(200);
    // both ends are ours: each direction measured at its receiver, ~100 packets in 2 s (20 ms), none lost
    for (const d of trunk.media.directions) {
      expect(d.packets_received, d.direction).toBeGreaterThanOrEqual(90);
      expect(d.packets_lost, d.direction).toBe(0);
    }
    for (const name of ['feature-code-voicemail', 'short-number-cfwd']) {
      const c = byName.get(name) as unknown as Call;
      expect(c.failures, name).toEqual([]);
      expect(c.sip.final_status, name).toBe(200);
      expect(c.media.codec, name).toBe('PCMA'); // the carrier SIPp answers PCMA
      const back = c.media.directions.find((d) => d.direction === 'callee_to_caller');
      expect(back?.packets_received, name).toBeGreaterThanOrEqual(90);
    }
    expect(out.success).toBe(true);
    expect(run.code).toBe(0);
    const log = kamailioLog('carrier').slice(logBefore);
    // the Request-URI carried *97 as is and #21 escaped (RFC 3261 §25.1); the carrier decoded both
    expect(log).toMatch(/LAB-FEATURE code=\*97 ruser=\*97 from=4930100/);
    expect(log).toMatch(/LAB-FEATURE code=#21 ruser=%2321 from=4930100/);
    expect(log).toMatch(/LAB-CALL invite from=4930100 to=4930200/);
  }, 90_000);
});
