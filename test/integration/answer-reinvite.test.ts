// Issue 14 item 5: `probe answer` (the shipped CLI) answers a far end's re-INVITEs per
// RFC 3264 instead of repeating its first SDP: hold (sendonly → recvonly, inactive →
// inactive) stops its RTP, a session refresh gets the identical SDP back (same o=
// version), unhold with a new m= port moves its RTP there; o= version goes up by one
// exactly when the SDP changed. The far end is scripted in the test: a UAC (the
// project's UA) and two RTP sockets that count what arrives.
import dgram from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { buildOffer } from '../../src/call/sdp.js';
import { UserAgent } from '../../src/sip/ua.js';
import { boundUdpPorts, freeUdpPort, spawnTracked, type TrackedProcess } from '../lab/lab.js';
import { probeCommand, ROOT } from './helpers/impairment.js';

const H = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let answer: TrackedProcess | undefined;
let ua: UserAgent | undefined;
const sockets: dgram.Socket[] = [];

afterAll(async () => {
  await ua?.close();
  for (const s of sockets) s.close();
  await answer?.stop();
});

async function counter(): Promise<{ port: number; count: () => number }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  let n = 0;
  s.on('message', () => n++);
  await new Promise<void>((r) => s.bind(0, H, r));
  return { port: s.address().port, count: () => n };
}

async function until(what: string, pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** o= session version, the audio direction and the m= port of an SDP. */
function sdpOf(sdp: string | undefined): { version: number; direction: string; port: number } {
  const text = sdp ?? '';
  return {
    version: Number(/^o=\S+ \S+ (\d+) /m.exec(text)?.[1]),
    direction: /^a=(sendrecv|sendonly|recvonly|inactive)\r?$/m.exec(text)?.[1] ?? 'sendrecv',
    port: Number(/^m=audio (\d+) /m.exec(text)?.[1]),
  };
}

/** Packets arriving at `c` within `ms` after a pause for those already in flight. */
async function arrivals(c: { count: () => number }, ms: number): Promise<number> {
  await sleep(100);
  const before = c.count();
  await sleep(ms);
  return c.count() - before;
}

describe('probe answer: re-INVITE per RFC 3264 (issue 14 item 5)', () => {
  it('hold, inactive, session refresh, unhold to a new port: answers and RTP follow the offers', async () => {
    const port = await freeUdpPort();
    const [cmd, argv] = probeCommand(['answer', '--bind', `${H}:${port}`, '--rtp-ports', '19130-19139', '--calls', '1', '--json']);
    answer = spawnTracked(cmd, argv, { cwd: ROOT, name: 'probe-answer-reinvite' });
    await until('probe answer to listen', () => boundUdpPorts().has(port), 20_000);

    const a = await counter();
    const b = await counter();
    ua = await UserAgent.create({ server: `sip:${H}:${port}`, transport: 'udp', user: 'far-end' });
    const call = ua.invite(`sip:answer@${H}:${port}`, { sdp: buildOffer(H, a.port, ['PCMU']) });
    const outcome = await call.outcome;
    expect(outcome.ok, outcome.reason).toBe(true);
    const dialog = outcome.dialog;
    if (!dialog) throw new Error('no dialog');
    const first = sdpOf(outcome.remoteSdp);
    expect(first.direction).toBe('sendrecv');
    await until('RTP from probe answer at the first port', () => a.count() >= 10, 5000);

    // Hold: sendonly → recvonly, version + 1, same port; its RTP stops.
    const hold = await dialog.reinvite(buildOffer(H, a.port, ['PCMU'], 20, 'sendonly'));
    expect(hold.ok).toBe(true);
    expect(sdpOf(hold.remoteSdp)).toEqual({ version: first.version + 1, direction: 'recvonly', port: first.port });
    expect(await arrivals(a, 400)).toBe(0);

    // Inactive both ways: inactive, version + 1.
    const inactive = await dialog.reinvite(buildOffer(H, a.port, ['PCMU'], 20, 'inactive'));
    expect(sdpOf(inactive.remoteSdp)).toEqual({ version: first.version + 2, direction: 'inactive', port: first.port });

    // Session refresh (the same offer again): the identical SDP, version unchanged.
    const refresh = await dialog.reinvite(buildOffer(H, a.port, ['PCMU'], 20, 'inactive'));
    expect(refresh.remoteSdp).toBe(inactive.remoteSdp);
    expect(await arrivals(a, 300)).toBe(0);

    // Unhold at a new port: sendrecv, version + 1; RTP now arrives at the new port only.
    const unhold = await dialog.reinvite(buildOffer(H, b.port, ['PCMU']));
    expect(sdpOf(unhold.remoteSdp)).toEqual({ version: first.version + 3, direction: 'sendrecv', port: first.port });
    await until('RTP from probe answer at the new port', () => b.count() >= 10, 5000);
    expect(await arrivals(a, 300)).toBe(0);
    // 20 ms packets: ~15 in 300 ms; at least a third even on a loaded machine.
    expect(await arrivals(b, 300)).toBeGreaterThanOrEqual(5);

    await dialog.bye();
    // --calls 1: it exits by itself after the BYE, with the call's report.
    const exit = await answer.exited;
    const report = JSON.parse(answer.stdout().trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as { ended_by?: string; failures?: unknown[] };
    expect(report.ended_by).toBe('remote');
    expect(exit.code).toBe((report.failures ?? []).length > 0 ? 1 : 0);
  });
});
