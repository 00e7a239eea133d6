// The lab transcoding hook (test/lab/kamailio.cfg route XCODE) driven by the shipped CLI:
// `probe call 1001 1002 --dial xc.m-PCMU.t-PCMA.at.1002` reaches 1002 with a PCMA-only
// offer while the caller's leg stays PCMU, so rtpengine transcodes PCMU <-> PCMA.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, kamailioLog, removeBindings, rtpStreams } from '../lab/lab.js';
import { writeCallConfig } from './helpers/call-config.js';
import type { CallResult } from '../../src/probes/call/index.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const RTP: [number, number] = [16950, 16969];

beforeAll(async () => {
  await removeBindings(['1001', '1002']);
});

async function cli(args: string[]): Promise<{ r: CallResult; stderr: string }> {
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 30_000 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
  }
  if (!stdout.trim()) throw new Error(`probe ${args.join(' ')}: no JSON on stdout; stderr:\n${stderr}`);
  return { r: JSON.parse(stdout) as CallResult, stderr };
}

describe('lab transcoding hook through rtpengine (PCMU caller, PCMA callee)', () => {
  it('probe call --dial xc.m-PCMU.t-PCMA.at.1002: caller legs PCMU, callee legs PCMA, the call passes', async () => {
    const cfg = writeCallConfig('audio-xcode', { rtp: RTP });
    fs.appendFileSync(cfg, 'allowed_destinations: ["xc.*"]\n');
    const cap = await capture({ filter: `udp and (port 5060 or portrange 10000-14999 or portrange ${RTP[0]}-${RTP[1]})` });
    let out: Awaited<ReturnType<typeof cli>>;
    try {
      out = await cli(['call', '1001', '1002', '--dial', 'xc.m-PCMU.t-PCMA.at.1002', '--codec', 'PCMU,PCMA', '--duration', '2s', '--json', '--config', cfg]);
    } finally {
      await cap.stop();
    }
    const { r, stderr } = out;
    expect(r.failures, stderr).toEqual([]);
    expect(r.media?.codec).toBe('PCMU');
    expect(kamailioLog()).toMatch(/LAB-XCODE from=1001 to=1002 flags=" codec-mask-PCMU codec-transcode-PCMA always-transcode"/);
    const streams = await rtpStreams(await cap.stop());
    expect(streams.length).toBe(4);
    const callerPort = r.media?.directions.find((d) => d.direction === 'callee_to_caller')?.local_rtp_port;
    const calleePort = r.media?.directions.find((d) => d.direction === 'caller_to_callee')?.local_rtp_port;
    for (const s of streams) {
      const leg = s.srcPort === callerPort || s.dstPort === callerPort ? 'caller' : s.srcPort === calleePort || s.dstPort === calleePort ? 'callee' : 'other';
      expect(`${leg} ${s.payload}`).toBe(leg === 'caller' ? 'caller g711U' : 'callee g711A');
    }
  });
});
