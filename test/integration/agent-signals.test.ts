// Issue 7, acceptance 4: what a stop does to a call in progress.
// - SIGTERM during a call: the agent's caller UA sends BYE, gets its 200 OK and
//   unregisters 1001/1002 before the process exits (code 0, within 10 s); the
//   capture on port 5060 is the witness.
// - kill -9 during a call: nothing can be sent, so the PBX keeps what it holds
//   (the two registrations, rtpengine's media session) until its own timers
//   clean up; docs/operations.md "Stopping and crashes" gives the figures.
//   The lab's Kamailio loads no dialog module, so it keeps no call state of its own.
//   CALLPROBE_MEASURE_KILL9=1 also waits (bounded, ~2.5 min) for those timers and
//   prints how long they took; by default the test cleans up with kamcmd/rtpengine-ctl.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { capture, freeTcpPort, kamailioLog, kamcmd, LAB, spawnTracked, USERS, type TrackedProcess } from '../lab/lab.js';
import { until } from './helpers/agent.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'cp-agent-signals-'));
const MEASURE_KILL9 = process.env.CALLPROBE_MEASURE_KILL9 === '1';
const AGENT_USERS = ['1001', '1002'] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Live bindings ("<aor> <contact>") of the agent's two users from `ul.dump`. A contact
 * past its Expires is no binding any more (lookup skips it) even while usrloc still
 * lists it as "expired" until its next timer run (timer_interval, 60 s).
 */
async function contactsOf(): Promise<Set<string>> {
  const out = new Set<string>();
  let aor: string | undefined;
  let address: string | undefined;
  for (const line of (await kamcmd('ul.dump')).split('\n')) {
    const a = /^\s*AoR:\s*(\S+)/.exec(line);
    if (a) [aor, address] = [a[1], undefined];
    const c = /^\s*Address:\s*(\S+)/.exec(line);
    if (c) address = c[1];
    const e = /^\s*Expires:\s*(\S+)/.exec(line);
    if (e && address !== undefined && aor !== undefined && (AGENT_USERS as readonly string[]).includes(aor)) {
      const left = Number(e[1]);
      if (e[1] !== 'expired' && e[1] !== 'deleted' && !(Number.isFinite(left) && left <= 0)) out.add(`${aor} ${address}`);
      address = undefined;
    }
  }
  return out;
}

/** Call-IDs rtpengine holds a media session for (`list sessions all`). */
async function rtpengineCalls(): Promise<string[]> {
  const { stdout } = await execFileP('rtpengine-ctl', ['-ip', `127.0.0.1:${LAB.ports.rtpengineCli}`, 'list', 'sessions', 'all'], { timeout: 5000 });
  // "callid: <id, right-aligned to 60> | deletionmark: no | created: ..." or "No sessions on this media relay."
  return [...stdout.matchAll(/callid:\s*(\S+)\s*\|/g)].map((m) => m[1] ?? '');
}

interface AgentRun {
  agent: TrackedProcess;
  /** Kamailio log length before the agent started: only newer lines are ours. */
  logFrom: number;
}

async function startAgent(name: string): Promise<AgentRun> {
  const port = await freeTcpPort();
  const config = join(dir, `${name}.yaml`);
  const probes = join(dir, `${name}-probes.yaml`);
  writeFileSync(
    config,
    stringify({
      pbx: { uri: 'sip:127.0.0.1:5060', transport: 'udp' },
      accounts: Object.fromEntries(AGENT_USERS.map((u) => [u, { password: USERS[u] }])),
      probes_dir: dir,
      state_dir: dir,
    }),
  );
  // One call long enough to be interrupted; its next run would be an hour later.
  writeFileSync(probes, stringify({ probes: [{ name: 'call-signal', kind: 'call', from: '1001', to: '1002', duration: '20s', interval: '1h' }] }));
  const logFrom = kamailioLog().length;
  const agent = spawnTracked(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'agent', '--config', config, '--probes', probes, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'],
    { cwd: ROOT, name: `callprobe-agent-${name}` },
  );
  running.add(agent);
  void agent.exited.then(() => running.delete(agent));
  await until('the agent to listen', async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined), 20_000, 250);
  return { agent, logFrom };
}

/** The Call-ID once Kamailio relayed the 200 OK for the agent's INVITE 1001 → 1002 (acc log line). */
async function waitAnswered(run: AgentRun): Promise<string> {
  // first run: within the scheduler's start offset (≤ 10 s) plus registration and setup
  return until(
    'the agent call 1001 → 1002 to be answered (kamailio ACC code=200)',
    () => {
      const text = kamailioLog().slice(run.logFrom);
      return /method=INVITE;[^\n]*call_id=([^;\n]+);code=200;[^\n]*src_user=1001;[^\n]*dst_user=1002/.exec(text)?.[1];
    },
    25_000,
  );
}

interface SipFrame {
  t: number;
  src: number;
  dst: number;
  method: string;
  status: string;
  cseqMethod: string;
  callId: string;
}

async function sipFrames(pcap: string): Promise<SipFrame[]> {
  const { stdout } = await execFileP(
    'tshark',
    ['-r', pcap, '-Y', 'sip', '-T', 'fields', '-E', 'separator=|', '-e', 'frame.time_epoch', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.CSeq.method', '-e', 'sip.Call-ID'],
    { timeout: 60_000, maxBuffer: 16 * 2 ** 20 },
  );
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [t, src, dst, method, status, cseqMethod, callId] = l.split('|');
      return { t: Number(t), src: Number(src), dst: Number(dst), method: method ?? '', status: status ?? '', cseqMethod: cseqMethod ?? '', callId: callId ?? '' };
    });
}

