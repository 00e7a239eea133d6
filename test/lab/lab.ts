/**
 * Real PBX lab on 127.0.0.1 for integration tests (Debian 12 packages only).
 *
 * Started ONCE per `vitest run` by test/lab/global-setup.ts (~2 s); tests use it
 * through this module. Everything lives in a fresh workdir under /tmp (kept and
 * printed when anything failed, deleted otherwise). What runs:
 *
 *   rtpengine          ng udp 127.0.0.1:22222, cli 9900, relay ports 10000-14999
 *   kamailio (main)    udp+tcp 5060, tls 5061 (365-day cert, CN pbx.lab),
 *                      tls 5062 (5-day cert, CN expiring.pbx.lab); media via rtpengine
 *   kamailio (direct)  udp+tcp 5160, same users, NO rtpengine (direct media)
 *   kamailio (carrier) udp+tcp 5164: the carrier tier, realm carrier.lab, its own trunk
 *                      users (CARRIER_USERS: AOR 49301x0, digest user c49301x0), 403 to
 *                      wrong credentials, *97 / #21 (as %2321) routed to the carrier SIPp
 *   carrier            SIPp UAS on 5090 (RTP 16090): answers trunk calls
 *                      (R-URI 9<digits> with the 9 stripped, or +<digits>) with 180,
 *                      200 (PCMA only) and streams lab_audio.alaw until BYE
 *   baresip 1003       auto-answer (PCMA, PCMU, G722, opus), SIP 5074, RTP 17030-17039, ctrl_tcp 5573
 *   baresip 1004       answermode=manual: rings forever, SIP 5076, RTP 17040-17049, ctrl 5574
 *
 * Users 1001-1004, password lab<ext>pw (USERS). Kamailio answers REGISTER with 401,
 * INVITE with 407, `OPTIONS sip:127.0.0.1` with 200 (no auth). Both kamailios
 * mirror all SIP as HEPv3 to 127.0.0.1:9060 and log LAB-* tags plus one
 * `ACC: transaction answered: ...;code=NNN` line per INVITE (kamailioLog()).
 *
 * Workdir files (labWorkdir()): lab_audio.alaw / lab_audio.ulaw (raw 8 kHz, 30 s,
 * SIPp rtp_stream reads them relative to its cwd), lab_audio.wav (30 s),
 * lab_audio_long.wav (600 s), sipp/*.xml (copied scenarios), tls/*.crt|key,
 * kamailio.log, kamailio-direct.log, kamailio-carrier.log, rtpengine.log, carrier.log, baresip-100X.log,
 * procs/*.json (one record per running process, see procs.ts).
 *
 * API (stable):
 *   LAB, USERS, CARRIER_USERS                  constants (ports, credentials)
 *   labWorkdir()                               the running lab's workdir (env CALLPROBE_LAB_WORKDIR)
 *   spawnTracked(cmd, args, opts?)             spawn + record; stop() = SIGTERM, SIGKILL after a grace
 *   capture({ file?, filter?, iface? })        dumpcap (tshark's capture engine) pcap; resolves once capturing
 *   rtpStreams(pcap, { decodeAs? })            rows of `tshark -q -z rtp,streams`
 *   kamcmd(...args), kamcmdOn(instance, ...args), registeredContacts(aor, instance?), resetAuthFailures()
 *   kamailioLog(instance?), stopKamailio(), startKamailio() (main: also restarts baresips), restartBaresips()
 *   labPid(name), killRtpengine() (SIGKILL by PID: a media relay dying mid-call), startRtpengine()
 *   sipp(scenario, args, opts?)                runs sipp from the workdir (-nostdin -trace_err, own -cp)
 *   baresipCommand(port, command, params?)     ctrl_tcp client (netstring JSON)
 *   startLab(opts?), stopLab(handle)           used by global-setup only
 *
 * Integration tests share these fixed ports, so run them one at a time:
 * `flock /tmp/callprobe-lab.lock npx vitest run --project integration ...`
 * (global-setup takes that lock itself unless an ancestor process holds it).
 */
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeBaresipConf } from './baresip.js';
import {
  forgetProcess,
  getProcess,
  isSameProcessAlive,
  listProcesses,
  procStartTime,
  recordProcess,
  spawnTrackedIn,
  stopRecorded,
} from './procs.js';
import type { ProcRecord, SpawnTrackedOptions, TrackedProcess } from './procs.js';

export { baresipCommand, netstring, parseNetstrings, writeBaresipConf } from './baresip.js';
export type { BaresipConf, BaresipReply, BaresipCommandOptions } from './baresip.js';
export { listProcesses, isSameProcessAlive } from './procs.js';
export type { ExitInfo, ProcRecord, SpawnTrackedOptions, TrackedProcess } from './procs.js';

const execFileP = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));

