import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/agent.js';
import { createSdNotifier } from '../../../src/agent/systemd.js';
import { ConfigError } from '../../../src/config/errors.js';
import { createLogger } from '../../../src/log.js';
import type { ProbeKindMap } from '../../../src/probes/index.js';

const logger = createLogger('silent');

function workdir(probes: string, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'cp-agent-'));
  mkdirSync(join(dir, 'probes'));
  writeFileSync(
    join(dir, 'callprobe.yaml'),
    `pbx: { uri: "sip:127.0.0.1:5060" }\naccounts: { "1001": { password: pw } }\nprobes_dir: probes\nlisten: { metrics: "127.0.0.1:0" }\n${extra}`,
  );
  writeFileSync(join(dir, 'probes', 'main.yaml'), probes);
  return dir;
}

const OPTIONS_OK: ProbeKindMap = {
  options: { run: async () => ({ probe: 'x', success: true, failures: [], sip: { final_status: 200, timings_ms: { rtt: 1.5 } } }) },
};

let agent: Agent | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

async function get(path: string): Promise<{ status: number; body: string; type: string | null }> {
  if (agent === undefined) throw new Error('no agent');
  const { port } = agent.address();
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

async function waitFor(pred: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
}

describe('Agent', () => {
  it('refuses to start with an invalid config, before listening', async () => {
    const dir = workdir('probes:\n  - { name: o, kind: options }\n', 'bogus_key: 1\n');
    await expect(Agent.start({ logger, configFile: join(dir, 'callprobe.yaml') })).rejects.toBeInstanceOf(ConfigError);
    const noProbes = workdir('probes:\n  - { name: r, kind: register, account: "9999" }\n');
    await expect(Agent.start({ logger, configFile: join(noProbes, 'callprobe.yaml') })).rejects.toThrow(/unknown account "9999"/);
  });

  it('serves /metrics, /probe, /healthz and /-/ready', async () => {
    const dir = workdir('probes:\n  - { name: opt, kind: options, interval: 1s }\n', 'http: { probe_min_interval: 0s }\n');
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds: OPTIONS_OK, maxStartOffsetMs: 0 });
    await waitFor(async () => (await get('/metrics')).body.includes('probe_success{probe="opt",kind="options"} 1'));
    const metrics = await get('/metrics');
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toMatch(/callprobe_sip_phase_seconds\{probe="opt",phase="rtt"\} 0\.0015/);
    expect(metrics.body).toMatch(/nodejs_eventloop_lag_seconds/);

    const probe = await get('/probe?target=opt');
    expect(probe.status).toBe(200);
    expect(probe.body).toMatch(/^probe_success\{probe="opt",kind="options"\} 1$/m);
    expect(probe.body).not.toMatch(/nodejs_/);
    const json = await get('/probe?target=opt&format=json');
    expect(JSON.parse(json.body)).toMatchObject({ probe: 'opt', kind: 'options', success: true });

    expect((await get('/probe?target=nope')).status).toBe(404);
    expect((await get('/probe')).status).toBe(400);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/-/ready')).status).toBe(200);
    expect((await get('/nothing')).status).toBe(404);
    const { port } = agent.address();
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('runs each probe once per interval with the default start offset', async () => {
    const dir = workdir('probes:\n  - { name: paced, kind: options, interval: 1s }\n');
    let runs = 0;
    const kinds: ProbeKindMap = {
      options: {
        run: async () => {
          runs++;
          return { probe: 'paced', success: true, failures: [] };
        },
      },
    };
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds });
    await new Promise((r) => setTimeout(r, 2500));
    // First run within the 1 s offset, then one per second: 2 or 3 runs, never a busy loop.
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(3);
  });

  it('reloads: an invalid config keeps the running one; a valid one swaps probes and drops stale series', async () => {
    const dir = workdir('probes:\n  - { name: old, kind: options, interval: 1s }\n');
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds: OPTIONS_OK, maxStartOffsetMs: 0 });
    await waitFor(async () => (await get('/metrics')).body.includes('probe_success{probe="old"'));

    writeFileSync(join(dir, 'probes', 'main.yaml'), 'probes:\n  - { name: new, kind: optionz }\n');
    const bad = agent.reload();
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/probes\[0\]\.kind/);
    expect(agent.state.probes.map((p) => p.name)).toEqual(['old']);

    writeFileSync(join(dir, 'probes', 'main.yaml'), 'probes:\n  - { name: new, kind: options, interval: 1s }\n');
    expect(agent.reload()).toEqual({ ok: true, probes: 1 });
    await waitFor(async () => (await get('/metrics')).body.includes('probe_success{probe="new"'));
    expect((await get('/metrics')).body).not.toContain('probe_success{probe="old"');
  });

  it('stop() aborts running probes, tells systemd, and closes the port', async () => {
    const dir = workdir('probes:\n  - { name: slow, kind: options, interval: 1s, timeout: 60s }\n');
    let aborted = false;
    let started = false;
    const kinds: ProbeKindMap = {
      options: {
        run: (ctx) =>
          new Promise((resolve) => {
            started = true;
            ctx.signal.addEventListener('abort', () => {
              aborted = true;
              resolve({ probe: 'slow', success: false, failures: [] });
            });
          }),
      },
    };
    const sent: string[][] = [];
    const notifier = createSdNotifier({
      logger,
      env: { NOTIFY_SOCKET: '/run/systemd/notify' },
      pid: 4242,
      spawn: async (args) => {
        sent.push(args);
        return 0;
      },
    });
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds, systemd: notifier, maxStartOffsetMs: 0 });
    const { port } = agent.address();
    await waitFor(async () => started);
    const t0 = Date.now();
    await agent.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(aborted).toBe(true);
    expect(sent[0]).toEqual(['--pid=4242', 'READY=1', expect.stringMatching(/^STATUS=1 probes/)]);
    expect(sent.at(-1)).toEqual(['--pid=4242', 'STOPPING=1']);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    agent = undefined;
  });
});