const running = new Set<TrackedProcess>();

afterAll(async () => {
  for (const a of running) await a.stop(10_000);
});

describe('probe agent stopped during a call', () => {
  it('SIGTERM: BYE and its 200 OK are on the wire, bindings removed, exit 0 within 10 s', async () => {
    const contactsBefore = await contactsOf();
    const cap = await capture({ filter: `udp port ${LAB.ports.udp}` });
    let pcap: string | undefined;
    try {
      const run = await startAgent('sigterm');
      const callId = await waitAnswered(run);
      await sleep(1500); // media flowing
      const ours = [...(await contactsOf())].filter((c) => !contactsBefore.has(c));
      expect(ours.map((c) => c.split(' ')[0]).sort(), `agent bindings: ${ours.join(', ')}`).toEqual(['1001', '1002']);

      const termAt = Date.now();
      process.kill(run.agent.pid, 'SIGTERM');
      const exit = await Promise.race([run.agent.exited, sleep(12_000).then(() => 'timeout' as const)]);
      const exitAt = Date.now();
      expect(exit, run.agent.stderr().slice(-2000)).toEqual({ code: 0, signal: null });
      expect(exitAt - termAt).toBeLessThan(10_000);
      expect(run.agent.stderr()).not.toMatch(/did not stop in time|internal error/);
      pcap = await cap.stop();

      const frames = (await sipFrames(pcap)).filter((f) => f.callId === callId);
      const invite = frames.find((f) => f.method === 'INVITE' && f.dst === LAB.ports.udp);
      if (invite === undefined) throw new Error(`no INVITE for ${callId} in ${pcap}`);
      const callerPort = invite.src;
      const bye = frames.find((f) => f.method === 'BYE' && f.src === callerPort && f.dst === LAB.ports.udp);
      const byeOk = frames.find((f) => f.status === '200' && f.cseqMethod === 'BYE' && f.dst === callerPort);
      expect(bye, `BYE from the caller UA (port ${callerPort}) in ${pcap}`).toBeDefined();
      expect(byeOk, `200 OK to the BYE in ${pcap}`).toBeDefined();
      // sent because of the signal (the call had ~18 s left), answered before the process ended
      expect((bye?.t ?? 0) * 1000).toBeGreaterThanOrEqual(termAt - 50);
      expect((byeOk?.t ?? Infinity) * 1000).toBeLessThanOrEqual(exitAt);
      expect(bye?.t ?? 0).toBeLessThanOrEqual(byeOk?.t ?? 0);
      // the in-dialog BYE was relayed to the agent's own callee UA (1002), which answered it
      expect(frames.some((f) => f.method === 'BYE' && f.src === LAB.ports.udp)).toBe(true);

      const left = [...(await contactsOf())].filter((c) => ours.includes(c));
      expect(left, 'agent bindings still registered after SIGTERM').toEqual([]);
      // Kamailio's rtpengine_manage on the BYE deleted the media session
      await until('rtpengine to delete the session', async () => ((await rtpengineCalls()).includes(callId) ? undefined : true), 3000);
    } finally {
      pcap ??= await cap.stop();
    }
  });

  it(
    'kill -9: bindings and the rtpengine session stay behind until the PBX timers clear them',
    async () => {
      const contactsBefore = await contactsOf();
      const run = await startAgent('sigkill');
      const callId = await waitAnswered(run);
      await sleep(1500);
      const ours = [...(await contactsOf())].filter((c) => !contactsBefore.has(c));
      expect(ours).toHaveLength(2);
      expect(await rtpengineCalls()).toContain(callId);

      const killedAt = Date.now();
      process.kill(run.agent.pid, 'SIGKILL');
      expect(await run.agent.exited).toEqual({ code: null, signal: 'SIGKILL' });
      await sleep(1000);
      // No BYE, no un-REGISTER: what the PBX holds is unchanged.
      expect([...(await contactsOf())].filter((c) => ours.includes(c)).sort()).toEqual([...ours].sort());
      expect(await rtpengineCalls()).toContain(callId);

      if (MEASURE_KILL9) {
        // rtpengine --timeout (default 60 s without RTP); bindings: Expires 120 s of the call probe's REGISTER
        const mediaGoneMs = await until('rtpengine to drop the session', async () => ((await rtpengineCalls()).includes(callId) ? undefined : Date.now() - killedAt), 100_000, 1000);
        const regGoneMs = await until(
          'the bindings to expire',
          async () => ([...(await contactsOf())].some((c) => ours.includes(c)) ? undefined : Date.now() - killedAt),
          175_000 - mediaGoneMs,
          1000,
        );
        console.log(`kill -9 measured: rtpengine session gone after ${(mediaGoneMs / 1000).toFixed(1)} s, bindings gone after ${(regGoneMs / 1000).toFixed(1)} s`);
      } else {
        // Tidy up for the tests after us: remove exactly what the killed agent left.
        for (const c of ours) {
          const [aor, contact] = c.split(' ');
          if (aor !== undefined && contact !== undefined) await kamcmd('ul.rm_contact', 'location', `s:${aor}`, contact);
        }
        await execFileP('rtpengine-ctl', ['-ip', `127.0.0.1:${LAB.ports.rtpengineCli}`, 'terminate', callId], { timeout: 5000 });
        expect([...(await contactsOf())].filter((c) => ours.includes(c))).toEqual([]);
        await until('rtpengine to forget the terminated call', async () => ((await rtpengineCalls()).includes(callId) ? undefined : true), 5000);
      }
    },
    MEASURE_KILL9 ? 240_000 : 120_000,
  );
});