export const LAB = {
  host: '127.0.0.1',
  ports: {
    udp: 5060,
    tcp: 5060,
    tls: 5061,
    tlsExpiring: 5062,
    direct: 5160,
    /** The carrier tier (a second SIP tier): Kamailio, realm carrier.lab. */
    carrierTier: 5164,
    carrier: 5090,
    carrierRtp: 16090,
    baresip1003: 5074,
    baresip1004: 5076,
    baresipCtrl1003: 5573,
    baresipCtrl1004: 5574,
    rtpengineNg: 22222,
    rtpengineCli: 9900,
    hep: 9060,
  },
  /** SIPp ports from lab-facts: UAS 1002 SIP/RTP + its REGISTER client; UAC 1001 likewise */
  sippPorts: { uas1002: 5070, uas1002Rtp: 16070, reg1002: 5071, uac1001: 5080, uac1001Rtp: 16080, reg1001: 5081 },
  rtpengineRange: [10000, 14999] as const,
  /** SIPp control sockets (-cp) handed out by sipp() */
  sippControlRange: [8800, 8899] as const,
  lockFile: '/tmp/callprobe-lab.lock',
} as const;

export const USERS: Readonly<Record<'1001' | '1002' | '1003' | '1004', string>> = Object.freeze({
  '1001': 'lab1001pw',
  '1002': 'lab1002pw',
  '1003': 'lab1003pw',
  '1004': 'lab1004pw',
});

export type KamailioInstance = 'main' | 'direct' | 'carrier';

/** Trunk accounts of the carrier tier (realm carrier.lab): AOR user, digest user, password. */
export const CARRIER_USERS = Object.freeze({
  '4930100': { authUser: 'c4930100', password: 'carrier100pw' },
  '4930200': { authUser: 'c4930200', password: 'carrier200pw' },
});

/** Tools the lab needs, with the Debian package that provides each. */
export const LAB_TOOLS: ReadonlyArray<{ bin: string; pkg: string }> = [
  { bin: 'kamailio', pkg: 'kamailio' },
  { bin: 'kamcmd', pkg: 'kamailio' },
  { bin: 'rtpengine', pkg: 'rtpengine-daemon' },
  { bin: 'sipp', pkg: 'sip-tester' },
  { bin: 'baresip', pkg: 'baresip-core' },
  { bin: 'tshark', pkg: 'tshark' },
  { bin: 'dumpcap', pkg: 'tshark (wireshark-common)' },
  { bin: 'openssl', pkg: 'openssl' },
  { bin: 'sox', pkg: 'sox' },
  { bin: 'svcrack', pkg: 'sipvicious' },
  { bin: 'fail2ban-regex', pkg: 'fail2ban' },
  { bin: 'fail2ban-server', pkg: 'fail2ban' },
];

const WORKDIR_ENV = 'CALLPROBE_LAB_WORKDIR';

