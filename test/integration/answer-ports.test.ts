// `probe answer` with a small --rtp-ports range (issue 21 item 4): every ended
// call gives its RTP pair back, so 5 pairs answer 100 sequential SIPp calls;
// with every pair busy, an INVITE gets 503 with Retry-After instead of ringing
// for ever, and once a call ends the next INVITE is answered again. With
// --shared-port (issue 19), one pair carries several concurrent calls.
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boundUdpPorts, freeUdpPort, labWorkdir, sipp, sippStart, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';
import type { AnsweredCallReport } from '../../src/cli/answer.js';
import { jsonOf, runProbe } from './helpers/far-end.js';
import { probeCommand, ROOT } from './helpers/impairment.js';

const H = '127.0.0.1';
const started: TrackedProcess[] = [];

/** `probe answer` on a free port; resolves once it listens. */
async function startAnswer(args: string[]): Promise<{ proc: TrackedProcess; port: number }> {
  const port = await freeUdpPort();
  const [cmd, argv] = probeCommand(['answer', '--bind', `${H}:${port}`, '--json', ...args]);
  const proc = spawnTracked(cmd, argv, { cwd: ROOT });
  started.push(proc);
  const until = Date.now() + 20_000;
  while (!boundUdpPorts().has(port)) {
    if (Date.now() > until) throw new Error(`probe answer did not start: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port };
}

/** One INVITE (PCMU offer) over a raw UDP socket; resolves with the first final response's text. */
async function rawInvite(port: number, callId: string): Promise<string> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, H, () => r()));
  const lp = sock.address().port;
  const sdp = `v=0\r\no=t 1 1 IN IP4 ${H}\r\ns=t\r\nc=IN IP4 ${H}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
  const msg =
    `INVITE sip:answer@${H}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${H}:${lp};branch=z9hG4bK-${callId}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:t@${H}>;tag=t-${callId}\r\nTo: <sip:answer@${H}:${port}>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\n` +
    `Contact: <sip:t@${H}:${lp}>\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`;
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response to INVITE ${callId} within 5 s`)), 5000);
      sock.on('message', (m) => {
        const text = m.toString();
        if (/^SIP\/2\.0 [2-6]\d\d /.test(text)) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      sock.send(msg, port, H);
    });
  } finally {
    sock.close();
  }
}

function jsonLines<T = { call_id: string; packets_received: number; failures: unknown[] }>(text: string): T[] {
  return text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

describe('probe answer with 5 RTP port pairs', () => {
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop(2000)));
  });

  it('answers 100 sequential calls (ended calls release their ports)', async () => {
    const { proc, port } = await startAnswer(['--rtp-ports', '17100-17109', '--calls', '100', '--quiet']);
    const sippPort = await freeUdpPort();
    const t0 = Date.now();
    const r = await sipp(
      'uac_call.xml',
      [`${H}:${port}`, '-m', '100', '-l', '1', '-r', '50', '-i', H, '-p', String(sippPort), '-mi', H, '-mp', '16894', '-s', 'answer', '-key', 'caller', '1001', '-d', '100'],
      { timeoutMs: 60_000 },
    );
    const ms = Date.now() - t0;
    // SIPp stopped at its timeout would still exit 0: count what it says completed
    const stat = (name: string): number => Number(new RegExp(`${name}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(r.stdout)?.[1] ?? NaN);
    expect(stat('Successful call'), `${r.stdout.slice(-1500)}\n${r.errors}`).toBe(100);
    expect(stat('Failed call')).toBe(0);
    expect(r.code).toBe(0);
    expect(ms).toBeLessThan(55_000);
    const done = await Promise.race([proc.exited, new Promise<null>((res) => setTimeout(() => res(null), 10_000))]);
    expect(done, proc.stderr()).not.toBeNull();
    const calls = jsonLines(proc.stdout());
    expect(calls).toHaveLength(100);
    expect(new Set(calls.map((c) => c.call_id)).size).toBe(100);
    process.stderr.write(`probe answer: 100 sequential SIPp calls on 5 RTP pairs in ${ms} ms, exit ${done?.code}\n`);
  }, 90_000);

  it('answers 503 with Retry-After while every pair is busy, and answers again once a call ended', async () => {
    const { port } = await startAnswer(['--rtp-ports', '17110-17113', '--quiet']); // 2 pairs
    const sippPort = await freeUdpPort();
    // two calls that hold both pairs for 4 s
    const busy = await sippStart('uac_call.xml', [
      `${H}:${port}`, '-m', '2', '-l', '2', '-r', '10', '-i', H, '-p', String(sippPort), '-mi', H, '-mp', '16896', '-s', 'answer', '-key', 'caller', '1001', '-d', '4000',
    ]);
    started.push(busy);
    await new Promise((r) => setTimeout(r, 1500));
    const rejected = await rawInvite(port, 'third-call');
    expect(rejected).toMatch(/^SIP\/2\.0 503 /);
    expect(rejected).toMatch(/\r\nRetry-After: 5\r\n/i);
    const sippDone = await busy.exited;
    expect(sippDone.code).toBe(0);
    // both calls ended with BYE: their pairs are free again
    expect(await rawInvite(port, 'after-release')).toMatch(/^SIP\/2\.0 200 /);
  }, 40_000);

  it('--shared-port: three concurrent probe calls on ONE RTP pair, each stream in its own call (markers match at both ends, 0 lost)', async () => {
    // 17120-17121 holds a single pair: without --shared-port the 2nd and 3rd INVITE would get 503
    const { proc, port } = await startAnswer(['--rtp-ports', '17120-17121', '--shared-port', '--calls', '3', '--duration-max', '30s']);
    const runs = await Promise.all(
      [0, 1, 2].map((i) => {
        const config = path.join(labWorkdir(), `answer-shared-${i}.yaml`);
        const rtp = 17130 + 10 * i;
        fs.writeFileSync(config, `pbx: { uri: "sip:${H}:${port}" }\nrtp: { port_min: ${rtp}, port_max: ${rtp + 9} }\nstate_dir: ${labWorkdir()}/answer-shared-${i}-state\n`);
        return runProbe(['call', `caller${i}`, 'far', '--direct', `sip:far@${H}:${port}`, '--codec', 'PCMU', '--duration', '4s', '--json', '--config', config], { killAfterMs: 40_000 });
      }),
    );
    const exited = await Promise.race([proc.exited, new Promise<null>((res) => setTimeout(() => res(null), 10_000))]);
    expect(exited, proc.stderr()).not.toBeNull();
    const answered = jsonLines<AnsweredCallReport>(proc.stdout());
    const results = runs.map((r) => jsonOf<CallResult>(r));
    process.stderr.write(
      `probe answer --shared-port: callers ${JSON.stringify(results.map((r, i) => ({ exit: runs[i]?.code, failures: r.failures.map((f) => f.check), dirs: r.media?.directions.map((d) => [d.direction, d.packets_sent, d.packets_received, d.packets_lost]) })))}; ` +
        `answer ${JSON.stringify(answered.map((a) => ({ sent: a.packets_sent, received: a.packets_received, lost: a.packets_lost, markers: a.audio?.markers_heard, foreign: a.audio?.markers_foreign })))}\n`,
    );
    expect(answered, proc.stderr()).toHaveLength(3);
    for (const [i, r] of results.entries()) {
      expect(r.sip.final_status, runs[i]?.stderr).toBe(200);
      expect(r.failures, runs[i]?.stderr).toEqual([]);
      expect(runs[i]?.code).toBe(0);
      const heard = r.media?.directions.find((d) => d.direction === 'callee_to_caller');
      expect(heard?.packets_lost).toBe(0);
      expect(heard?.packets_received).toBeGreaterThan(100); // 4 s of 20 ms packets
      // 4 s: the far end's second marker (2.8-3.3 s of its stream, which starts by our answer) always
      // fits; in a 3 s call only its first (0.3-0.8 s) did, missed when our 200 OK handling lagged.
      expect(heard?.audio?.marker_match).toBe(true);
      expect(heard?.audio?.markers_foreign).toBe(0);
      // the callee side of the same call: what this caller sent, all of it, and only its markers
      const a = answered.find((x) => x.call_id === r.sip.call_id);
      const sent = r.media?.directions.find((d) => d.direction === 'caller_to_callee')?.packets_sent ?? -1;
      expect(a, `answer report of call ${i}`).toBeDefined();
      // every packet the caller sent, no more (its packets_lost also counts the ptimes between the
      // caller's last packet and its BYE, the answer report's whole-call rule: not what is checked here)
      expect(a?.packets_received).toBe(sent);
      expect(a?.audio?.marker_match).toBe(true);
      expect(a?.audio?.markers_foreign).toBe(0);
      expect(a?.failures).toEqual([]);
    }
    expect(exited?.code).toBe(0);
  }, 60_000);
});
