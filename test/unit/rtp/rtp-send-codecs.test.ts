// `probe rtp send --codec G722|opus` → `probe rtp listen` through the shipped CLI on
// 127.0.0.1 (one listener, two senders at once): the listener recognises each payload type
// (Opus on dynamic PT 111 by default), reads jitter on the codec's RTP clock and rates
// the streams with the wideband E-model. --opus-pt and the flag checks at library level.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/exit.js';
import { parseSendCodec } from '../../../src/cli/rtp.js';
import { runListen, runSend, type ListenResult, type SendResult } from '../../../src/rtp/listen-send.js';
import { bindPair } from '../../../src/rtp/ports.js';
import { runCli } from '../cli/run-cli.js';

const probe = (args: string[]): ReturnType<typeof runCli> => runCli(args, { timeoutMs: 35_000 });

describe('probe rtp send/listen with wideband codecs', () => {
  it('CLI: opus (PT 111) and G722 (PT 9, ptime 30) both received whole, wideband MOS 4.18 / 4.34', async () => {
    // --idle ends the listener soon after the senders stop; --duration bounds it otherwise.
    const listening = probe(['rtp', 'listen', '--bind', '127.0.0.1:25310', '--duration', '25s', '--idle', '1s', '--json']);
    await new Promise((r) => setTimeout(r, 1500)); // the listener's process start
    const [opus, g722] = await Promise.all([
      probe(['rtp', 'send', '--to', '127.0.0.1:25310', '--bind', '127.0.0.1:25312', '--codec', 'opus', '--duration', '1s', '--json']),
      probe(['rtp', 'send', '--to', '127.0.0.1:25310', '--bind', '127.0.0.1:25314', '--codec', 'g722', '--ptime', '30', '--duration', '1s', '--json']),
    ]);
    const heard = await listening;
    for (const p of [opus, g722, heard]) expect(p.code, p.stderr).toBe(0);
    const sentOpus = JSON.parse(opus.stdout) as SendResult;
    const sentG722 = JSON.parse(g722.stdout) as SendResult;
    const { streams } = JSON.parse(heard.stdout) as ListenResult;
    expect(sentOpus.codec).toBe('opus');
    expect(sentG722).toMatchObject({ codec: 'G722', ptime_ms: 30 });
    const o = streams.find((s) => s.payload_type === 111);
    const g = streams.find((s) => s.payload_type === 9);
    expect(o).toMatchObject({ codec: 'opus', packets_lost: 0, r_factor: 109.04, mos: 4.18 });
    expect(o?.packets_received).toBe(sentOpus.packets_sent);
    expect(g).toMatchObject({ codec: 'G722', packets_lost: 0, r_factor: 116, mos: 4.34 });
    expect(g?.packets_received).toBe(sentG722.packets_sent);
  }, 40_000);

  it('--opus-pt: 111 is not Opus for a listener told 120 (counted, no codec, no MOS)', async () => {
    const listenPorts = await bindPair('127.0.0.1', 25320);
    const listening = runListen({ ports: listenPorts, durationMs: 5000, idleMs: 300, opusPt: 120 });
    const sent = await runSend({ ports: await bindPair('127.0.0.1', 25322), to: { address: '127.0.0.1', port: 25320 }, durationMs: 400, codec: 'opus', ptimeMs: 20, echo: false });
    const heard = await listening;
    expect(heard.streams[0]).toMatchObject({ payload_type: 111, codec: null, mos: null, packets_received: sent.packets_sent });
  });

  it('send flags: a ptime Opus frames cannot carry, an unknown codec, a list', () => {
    expect(parseSendCodec('OPUS', 40)).toBe('opus');
    expect(() => parseSendCodec('opus', 30)).toThrow(/--ptime: opus takes 10, 20, 40, 60 ms/);
    expect(() => parseSendCodec('iLBC', 20)).toThrow(UsageError);
    expect(() => parseSendCodec('PCMU,PCMA', 20)).toThrow(/--codec: one of/);
  });
});
