// Evidence (issue 20) against the real lab, through the shipped CLI: a call's
// --pcap holds the same SIP messages (count, order) and RTP packet counts per
// stream as a dumpcap capture of the same call on lo (order: per dialog), tshark finds the same
// loss; --trace shows the 407-challenged INVITE and the authenticated one in
// order; no password or digest response in any output or pcap. The agent,
// probing an address where nothing answers, alerts with the evidence URL, serves
// the pcap of the failed transaction there, and keeps only the newest `keep`.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, freeTcpPort, LAB, labWorkdir, removeBindings, rtpStreams, spawnTracked, USERS } from '../lab/lab.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

async function probe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, timeout: 60_000, maxBuffer: 8 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface SipRow {
  callId: string;
  what: string;
  cseq: string;
  ports: string;
}

/** SIP messages of a pcap in capture order: Call-ID, method or status, CSeq, ports. */
async function sipRows(pcap: string): Promise<SipRow[]> {
  const { stdout } = await execFileP('tshark', ['-r', pcap, '-n', '-Y', 'sip', '-T', 'fields', '-E', 'separator=|', '-e', 'sip.Call-ID', '-e', 'sip.Method', '-e', 'sip.Status-Code', '-e', 'sip.CSeq', '-e', 'udp.srcport', '-e', 'udp.dstport'], {
    maxBuffer: 16 << 20,
  });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [callId = '', method = '', status = '', cseq = '', sp = '', dp = ''] = l.split('|');
      return { callId, what: status !== '' ? status : method, cseq, ports: `${sp}>${dp}` };
    });
}

const key = (r: SipRow): string => `${r.callId} ${r.what} ${r.cseq} ${r.ports}`;

function writeConfig(): string {
  const file = path.join(labWorkdir(), 'evidence-call.yaml');
  fs.writeFileSync(
    file,
    `pbx: { uri: "sip:127.0.0.1:${LAB.ports.udp}", transport: udp }
accounts:
  "1001": { password: "${USERS['1001']}" }
  "1002": { password: "${USERS['1002']}" }
rtp: { port_min: 16600, port_max: 16699, codecs: [PCMU] }
state_dir: ${labWorkdir()}/evidence-state
`,
  );
  return file;
}

beforeAll(async () => {
  await removeBindings(['1001', '1002']);
});

