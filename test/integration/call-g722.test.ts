// `probe call --codec G722` through the lab's Kamailio + rtpengine, both ends ours:
// rtpengine relays G.722 untouched; tshark must see PT 9 streams decoded as G.722,
// and the result must use the wideband E-model (G.107.1). SIP is captured too:
// tshark finds the RTP streams from the SDP.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, LAB, labWorkdir, removeBindings, rtpStreams, USERS } from '../lab/lab.js';
import type { CallResult } from '../../src/probes/call/index.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

beforeAll(async () => {
  await removeBindings(['1001', '1002']);
});

describe('probe call --codec G722 through Kamailio + rtpengine', () => {
  it('3 s call: 150 packets each way, 0 lost, R 116 / MOS 4.34 from G.107.1, tshark decodes 4 G.722 streams', async () => {
    const config = path.join(labWorkdir(), 'call-g722.yaml');
    fs.writeFileSync(
      config,
      `pbx: { uri: "sip:127.0.0.1:${LAB.ports.udp}", transport: udp }
accounts:
  "1001": { password: "${USERS['1001']}" }
  "1002": { password: "${USERS['1002']}" }
rtp: { port_min: 16900, port_max: 16949, codecs: [PCMU, PCMA] }
state_dir: ${labWorkdir()}/state
`,
    );
    const cap = await capture({ filter: 'udp and (port 5060 or portrange 10000-14999 or portrange 16900-16949)' });
    let stdout = '';
    let stderr = '';
    try {
      ({ stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'call', '1001', '1002', '--codec', 'G722', '--duration', '3s', '--json', '--config', config], { cwd: ROOT, timeout: 30_000 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      stdout = e.stdout ?? '';
      stderr = e.stderr ?? '';
    }
    const pcap = await cap.stop();
    const r = JSON.parse(stdout) as CallResult;
    expect(r.failures, stderr).toEqual([]);
    expect(r.success).toBe(true);
    expect(r.media?.codec).toBe('G722');
    const directions = r.media?.directions ?? [];
    expect(directions.map((d) => d.direction).sort()).toEqual(['callee_to_caller', 'caller_to_callee']);
    const streams = await rtpStreams(pcap);
    // caller→rtpengine, rtpengine→callee, callee→rtpengine, rtpengine→caller
    expect(streams.length).toBe(4);
    for (const s of streams) expect(s.payload.toLowerCase()).toContain('g722');
    for (const d of directions) {
      expect(d.measured_by).toBe('receiver');
      expect(Math.abs((d.packets_received ?? 0) - 150)).toBeLessThanOrEqual(2);
      expect(d.packets_lost).toBe(0);
      expect(d.emodel).toBe('G.107.1');
      expect(d.r_factor).toBe(116);
      expect(d.mos).toBe(4.34);
      const seen = streams.find((s) => s.dstPort === d.local_rtp_port && s.srcPort >= 10000 && s.srcPort <= 14999);
      expect(seen, `no tshark stream to port ${d.local_rtp_port}`).toBeDefined();
      expect(seen?.packets).toBe((d.packets_received ?? NaN) + (d.tail_packets ?? 0)); // our own sender's tail is on the wire, not counted
      expect(seen?.lost).toBe(0);
    }
  });
});