describe('Agent HTTP exposure (issue 21.9)', () => {
  it('runs a probe on demand at most once per probe_min_interval: parallel GETs join one run, then 429 with Retry-After', async () => {
    const dir = workdir('probes:\n  - { name: slow, kind: options, interval: 1h }\n', 'http: { probe_min_interval: 30s }\n');
    let runs = 0;
    const kinds: ProbeKindMap = {
      options: {
        run: async () => {
          runs++;
          await new Promise((r) => setTimeout(r, 300));
          return { probe: 'slow', success: true, failures: [] };
        },
      },
    };
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds, maxStartOffsetMs: 3_600_000 });
    const answers = await Promise.all(Array.from({ length: 5 }, () => get('/probe?target=slow&format=json')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(runs).toBe(1);
    const { port } = agent.address();
    const again = await fetch(`http://127.0.0.1:${port}/probe?target=slow`);
    expect(again.status).toBe(429);
    const retry = Number(again.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(29);
    expect(retry).toBeLessThanOrEqual(30);
    expect(runs).toBe(1);
  });

  it('asks for credentials on every path but /healthz and /-/ready; Basic (scrypt hash) and Bearer both work', async () => {
    const { hashPassword } = await import('../../../src/agent/http-auth.js');
    const hash = await hashPassword('s3cret', 10);
    const dir = workdir(
      'probes:\n  - { name: opt, kind: options, interval: 1h }\n',
      `http: { basic_auth_users: { prom: ${JSON.stringify(hash)} }, bearer_token: "env:CP_TEST_TOKEN" }\n`,
    );
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds: OPTIONS_OK, env: { CP_TEST_TOKEN: 'tok-123' } });
    const { port } = agent.address();
    const at = (path: string, authorization?: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, authorization === undefined ? {} : { headers: { authorization } });
    for (const path of ['/metrics', '/probe?target=opt', '/', '/evidence/opt/x.pcap']) {
      const res = await at(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="callprobe", charset="UTF-8", Bearer realm="callprobe"');
    }
    expect((await at('/healthz')).status).toBe(200);
    expect((await at('/-/ready')).status).toBe(200);
    const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
    expect((await at('/metrics', basic('prom', 's3cret'))).status).toBe(200);
    expect((await at('/metrics', basic('prom', 's3cret'))).status).toBe(200); // cached verification
    expect((await at('/metrics', basic('prom', 's3creT'))).status).toBe(401);
    expect((await at('/metrics', basic('other', 's3cret'))).status).toBe(401);
    expect((await at('/metrics', 'Bearer tok-123')).status).toBe(200);
    expect((await at('/metrics', 'Bearer tok-1234')).status).toBe(401);
    expect((await at('/metrics', 'Bearer')).status).toBe(401);
    expect((await at('/metrics', 'Digest x')).status).toBe(401);
  });

  it('refuses to listen beyond loopback without authentication unless allowed explicitly', async () => {
    const open = workdir('probes:\n  - { name: o, kind: options, interval: 1h }\n');
    // workdir's config listens on loopback; this one is written whole.
    writeFileSync(join(open, 'callprobe.yaml'), 'pbx: { uri: "sip:127.0.0.1:5060" }\nprobes_dir: probes\nlisten: { metrics: "0.0.0.0:0" }\n');
    await expect(Agent.start({ logger, configFile: join(open, 'callprobe.yaml'), kinds: OPTIONS_OK })).rejects.toThrow(
      /listen\.metrics: 0\.0\.0\.0:0 is reachable beyond loopback but the HTTP listener has no authentication/,
    );
    const loopback = workdir('probes:\n  - { name: o, kind: options, interval: 1h }\n');
    await expect(Agent.start({ logger, configFile: join(loopback, 'callprobe.yaml'), kinds: OPTIONS_OK, listen: '0.0.0.0:0' })).rejects.toThrow(
      /--listen: 0\.0\.0\.0:0 is reachable beyond loopback/,
    );
    writeFileSync(join(open, 'callprobe.yaml'), 'http: { allow_unauthenticated: true }\n', { flag: 'a' });
    agent = await Agent.start({ logger, configFile: join(open, 'callprobe.yaml'), kinds: OPTIONS_OK });
    expect(agent.address().host).toBe('0.0.0.0');
  });
});

