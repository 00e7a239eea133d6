// Issue 18 item 4: a far end whose content report nobody reads (a scenario's answerer)
// runs no content analysis: no marked signal built, nothing decoded for it. A listening
// step's own tap (expect_prompt, record on the callee leg) still gets every frame.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Answerer } from '../../../src/call/answerer.js';
import { probeCall } from '../../../src/probes/call/probe.js';
import { PortAllocator } from '../../../src/rtp/ports.js';
import type { AudioTap } from '../../../src/rtp/receive-streams.js';
import { UserAgent } from '../../../src/sip/ua.js';

const logger = pino({ level: 'silent' });
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** An answering UA set up as the scenario driver does (no `content` option). */
async function scenarioLikeAnswerer(audioTap: AudioTap | undefined): Promise<{ uri: string; answerer: Answerer }> {
  const ua = await UserAgent.create({ server: 'sip:127.0.0.1', transport: 'udp', localAddress: '127.0.0.1', localPort: 0, user: 'callee', logger });
  const ports = new PortAllocator({ min: 19860, max: 19879, address: '127.0.0.1' });
  const answerer = new Answerer({ ua, ports, mediaAddress: '127.0.0.1', codecs: ['PCMU'], logger, audioTap });
  closers.push(async () => {
    await answerer.close();
    await ua.close();
  });
  return { uri: `sip:callee@127.0.0.1:${ua.localPort}`, answerer };
}

async function call(uri: string, answerer: Answerer): Promise<Awaited<ReturnType<typeof probeCall>>> {
  return probeCall(
    { logger, signal: new AbortController().signal },
    { from: { user: 'tester' }, to: 'callee', direct: uri, directAnswerer: answerer, localAddress: '127.0.0.1', durationMs: 1500, ringTimeoutMs: 3000, codecs: ['PCMU'], rtpPortMin: 19880, rtpPortMax: 19899 },
  );
}

describe('content analysis only where it is read', () => {
  it('a scenario-like answerer (no content option): no analysis, no audio section for its direction; the caller still analyses', async () => {
    const { uri, answerer } = await scenarioLikeAnswerer(undefined);
    const r = await call(uri, answerer);
    expect(r.failures).toEqual([]);
    const [toCallee, toCaller] = r.media?.directions ?? [];
    expect(toCallee?.packets_received).toBeGreaterThan(50);
    expect(toCallee?.audio).toBeUndefined();
    expect(answerer.get(r.sip.call_id ?? '')?.content).toBeUndefined();
    // the caller's own analysis is untouched: it hears the answerer's unmarked built-in signal
    expect(toCaller?.audio).toMatchObject({ present: true, markers_heard: 0, markers_foreign: 0 });
  });

  it('with a listening step\'s tap (expect_prompt on the callee leg): the tap gets every frame decoded', async () => {
    let frames = 0;
    let samples = 0;
    const tap: AudioTap = () => ({
      onFrame: (pcm) => {
        frames++;
        samples += pcm.length;
      },
    });
    const { uri, answerer } = await scenarioLikeAnswerer(tap);
    const r = await call(uri, answerer);
    const toCallee = r.media?.directions[0];
    expect(r.failures).toEqual([]);
    expect(toCallee?.audio).toBeUndefined();
    expect(frames).toBe(toCallee?.packets_received);
    expect(samples).toBe(frames * 160);
  });
});