/** The running lab's workdir (set by global-setup for every test worker). */
export function labWorkdir(): string {
  const w = process.env[WORKDIR_ENV];
  if (!w) {
    throw new Error(`${WORKDIR_ENV} is not set: integration tests need test/lab/global-setup.ts (vitest project "integration")`);
  }
  return w;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`lab: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(40);
  }
}

/** Missing lab binaries as `bin (apt package pkg)` strings. */
export function missingTools(): string[] {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return LAB_TOOLS.filter(({ bin }) => !dirs.some((d) => d && isExecutable(path.join(d, bin)))).map(
    ({ bin, pkg }) => `${bin} (apt package ${pkg})`,
  );
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- processes

export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnTrackedOptions = {}): TrackedProcess {
  return spawnTrackedIn(opts.workdir ?? labWorkdir(), cmd, args, opts);
}

/**
 * Start a long-running lab daemon with stdout+stderr appended to <workdir>/<log>,
 * and record it. Not detached: it belongs to the vitest process group, so a ^C
 * reaches it too; unref'd so a worker that started it can still exit.
 */
function startDaemon(workdir: string, name: string, cmd: string, args: string[], log: string): ProcRecord {
  const logPath = path.join(workdir, log);
  const fd = fs.openSync(logPath, 'a');
  const child = spawn(cmd, args, { cwd: workdir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.on('error', () => {
    // reported by the readiness check (and the record below)
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`lab: cannot start ${cmd}`);
  return recordProcess(workdir, { name, pid: child.pid, cmd: [cmd, ...args].join(' '), log: logPath });
}

function assertAlive(rec: ProcRecord): void {
  if (!isSameProcessAlive(rec)) {
    const tail = rec.log ? readTail(rec.log, 3000) : '';
    throw new Error(`lab: ${rec.name} (pid ${rec.pid}) died during start-up. Log ${rec.log ?? ''}:\n${tail}`);
  }
}

function readTail(file: string, bytes: number): string {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return s.slice(-bytes);
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- readiness probes

/**
 * Ports handed out by freeTcpPort() and freeUdpPort(): above the kernel's ephemeral range (Linux default
 * 32768-60999), so no port-0 bind or outgoing connection of any process is given one of them
 * between our pick and the server's bind (the old "bind 0, close, bind later" pick raced with
 * exactly those). Each is reserved across test processes by a file naming the owner's pid.
 */
const TEST_PORTS = { lo: 61000, hi: 64999, dir: '/tmp/callprobe-test-ports' };
const reservedHere = new Set<string>();
let portCursor = process.pid % (TEST_PORTS.hi - TEST_PORTS.lo + 1);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the reservation file of a port (false: another live process holds it). */
function reservePort(port: number): boolean {
  const file = path.join(TEST_PORTS.dir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      if (reservedHere.size === 0) process.once('exit', () => reservedHere.forEach((f) => fs.rmSync(f, { force: true })));
      reservedHere.add(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) return false;
      fs.rmSync(file, { force: true }); // its process is gone
    }
  }
  return false;
}

function bindable(kind: 'tcp' | 'udp', port: number): Promise<boolean> {
  return new Promise((done) => {
    if (kind === 'udp') {
      const u = dgram.createSocket('udp4');
      u.once('error', () => u.close(() => done(false)));
      u.bind(port, '127.0.0.1', () => u.close(() => done(true)));
      return;
    }
    const s = net.createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  fs.mkdirSync(TEST_PORTS.dir, { recursive: true });
  const n = TEST_PORTS.hi - TEST_PORTS.lo + 1;
  for (let i = 0; i < n; i++) {
    const port = TEST_PORTS.lo + (portCursor++ % n);
    if (!reservePort(port)) continue;
    if (await bindable(kind, port)) return port;
  }
  throw new Error(`lab: no free ${kind} port in ${TEST_PORTS.lo}-${TEST_PORTS.hi}`);
}

/** A TCP port on 127.0.0.1 for a server under test: reserved for this process, nothing listens on it. */
export function freeTcpPort(): Promise<number> {
  return freePort('tcp');
}

/** A UDP port on 127.0.0.1 for a peer under test (a SIP UA given its port on the command line): reserved for this process. */
export function freeUdpPort(): Promise<number> {
  return freePort('udp');
}

/** rtpengine ng "ping" -> "pong" (bencode over UDP). */
export function rtpenginePing(timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const cookie = `lab${Date.now()}`;
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString().startsWith(cookie) && m.toString().includes('pong'));
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(false);
    });
    s.send(`${cookie} d7:command4:pinge`, LAB.ports.rtpengineNg, LAB.host);
  });
}

/** One `OPTIONS sip:127.0.0.1` over UDP; resolves with the status line or null. */
export function sipOptionsUdp(port: number, timeoutMs = 300): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(null);
    });
    s.bind(0, LAB.host, () => {
      const lp = s.address().port;
      const tag = Math.floor(Math.random() * 1e9);
      const msg =
        `OPTIONS sip:${LAB.host}:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP ${LAB.host}:${lp};branch=z9hG4bK-lab-${tag}\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:labcheck@${LAB.host}>;tag=${tag}\r\n` +
        `To: <sip:${LAB.host}:${port}>\r\nCall-ID: labcheck-${tag}@${LAB.host}\r\n` +
        `CSeq: 1 OPTIONS\r\nUser-Agent: lab-readiness\r\nContent-Length: 0\r\n\r\n`;
      s.on('message', (m) => {
        clearTimeout(t);
        s.close();
        resolve(m.toString().split('\r\n')[0] ?? '');
      });
      s.send(msg, port, LAB.host);
    });
  });
}

function tcpOpen(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: LAB.host, port });
    const t = setTimeout(() => {
      c.destroy();
      resolve(false);
    }, timeoutMs);
    c.on('connect', () => {
      clearTimeout(t);
      c.destroy();
      resolve(true);
    });
    c.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Local UDP ports bound on 127.0.0.1 or 0.0.0.0 (from /proc/net/udp). */
export function boundUdpPorts(): Set<number> {
  const out = new Set<number>();
  const text = fs.readFileSync('/proc/net/udp', 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    if (!local) continue;
    const [ip, port] = local.split(':');
    if (ip === '0100007F' || ip === '00000000') out.add(parseInt(port ?? '0', 16));
  }
  return out;
}

// ---------------------------------------------------------------- file preparation

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  try {
    await execFileP(cmd, args, { cwd, timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`lab: ${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

async function makeCerts(workdir: string): Promise<void> {
  const dir = path.join(workdir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const cert = (name: string, days: number, cn: string, san: string): Promise<void> =>
    run(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', String(days),
        '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`,
      ],
      dir,
    );
  await Promise.all([
    cert('pbx', 365, 'pbx.lab', 'DNS:pbx.lab,IP:127.0.0.1'),
    cert('expiring', 5, 'expiring.pbx.lab', 'DNS:expiring.pbx.lab,IP:127.0.0.1'),
  ]);
  const profile = (sel: string, name: string): string =>
    `[${sel}]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n` +
    `private_key = ${dir}/${name}.key\ncertificate = ${dir}/${name}.crt\n\n`;
  fs.writeFileSync(
    path.join(workdir, 'tls.cfg'),
    profile('server:default', 'pbx') +
      profile('server:127.0.0.1:5061', 'pbx') +
      profile('server:127.0.0.1:5062', 'expiring') +
      '[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n',
  );
}

/** 8 kHz test audio: a 440 Hz tone with a 3 Hz tremolo (a speech-like envelope). */
async function makeAudio(workdir: string): Promise<void> {
  // synthesize 30 s once; the rest are cheap conversions (a 600 s synth takes ~2 s)
  await run('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', 'lab_audio.wav', 'synth', '30', 'sine', '440', 'tremolo', '3', '60', 'gain', '-6'], workdir);
  await Promise.all([
    run('sox', ['lab_audio.wav', '-e', 'a-law', '-t', 'raw', 'lab_audio.alaw'], workdir),
    run('sox', ['lab_audio.wav', '-e', 'u-law', '-t', 'raw', 'lab_audio.ulaw'], workdir),
    run('sox', ['lab_audio.wav', 'lab_audio_long.wav', 'repeat', '19'], workdir),
  ]);
}

function copyStatic(workdir: string): void {
  fs.cpSync(path.join(HERE, 'sipp'), path.join(workdir, 'sipp'), { recursive: true });
  fs.cpSync(path.join(HERE, 'dbtext'), path.join(workdir, 'dbtext'), { recursive: true });
  fs.cpSync(path.join(HERE, 'dbtext-carrier'), path.join(workdir, 'dbtext-carrier'), { recursive: true });
  fs.copyFileSync(path.join(HERE, 'kamailio.cfg'), path.join(workdir, 'kamailio.cfg'));
}

// ---------------------------------------------------------------- kamailio

interface KamailioLayout {
  name: string;
  log: string;
  ctl: string;
  port: number;
  /** db_text directory (subscribers) under the workdir. */
  db: string;
  defines: string[];
}

/** Process name (kamailio[-instance]), port, subscriber db and -A defines of each instance. */
const KAMAILIO_INSTANCES: Record<KamailioInstance, { name: string; port: number; db: string; defines: (workdir: string) => string[] }> = {
  main: {
    name: 'kamailio',
    port: LAB.ports.udp,
    db: 'dbtext',
    defines: (workdir) => ['-A', 'WITH_TLS', '-A', `LAB_TLSCFG="${path.join(workdir, 'tls.cfg')}"`, '-A', 'WITH_RTPENGINE'],
  },
  direct: { name: 'kamailio-direct', port: LAB.ports.direct, db: 'dbtext', defines: () => ['-A', 'LAB_DIRECT'] },
  carrier: { name: 'kamailio-carrier', port: LAB.ports.carrierTier, db: 'dbtext-carrier', defines: () => ['-A', 'LAB_CARRIER'] },
};

function kamailioLayout(workdir: string, instance: KamailioInstance): KamailioLayout {
  const i = KAMAILIO_INSTANCES[instance];
  // ctl sockets keep their historical names: kamailio_ctl, kamailio_direct_ctl, kamailio_carrier_ctl
  return { name: i.name, log: `${i.name}.log`, ctl: path.join(workdir, `${i.name.replace('-', '_')}_ctl`), port: i.port, db: i.db, defines: i.defines(workdir) };
}

async function launchKamailio(workdir: string, instance: KamailioInstance): Promise<ProcRecord> {
  const k = kamailioLayout(workdir, instance);
  const runDir = path.join(workdir, `run-${k.name}`);
  fs.mkdirSync(runDir, { recursive: true });
  const args = [
    '-f', path.join(workdir, 'kamailio.cfg'), '-DD', '-E', '-m', '64', '-M', '8',
    '-P', path.join(workdir, `${k.name}.pid`), '-Y', runDir,
    '-A', `LAB_DBURL="text://${path.join(workdir, k.db)}"`,
    '-A', `LAB_CTL="unix:${k.ctl}"`,
    ...k.defines,
  ];
  const rec = startDaemon(workdir, k.name, 'kamailio', args, k.log);
  await waitFor(`${k.name} to answer OPTIONS on udp ${k.port}`, 10_000, async () => {
    assertAlive(rec);
    return (await sipOptionsUdp(k.port)) === 'SIP/2.0 200 OK';
  });
  await waitFor(`${k.name} tcp ${k.port} and ctl socket`, 5_000, async () => {
    assertAlive(rec);
    return fs.existsSync(k.ctl) && (await tcpOpen(k.port));
  });
  if (instance === 'main') {
    await waitFor('kamailio tls 5061/5062', 5_000, async () => (await tcpOpen(LAB.ports.tls)) && tcpOpen(LAB.ports.tlsExpiring));
  }
  return rec;
}

/** Stop the main (or direct) kamailio by PID; its record is removed. */
export async function stopKamailio(instance: KamailioInstance = 'main'): Promise<void> {
  const w = labWorkdir();
  const name = kamailioLayout(w, instance).name;
  const rec = getProcess(w, name);
  if (!rec) return;
  await stopRecorded(rec, 5000);
  if (isSameProcessAlive(rec)) throw new Error(`lab: ${name} pid ${rec.pid} survived SIGKILL`);
  forgetProcess(w, name);
}

/**
 * (Re)start kamailio with the lab config; resolves with its PID once it answers
 * OPTIONS. For the main instance, baresip 1003/1004 are restarted too so they are
 * registered again (unless `reregister: false`); SIPp users must REGISTER again.
 */
export async function startKamailio(
  instance: KamailioInstance = 'main',
  opts: { reregister?: boolean } = {},
): Promise<number> {
  const w = labWorkdir();
  const name = kamailioLayout(w, instance).name;
  const old = getProcess(w, name);
  if (old && isSameProcessAlive(old)) throw new Error(`lab: ${name} is already running (pid ${old.pid})`);
  const rec = await launchKamailio(w, instance);
  if (instance === 'main' && opts.reregister !== false) await restartBaresips();
  return rec.pid;
}

/** kamcmd against the main instance's ctl socket; rejects on an RPC error. Numeric AORs need `s:` (e.g. `s:1001`). */
export function kamcmd(...args: string[]): Promise<string> {
  return kamcmdOn('main', ...args);
}

export async function kamcmdOn(instance: KamailioInstance, ...args: string[]): Promise<string> {
  const k = kamailioLayout(labWorkdir(), instance);
  const { stdout } = await execFileP('kamcmd', ['-s', `unix:${k.ctl}`, ...args], { timeout: 10_000 });
  // kamcmd exits 0 on RPC errors and prints "error: <code> - <reason>"
  if (/^error: \d+/.test(stdout)) throw new Error(`kamcmd ${args.join(' ')}: ${stdout.trim()}`);
  return stdout;
}

/**
 * Removes every binding of these AORs (none is fine) on both Kamailios: what a
 * test does first so that bindings other tests left behind (closed UAs, the
 * register probe's kept binding) do not fork its INVITEs to dead contacts.
 */
export async function removeBindings(aors: readonly string[], instances: readonly KamailioInstance[] = ['main', 'direct']): Promise<void> {
  for (const instance of instances) {
    for (const aor of aors) await kamcmdOn(instance, 'ul.rm', 'location', `s:${aor}`).catch(() => undefined);
  }
}

/**
 * Forget the per-IP auth-failure counters (htable `authfail`), so a test that
 * counts towards LAB-BRUTEFORCE (ALERT at the 10th failure within 60 s) starts at 0.
 */
export async function resetAuthFailures(instance: KamailioInstance = 'main'): Promise<void> {
  await kamcmdOn(instance, 'htable.flush', 'authfail');
}

/** Contact URIs currently registered for an AOR (user part, e.g. '1001'), from `ul.dump`. */
export async function registeredContacts(aor: string, instance: KamailioInstance = 'main'): Promise<string[]> {
  return parseUlDump(await kamcmdOn(instance, 'ul.dump')).get(aor) ?? [];
}

/** Parse `kamcmd ul.dump` text into AOR -> contact addresses. */
export function parseUlDump(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let aor: string | undefined;
  for (const line of text.split('\n')) {
    const a = /^\s*AoR:\s*(\S+)/.exec(line);
    if (a?.[1]) {
      aor = a[1];
      if (!out.has(aor)) out.set(aor, []);
      continue;
    }
    const c = /^\s*Address:\s*(\S+)/.exec(line);
    if (c?.[1] && aor !== undefined) out.get(aor)?.push(c[1]);
  }
  return out;
}

/** The kamailio log so far (stderr of -E). */
export function kamailioLog(instance: KamailioInstance = 'main'): string {
  const w = labWorkdir();
  return fs.readFileSync(path.join(w, kamailioLayout(w, instance).log), 'utf8');
}

// ---------------------------------------------------------------- sipp

let sippPortCursor = 0;

/** A free SIPp control port from LAB.sippControlRange (a bind test, then the next). */
async function freeControlPort(): Promise<number> {
  const [lo, hi] = LAB.sippControlRange;
  const bound = boundUdpPorts();
  for (let i = 0; i <= hi - lo; i++) {
    const port = lo + ((sippPortCursor + i + (process.pid % 50)) % (hi - lo + 1));
    if (bound.has(port)) continue;
    sippPortCursor = (sippPortCursor + i + 1) % (hi - lo + 1);
    return port;
  }
  throw new Error('lab: no free SIPp control port in 8800-8899');
}

export interface SippResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** contents of the -trace_err file(s) SIPp wrote for this run */
  errors: string;
}