describe('probe call --pcap --trace', () => {
  it('pcap = capture on lo (SIP count and order, RTP packets and loss per stream); ladder shows 407 then 200; no secrets', async () => {
    const config = writeConfig();
    const pcap = path.join(labWorkdir(), 'evidence-call.pcap');
    const cap = await capture({ filter: 'udp and (port 5060 or portrange 10000-14999 or portrange 16600-16699)' });
    const run = await probe(['call', '1001', '1002', '--duration', '3s', '--json', '--config', config, '--pcap', pcap, '--trace=full']);
    const lo = await cap.stop();
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { success: boolean; sip: { call_id: string } };
    expect(result.success).toBe(true);

    // SIP: every message of the probe's dialogs and registrations, in the same order.
    const ours = await sipRows(pcap);
    const callIds = new Set(ours.map((r) => r.callId));
    expect(callIds.has(result.sip.call_id)).toBe(true);
    const wire = (await sipRows(lo)).filter((r) => callIds.has(r.callId));
    expect(ours.length).toBeGreaterThanOrEqual(14);
    // Same messages; in the same order within each dialog / registration. Across
    // flows running at once (two UAs re-registering together) the order of SIP
    // receives is when this process read them (node:dgram gives no kernel stamp
    // for SIP; RTP has one): docs/evidence.md.
    expect(ours.map(key).sort()).toEqual(wire.map(key).sort());
    for (const id of callIds) expect(ours.filter((r) => r.callId === id).map(key)).toEqual(wire.filter((r) => r.callId === id).map(key));
    const invite = ours.filter((r) => r.callId === result.sip.call_id && r.cseq.endsWith('INVITE')).map((r) => `${r.what} ${r.cseq}`);
    expect(invite.indexOf('407 1 INVITE')).toBeGreaterThan(0);
    expect(invite.indexOf('200 2 INVITE')).toBeGreaterThan(invite.indexOf('407 1 INVITE'));

    // RTP: the four legs through rtpengine, same packets and loss as tshark on lo.
    const ourStreams = await rtpStreams(pcap);
    const wireStreams = await rtpStreams(lo);
    expect(ourStreams).toHaveLength(4);
    for (const s of ourStreams) {
      const w = wireStreams.find((x) => x.ssrc === s.ssrc && x.srcPort === s.srcPort && x.dstPort === s.dstPort);
      expect(w, `stream ${s.ssrc.toString(16)} ${s.srcPort}>${s.dstPort} on lo`).toBeDefined();
      expect(s.packets).toBe(w?.packets);
      expect(s.lost).toBe(w?.lost);
      expect(s.packets).toBeGreaterThanOrEqual(140);
    }
    process.stderr.write(`evidence: ${ours.length} SIP messages, streams ${ourStreams.map((s) => `${s.packets}/${s.lost}`).join(' ')}\n`);

    // --trace (stderr with --json): both INVITE transactions in order, masked.
    const trace = run.stderr;
    const i407 = trace.search(/← .*407 Proxy Authentication Req.*CSeq 1 INVITE/);
    const i200 = trace.search(/← .*200 OK.*CSeq 2 INVITE/);
    expect(i407, trace).toBeGreaterThan(0);
    expect(i200).toBeGreaterThan(i407);
    expect(trace).toMatch(/Proxy-Authorization: Digest .*response="x{32}"/);

    // No password, no digest response: not in stdout, stderr or the pcap.
    const bytes = fs.readFileSync(pcap).toString('latin1');
    for (const text of [run.stdout, run.stderr, bytes]) {
      expect(text).not.toContain(USERS['1001']);
      expect(text).not.toContain(USERS['1002']);
      expect(text).not.toMatch(/response="?[0-9a-f]{32}/);
    }
    // ...while the capture on lo shows they were really sent (the check can fail).
    expect(fs.readFileSync(lo).toString('latin1')).toMatch(/response="[0-9a-f]{32}"/);
  });
});

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('probe agent evidence', () => {
  it('a probe of an address where nothing answers: alert JSON carries the URL, the pcap holds the failed OPTIONS, keep 3 deletes oldest first', async () => {
    // Where nothing answers: a UDP socket that reads and never replies.
    const hole = dgram.createSocket('udp4');
    const swallowed: number[] = [];
    hole.on('message', (m) => swallowed.push(m.length));
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', r));
    const holePort = hole.address().port;
    const hooks: { data: { evidence?: { pcap_url: string; sip_ladder: string[] }; probe: string } }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.push(JSON.parse(Buffer.concat(chunks).toString()) as (typeof hooks)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const dir = fs.mkdtempSync(path.join(labWorkdir(), 'evidence-agent-'));
    const agentPort = await freeTcpPort();
    fs.writeFileSync(path.join(dir, 'probes.yaml'), `probes:\n  - { name: dead-pbx, kind: options, target: "sip:127.0.0.1:${holePort}", interval: 1s, timeout: 1s }\n`);
    fs.writeFileSync(
      path.join(dir, 'callprobe.yaml'),
      `pbx: { uri: "sip:127.0.0.1:${holePort}" }
listen: { metrics: "127.0.0.1:${agentPort}" }
state_dir: ${JSON.stringify(dir)}
webhooks: [ { url: "http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook", format: json } ]
alerts: { for: 1, repeat_interval: 1s }
evidence: { pcap: on_failure, keep: 3 }
`,
    );
    const agent = spawnTracked(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', path.join(dir, 'callprobe.yaml'), '--probes', path.join(dir, 'probes.yaml'), '--log-level', 'warn'], {
      cwd: ROOT,
      name: 'callprobe-agent-evidence',
    });
    try {
      const first = await until('an alert with evidence', () => hooks.find((h) => h.data.evidence)?.data.evidence, 20_000);
      expect(first.pcap_url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${agentPort}/evidence/dead-pbx/\\d{8}T\\d{9}Z-[0-9a-f]{6}\\.pcap$`));
      expect(first.sip_ladder.length).toBeGreaterThanOrEqual(1);
      expect(first.sip_ladder.length).toBeLessThanOrEqual(20);
      expect(first.sip_ladder[0]).toMatch(new RegExp(`→ 127\\.0\\.0\\.1:${holePort}\\s+udp\\s+OPTIONS\\s+CSeq 1 OPTIONS`));
      const res = await fetch(first.pcap_url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.tcpdump.pcap');
      const file = path.join(dir, 'first.pcap');
      fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      const { stdout } = await execFileP('tshark', ['-r', file, '-n', '-Y', 'sip', '-T', 'fields', '-e', 'sip.Method', '-e', 'udp.dstport']);
      const rows = stdout.trim().split('\n');
      // the failed transaction: OPTIONS and its retransmissions (Timer E), no answer
      expect(rows.length).toBeGreaterThanOrEqual(2);
      for (const row of rows) expect(row).toBe(`OPTIONS\t${holePort}`);
      expect(swallowed.length).toBeGreaterThanOrEqual(rows.length);

      // keep: 3 — after more failing runs only the newest three are on disk and served.
      const probeDir = path.join(dir, 'evidence', 'dead-pbx');
      const firstName = path.basename(new URL(first.pcap_url).pathname);
      await until('the first pcap to be pruned', () => (fs.existsSync(path.join(probeDir, firstName)) ? undefined : true), 20_000);
      const left = fs.readdirSync(probeDir).sort();
      expect(left.length).toBeLessThanOrEqual(3);
      for (const f of left) expect(f > firstName).toBe(true);
      expect((await fetch(first.pcap_url)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${agentPort}/evidence/dead-pbx/..%2F..%2Fcallprobe.yaml.pcap`)).status).toBe(404);
    } finally {
      await agent.stop();
      receiver.close();
      hole.close();
    }
  });
});