describe('Agent alerts', () => {
  it('sends a failing probe to the configured webhook and exports alert gauges', async () => {
    const bodies: unknown[] = [];
    const receiver = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(data));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const { port } = receiver.address() as { port: number };
    try {
      const dir = workdir(
        'probes:\n  - { name: down, kind: options, interval: 1s }\n',
        `webhooks: [ { url: "http://127.0.0.1:${port}/hook", format: json, min_severity: info } ]\nalerts: { for: 1 }\n`,
      );
      writeFileSync(join(dir, 'callprobe.yaml'), `state_dir: ${JSON.stringify(join(dir, 'state'))}\n`, { flag: 'a' });
      const kinds: ProbeKindMap = {
        options: { run: async () => ({ probe: 'down', success: false, failures: [{ check: 'options_response', expected: '2xx', actual: 503, phase: 'options' }] }) },
      };
      agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds, maxStartOffsetMs: 0 });
      await waitFor(async () => bodies.length > 0);
      expect(JSON.stringify(bodies[0])).toContain('down');
      expect(JSON.stringify(bodies[0])).toContain('firing');
      const metrics = (await get('/metrics')).body;
      expect(metrics).toMatch(/^callprobe_alerts_firing 1$/m);
    } finally {
      await agent?.stop();
      agent = undefined;
      await new Promise((r) => receiver.close(r));
    }
  });
});


describe('Agent analytics', () => {
  it('drops and counts HEP packets without the configured sources.hep_auth_key (issue 14 item 6)', async () => {
    const { freeTcpPort } = await import('../../lab/lab.js');
    const { encodeHep3 } = await import('../../../src/sources/hep.js');
    const dgram = await import('node:dgram');
    const port = await freeTcpPort();
    const dir = workdir('probes:\n  - { name: o, kind: options, interval: 1h }\n');
    writeFileSync(
      join(dir, 'callprobe.yaml'),
      `state_dir: ${JSON.stringify(join(dir, 'state'))}\nsources: { hep: "127.0.0.1:${port}", hep_auth_key: "env:CP_HEP_KEY" }\n`,
      { flag: 'a' },
    );
    mkdirSync(join(dir, 'state'));
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds: OPTIONS_OK, env: { CP_HEP_KEY: 'right-key' } });
    const packet = (authKey?: string) =>
      encodeHep3({ srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcPort: 5060, dstPort: 5060, payload: Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'), ...(authKey !== undefined ? { authKey } : {}) });
    const sock = dgram.createSocket('udp4');
    for (const p of [packet('wrong-key'), packet(), packet('right-key'), packet('right-key ')]) {
      await new Promise<void>((r) => sock.send(p, port, '127.0.0.1', () => r()));
    }
    sock.close();
    await waitFor(async () => /^callprobe_hep_packets_total 4$/m.test((await get('/metrics')).body));
    const body = (await get('/metrics')).body;
    expect(body).toMatch(/^callprobe_hep_packets_dropped_total\{reason="auth_key"\} 3$/m);
    expect(body).toMatch(/^callprobe_hep_packets_dropped_total\{reason="decode"\} 0$/m);
  });

  it('counts fraud events from a security log source by rule', async () => {
    const dir = workdir('probes:\n  - { name: o, kind: options, interval: 1h }\n');
    const log = join(dir, 'kamailio.log');
    writeFileSync(log, '');
    writeFileSync(
      join(dir, 'callprobe.yaml'),
      `state_dir: ${JSON.stringify(join(dir, 'state'))}\nsources: { security_log: { path: ${JSON.stringify(log)}, pattern: kamailio } }\n`,
      { flag: 'a' },
    );
    mkdirSync(join(dir, 'state'));
    agent = await Agent.start({ logger, configFile: join(dir, 'callprobe.yaml'), kinds: OPTIONS_OK });
    const line = (i: number) =>
      `WARNING: LAB-AUTH-FAIL rc=-2 reason=invalid_password method=REGISTER user=1001 from=1001 to=1001 src=127.0.0.1:5096 proto=udp ua="friendly-scanner" fails_60s=${i}\n`;
    writeFileSync(log, Array.from({ length: 12 }, (_, i) => line(i + 1)).join(''), { flag: 'a' });
    await waitFor(async () => /callprobe_fraud_events_total\{rule="brute_force"\} [1-9]/.test((await get('/metrics')).body), 8000);
  });
});