export interface SippOptions {
  /** kill SIPp if it is still running after this long (default 60 s) */
  timeoutMs?: number;
  name?: string;
}

/**
 * Run sipp with `-sf <workdir>/sipp/<scenario>` (a bare name like 'uac_call.xml'
 * or a path) from the lab workdir, adding `-nostdin -trace_err -cp <free port>`.
 * Long-running UAS: use sippStart() and stop() it.
 */
export async function sipp(scenario: string, args: readonly string[], opts: SippOptions = {}): Promise<SippResult> {
  const p = await sippStart(scenario, args, opts);
  const timer = setTimeout(() => void p.stop(), opts.timeoutMs ?? 60_000);
  const r = await p.exited;
  clearTimeout(timer);
  // SIPp's final screen (stats) stays in the workdir for a post-mortem
  const out = path.join(labWorkdir(), `sipp-${path.basename(scenario, '.xml')}-${p.pid}.log`);
  fs.writeFileSync(out, `${p.stdout()}\n--- stderr\n${p.stderr()}\n--- exit ${r.code ?? r.signal}\n`);
  return { ...r, stdout: p.stdout(), stderr: p.stderr(), errors: p.errors() };
}

export interface SippProcess extends TrackedProcess {
  errors(): string;
}

export async function sippStart(scenario: string, args: readonly string[], opts: SippOptions = {}): Promise<SippProcess> {
  const w = labWorkdir();
  const sf = scenario.includes('/') ? scenario : path.join(w, 'sipp', scenario);
  const cp = await freeControlPort();
  const full = ['-sf', sf, ...args, '-nostdin', '-trace_err', '-cp', String(cp)];
  const tp = spawnTracked('sipp', full, { workdir: w, cwd: w, ...(opts.name ? { name: opts.name } : {}) });
  const base = path.basename(sf, '.xml');
  return {
    ...tp,
    errors(): string {
      const f = path.join(w, `${base}_${tp.pid}_errors.log`);
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    },
  };
}

// ---------------------------------------------------------------- tshark

export interface CaptureOptions {
  /** pcap path (default: a new file in the workdir) */
  file?: string;
  /** capture filter (BPF) */
  filter?: string;
  iface?: string;
}

export interface CaptureHandle {
  file: string;
  pid: number;
  /** stop the capture (SIGINT flushes the file) and resolve with the pcap path */
  stop(): Promise<string>;
}

let captureCounter = 0;

/**
 * Start a capture with dumpcap (tshark's own capture engine, same package):
 * tshark itself needs 1-8 s to load its dissectors on a busy 2-core machine,
 * dumpcap ~0.1-0.4 s. Resolves once it reports "Capturing on ..."; classic pcap
 * format (-P). Analyse the file with tshark (rtpStreams).
 */
export async function capture(opts: CaptureOptions = {}): Promise<CaptureHandle> {
  const w = labWorkdir();
  const file = opts.file ?? path.join(w, `capture-${process.pid}-${++captureCounter}.pcap`);
  const args = ['-i', opts.iface ?? 'lo', '-q', '-P', '-w', file];
  if (opts.filter) args.push('-f', opts.filter);
  const child = spawn('dumpcap', args, { cwd: w, stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid === undefined) throw new Error('lab: cannot start dumpcap');
  const pid = child.pid;
  const name = `dumpcap-${pid}`;
  recordProcess(w, { name, pid, cmd: `dumpcap ${args.join(' ')}` });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  void exited.then(() => forgetProcess(w, name));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`lab: dumpcap did not start capturing: ${stderr}`)), 15_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (/Capturing on/.test(stderr)) {
        clearTimeout(t);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(t);
      reject(new Error(`lab: dumpcap exited: ${stderr}`));
    });
  });
  let stopped: Promise<string> | undefined;
  return {
    file,
    pid,
    stop(): Promise<string> {
      stopped ??= (async () => {
        // let dumpcap read the last packets of the call before stopping it
        await sleep(300);
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
        return file;
      })();
      return stopped;
    },
  };
}

export interface RtpStreamRow {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  ssrc: number;
  payload: string;
  packets: number;
  lost: number;
  lostPercent: number;
  minDelta: number;
  meanDelta: number;
  maxDelta: number;
  minJitter: number;
  meanJitter: number;
  maxJitter: number;
  problems: boolean;
}

/** Parse the table printed by `tshark -q -z rtp,streams`. */
export function parseRtpStreams(text: string): RtpStreamRow[] {
  const rows: RtpStreamRow[] = [];
  const re =
    /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.+?)\s+(\d+)\s+(-?\d+)\s+\((-?[\d.]+)%\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*(X?)\s*$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const n = (i: number): number => Number(m[i]);
    rows.push({
      src: m[1] ?? '',
      srcPort: n(2),
      dst: m[3] ?? '',
      dstPort: n(4),
      ssrc: parseInt(m[5] ?? '0', 16),
      payload: m[6] ?? '',
      packets: n(7),
      lost: n(8),
      lostPercent: n(9),
      minDelta: n(10),
      meanDelta: n(11),
      maxDelta: n(12),
      minJitter: n(13),
      meanJitter: n(14),
      maxJitter: n(15),
      problems: m[16] === 'X',
    });
  }
  return rows;
}

/** RTP streams in a pcap; decodeAs lists UDP ports to decode as RTP without SIP/SDP. */
export async function rtpStreams(pcap: string, opts: { decodeAs?: number[] } = {}): Promise<RtpStreamRow[]> {
  const args = ['-r', pcap, '-n', '-q', '-z', 'rtp,streams'];
  for (const p of opts.decodeAs ?? []) args.push('-d', `udp.port==${p},rtp`);
  const { stdout } = await execFileP('tshark', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return parseRtpStreams(stdout);
}

// ---------------------------------------------------------------- the whole lab

export interface StartLabOptions {
  /** default: a new /tmp/callprobe-lab-XXXXXX */
  workdir?: string;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

export interface LabHandle {
  workdir: string;
  /** pid of every lab process by name (kamailio, kamailio-direct, rtpengine, carrier, baresip-1003, baresip-1004) */
  pids: Record<string, number>;
  startMs: number;
}

const LAB_PORTS_UDP = [5060, 5090, 5160, 5164, 5074, 5076, 22222];
const LAB_PORTS_TCP = [5060, 5061, 5062, 5160, 5164, 5573, 5574, 9900];

/** Throw when a fixed lab port is taken (another lab, or a stock kamailio service). */
async function assertPortsFree(): Promise<void> {
  const udp = boundUdpPorts();
  const busy = LAB_PORTS_UDP.filter((p) => udp.has(p)).map((p) => `udp ${p}`);
  for (const p of LAB_PORTS_TCP) if (await tcpOpen(p, 200)) busy.push(`tcp ${p}`);
  if (busy.length) {
    const stale = processesNaming('/tmp/callprobe-lab-')
      .map((p) => `\n  pid ${p.pid}: ${p.cmd.slice(0, 120)}`)
      .join('');
    throw new Error(
      `lab: ports already in use (${busy.join(', ')}): another lab or a system kamailio/rtpengine is running ` +
        `(integration tests must run one at a time: flock ${LAB.lockFile} ...)` +
        (stale ? `\nlab processes from another (crashed?) run:${stale}` : ''),
    );
  }
}

const BARESIP = {
  '1003': { sipPort: LAB.ports.baresip1003, rtpMin: 17030, ctrlPort: LAB.ports.baresipCtrl1003, mode: 'auto' },
  '1004': { sipPort: LAB.ports.baresip1004, rtpMin: 17040, ctrlPort: LAB.ports.baresipCtrl1004, mode: 'manual' },
} as const;

function launchBaresip(workdir: string, user: '1003' | '1004'): ProcRecord {
  const b = BARESIP[user];
  const dir = writeBaresipConf(path.join(workdir, `baresip-${user}`), {
    user,
    password: USERS[user],
    sipPort: b.sipPort,
    rtpPortMin: b.rtpMin,
    rtpPortMax: b.rtpMin + 9,
    ctrlPort: b.ctrlPort,
    answermode: b.mode,
    audioFile: path.join(workdir, 'lab_audio_long.wav'),
  });
  return startDaemon(workdir, `baresip-${user}`, 'baresip', ['-f', dir], `baresip-${user}.log`);
}

async function waitBaresipsReady(recs: ProcRecord[]): Promise<void> {
  await waitFor('baresip 1003 and 1004 registered', 10_000, async () => {
    for (const b of recs) assertAlive(b);
    const ul = parseUlDump(await kamcmdOn('main', 'ul.dump'));
    return (ul.get('1003')?.length ?? 0) > 0 && (ul.get('1004')?.length ?? 0) > 0;
  });
  await waitFor('baresip ctrl_tcp', 5_000, async () =>
    (await tcpOpen(LAB.ports.baresipCtrl1003)) && tcpOpen(LAB.ports.baresipCtrl1004),
  );
}

/**
 * Restart both baresips (stop by PID, start again): after a main kamailio
 * restart its in-memory location table is empty and baresip would only
 * re-register after regint.
 */
export async function restartBaresips(): Promise<void> {
  const w = labWorkdir();
  await Promise.all(
    (['1003', '1004'] as const).map(async (u) => {
      const rec = getProcess(w, `baresip-${u}`);
      if (rec) {
        await stopRecorded(rec, 2500);
        forgetProcess(w, rec.name);
      }
    }),
  );
  await waitBaresipsReady((['1003', '1004'] as const).map((u) => launchBaresip(w, u)));
}

async function launchRtpengine(workdir: string): Promise<ProcRecord> {
  const rtp = startDaemon(
    workdir,
    'rtpengine',
    'rtpengine',
    [
      '--config-file=none', '--foreground', '--log-stderr', '--table=-1',
      `--interface=${LAB.host}`, `--listen-ng=${LAB.host}:${LAB.ports.rtpengineNg}`,
      `--listen-cli=${LAB.host}:${LAB.ports.rtpengineCli}`,
      `--port-min=${LAB.rtpengineRange[0]}`, `--port-max=${LAB.rtpengineRange[1]}`,
      '--delete-delay=0', `--pidfile=${path.join(workdir, 'rtpengine.pid')}`,
    ],
    'rtpengine.log',
  );
  await waitFor('rtpengine ng ping', 10_000, async () => {
    assertAlive(rtp);
    return rtpenginePing();
  });
  return rtp;
}

/** PID of a running lab process by name (kamailio, kamailio-direct, rtpengine, carrier, baresip-100X), or undefined. */
export function labPid(name: string): number | undefined {
  const rec = getProcess(labWorkdir(), name);
  return rec && isSameProcessAlive(rec) ? rec.pid : undefined;
}

/** SIGKILL rtpengine by PID (no clean-up: calls it relays just lose their media); its record is removed. */
export async function killRtpengine(): Promise<void> {
  const w = labWorkdir();
  const rec = getProcess(w, 'rtpengine');
  if (!rec) return;
  if (isSameProcessAlive(rec)) process.kill(rec.pid, 'SIGKILL');
  await waitFor(`rtpengine pid ${rec.pid} to die`, 5_000, () => Promise.resolve(!isSameProcessAlive(rec)));
  forgetProcess(w, 'rtpengine');
}

/**
 * Start rtpengine again (after killRtpengine) and tell the main kamailio it is
 * back at once (it would skip it for rtpengine_disable_tout after failures).
 */
export async function startRtpengine(): Promise<number> {
  const w = labWorkdir();
  const old = getProcess(w, 'rtpengine');
  if (old && isSameProcessAlive(old)) throw new Error(`lab: rtpengine is already running (pid ${old.pid})`);
  const rec = await launchRtpengine(w);
  await kamcmd('rtpengine.enable', 'all', '1');
  return rec.pid;
}

export async function startLab(opts: StartLabOptions = {}): Promise<LabHandle> {
  const t0 = performance.now();
  const log = opts.log ?? ((): void => undefined);
  const missing = missingTools();
  if (missing.length) {
    throw new Error(`lab: missing tools: ${missing.join(', ')}. Install them with: sudo bash test/lab/install.sh`);
  }
  await assertPortsFree();
  const workdir = opts.workdir ?? fs.mkdtempSync('/tmp/callprobe-lab-');
  process.env[WORKDIR_ENV] = workdir;
  const handle: LabHandle = { workdir, pids: {}, startMs: 0 };
  try {
    copyStatic(workdir);
    await Promise.all([makeCerts(workdir), makeAudio(workdir)]);
    log(`lab: files ready in ${Math.round(performance.now() - t0)} ms`);

    // rtpengine first, or kamailio marks it dead for rtpengine_disable_tout
    handle.pids.rtpengine = (await launchRtpengine(workdir)).pid;

    const [kMain, kDirect, kCarrier] = await Promise.all([
      launchKamailio(workdir, 'main'),
      launchKamailio(workdir, 'direct'),
      launchKamailio(workdir, 'carrier'),
    ]);
    handle.pids.kamailio = kMain.pid;
    handle.pids['kamailio-direct'] = kDirect.pid;
    handle.pids['kamailio-carrier'] = kCarrier.pid;
    log(`lab: rtpengine + kamailio up at ${Math.round(performance.now() - t0)} ms`);

    const carrier = startDaemon(
      workdir,
      'carrier',
      'sipp',
      [
        '-sf', path.join(workdir, 'sipp', 'uas_answer.xml'), '-i', LAB.host, '-p', String(LAB.ports.carrier),
        '-mi', LAB.host, '-mp', String(LAB.ports.carrierRtp), '-nostdin', '-trace_err', '-cp', '8899',
        '-s', 'carrier',
      ],
      'carrier.log',
    );
    handle.pids.carrier = carrier.pid;

    const baresips = (['1003', '1004'] as const).map((u) => launchBaresip(workdir, u));
    for (const b of baresips) handle.pids[b.name] = b.pid;
    await waitFor('carrier SIPp on udp 5090', 10_000, () => {
      assertAlive(carrier);
      return boundUdpPorts().has(LAB.ports.carrier);
    });
    await waitBaresipsReady(baresips);
    handle.startMs = Math.round(performance.now() - t0);
    log(`lab: up in ${handle.startMs} ms (workdir ${workdir})`);
    return handle;
  } catch (e) {
    await stopLab(handle).catch(() => undefined);
    (e as Error).message += `\nlab logs kept in ${workdir}`;
    throw e;
  }
}

export interface StopLabResult {
  /** processes that were still alive after their SIGTERM grace and had to be SIGKILLed */
  killed: ProcRecord[];
  /** processes recorded by tests (spawnTracked/capture/sipp) still running at teardown */
  leftovers: ProcRecord[];
  /** processes still alive after everything (should be empty) */
  survivors: ProcRecord[];
}

const LAB_DAEMONS = ['baresip-1003', 'baresip-1004', 'carrier', 'kamailio', 'kamailio-direct', 'kamailio-carrier', 'rtpengine'];

/**
 * Stop every recorded process by PID (test leftovers first, then the daemons,
 * rtpengine last), then scan /proc for any process whose command line still
 * names the workdir (e.g. kamailio children) and kill those too, by PID.
 */
export async function stopLab(handle: Pick<LabHandle, 'workdir'>): Promise<StopLabResult> {
  const w = handle.workdir;
  const res: StopLabResult = { killed: [], leftovers: [], survivors: [] };
  const recs = listProcesses(w);
  // vitest gives the whole teardown 10 s (teardownTimeout): keep the graces short
  const tests = recs.filter((r) => !LAB_DAEMONS.includes(r.name));
  await Promise.all(
    tests.map(async (r) => {
      if (isSameProcessAlive(r)) {
        res.leftovers.push(r);
        if (await stopRecorded(r, 1500)) res.killed.push(r);
      }
      forgetProcess(w, r.name);
    }),
  );
  const byName = new Map(recs.map((r) => [r.name, r]));
  const stopGroup = async (names: string[], graceMs: number): Promise<void> => {
    await Promise.all(
      names.map(async (n) => {
        const r = byName.get(n);
        if (!r) return;
        if (await stopRecorded(r, graceMs)) res.killed.push(r);
        if (!isSameProcessAlive(r)) forgetProcess(w, n);
      }),
    );
  };
  await stopGroup(['baresip-1003', 'baresip-1004', 'carrier'], 2500);
  await stopGroup(['kamailio', 'kamailio-direct', 'kamailio-carrier'], 2500);
  await stopGroup(['rtpengine'], 1500);

  for (const r of recs) if (isSameProcessAlive(r)) res.survivors.push(r);
  for (const r of processesNaming(w)) {
    if (res.survivors.some((s) => s.pid === r.pid)) continue;
    res.survivors.push(r);
    await stopRecorded(r, 500);
  }
  return res;
}

/** Processes (not us) whose command line contains `needle`. */
export function processesNaming(needle: string): ProcRecord[] {
  const out: ProcRecord[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (!cmd.includes(needle)) continue;
    const startTime = procStartTime(pid);
    if (startTime === null) continue;
    out.push({ name: `unrecorded-${pid}`, pid, startTime, cmd });
  }
  return out;
}
