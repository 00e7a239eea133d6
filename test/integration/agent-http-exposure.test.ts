// Issue 21.9: the agent's HTTP listener as a user runs it (config file → `probe agent`):
// HTTPS with a certificate this test makes with openssl (re-read when the files change),
// Basic (scrypt hash) and Bearer credentials, /healthz open; /probe?target= placing a real
// call through the lab's Kamailio: five parallel GETs share one call, the next GET inside
// http.probe_min_interval gets 429 with Retry-After; and the exposure rule: listening beyond
// loopback without authentication is a config error (exit 2): test/unit/agent/agent-cli.test.ts.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/agent/http-auth.js';
import { freeTcpPort, kamailioLog, LAB, spawnTracked, USERS, type TrackedProcess } from '../lab/lab.js';
import { ROOT, until } from './helpers/agent.js';
import { hasOpenssl, makeCert as makeTestCert } from './helpers/openssl.js';

const dir = mkdtempSync(join(tmpdir(), 'cp-http-exposure-'));
const makeCert = (name: string) => makeTestCert(dir, name);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  fingerprint: string;
}

function get(port: number, path: string, opts: { ca?: string; authorization?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false, // a new TLS connection each time: a reloaded certificate shows on the next one
        ...(opts.ca !== undefined ? { ca: opts.ca } : { rejectUnauthorized: false }),
        headers: opts.authorization === undefined ? {} : { authorization: opts.authorization },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint: (res.socket as TLSSocket).getPeerCertificate().fingerprint256 }),
        );
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
let agent: TrackedProcess | undefined;

afterAll(async () => {
  await agent?.stop();
});

describe.runIf(hasOpenssl)('agent HTTP listener: TLS, authentication, /probe rate limit (issue 21.9)', () => {
  it('serves HTTPS with Basic and Bearer auth; parallel GETs share one call, the next gets 429 + Retry-After; a renewed certificate is picked up', async () => {
    const first = makeCert('callprobe-first');
    const port = await freeTcpPort();
    const hash = await hashPassword('scrape-pw', 12);
    writeFileSync(join(dir, 'token'), 'the-bearer-token\n', { mode: 0o600 });
    const config = join(dir, 'callprobe.yaml');
    writeFileSync(
      config,
      stringify({
        pbx: { uri: `sip:127.0.0.1:${LAB.ports.udp}`, transport: 'udp' },
        accounts: { '1001': { password: USERS['1001'] }, '1002': { password: USERS['1002'] } },
        rtp: { port_min: 17100, port_max: 17199, codecs: ['PCMU'] },
        listen: { metrics: `127.0.0.1:${port}` },
        state_dir: dir,
        http: {
          tls_server_config: { cert_file: first.cert, key_file: first.key },
          basic_auth_users: { prometheus: hash },
          bearer_token: 'file:token',
          probe_min_interval: '60s',
        },
      }),
    );
    const probes = join(dir, 'probes.yaml');
    writeFileSync(probes, stringify({ probes: [{ name: 'call-http', kind: 'call', from: '1001', to: '1002', duration: '2s', interval: '1h' }] }));
    const logFrom = kamailioLog().length;
    const t0 = Date.now();
    const a = spawnTracked(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', config, '--probes', probes, '--log-level', 'info'], {
      cwd: ROOT,
      name: 'callprobe-agent-http',
    });
    agent = a;
    const ca = readFileSync(first.cert, 'utf8');
    await until('the agent to answer /-/ready over HTTPS', async () => ((await get(port, '/-/ready', { ca })).status === 200 ? true : undefined), 20_000, 250);

    // Open: liveness and readiness. Everything else: 401 with the accepted schemes.
    expect((await get(port, '/healthz', { ca })).status).toBe(200);
    const denied = await get(port, '/metrics', { ca });
    expect(denied.status).toBe(401);
    // Two WWW-Authenticate header lines (node's client joins them with ", ").
    expect(denied.headers['www-authenticate']).toBe('Basic realm="callprobe", charset="UTF-8", Bearer realm="callprobe"');
    expect((await get(port, '/probe?target=call-http', { ca })).status).toBe(401);
    expect((await get(port, '/metrics', { ca, authorization: basic('prometheus', 'scrape-pw!') })).status).toBe(401);
    expect((await get(port, '/metrics', { ca, authorization: 'Bearer the-bearer-token-' })).status).toBe(401);
    expect((await get(port, '/metrics', { ca, authorization: basic('prometheus', 'scrape-pw') })).status).toBe(200);
    expect((await get(port, '/metrics', { ca, authorization: 'Bearer the-bearer-token' })).status).toBe(200);

    // Five GETs at once: one run, one call (they join the run in progress; so does the schedule's first run if it comes now).
    const auth = { ca, authorization: 'Bearer the-bearer-token' };
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(port, '/probe?target=call-http&format=json', auth)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const callIds = answers.map((r) => (JSON.parse(r.body) as { sip?: { call_id?: string } }).sip?.call_id);
    expect(callIds[0]).toMatch(/.+/);
    expect(new Set(callIds).size).toBe(1);
    expect(JSON.parse(answers[0]?.body ?? '{}')).toMatchObject({ probe: 'call-http', success: true });

    // A renewed certificate (new files, same paths) is served on the next connection.
    const second = makeCert('callprobe-second');
    writeFileSync(first.key, readFileSync(second.key));
    writeFileSync(first.cert, readFileSync(second.cert));
    const served = await until('the renewed certificate to be served', async () => {
      const r = await get(port, '/healthz');
      return r.fingerprint === second.fingerprint ? r : undefined;
    }, 10_000, 250);
    expect(served.fingerprint).not.toBe(first.fingerprint);
    const ca2 = readFileSync(second.cert, 'utf8');

    // The schedule's one run (interval 1h) starts within 10 s of the start: let it finish or be skipped
    // (joined by the GETs) before asking again, so that the next GET cannot join a run in progress.
    const runs = () => a.stderr().split('\n').filter((l) => l.includes('"msg":"probe finished"') || l.includes('probe run skipped')).length;
    await until('the schedule\'s first run to be over', () => (Date.now() - t0 > 10_500 && runs() >= 2 ? true : undefined), 30_000, 250);
    const limited = await get(port, '/probe?target=call-http', { ca: ca2, authorization: 'Bearer the-bearer-token' });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Kamailio's accounting saw one answered INVITE 1001 → 1002 per run the agent made, and the GETs' call among them.
    const finished = a.stderr().split('\n').filter((l) => l.includes('"msg":"probe finished"')).length;
    const answered = [...kamailioLog().slice(logFrom).matchAll(/method=INVITE;[^\n]*call_id=([^;\n]+);code=200;[^\n]*src_user=1001;[^\n]*dst_user=1002/g)].map((m) => m[1]);
    expect(answered).toHaveLength(finished);
    expect(finished).toBeLessThanOrEqual(2);
    expect(answered).toContain(callIds[0]);

    expect((await a.stop(8000)).code).toBe(0);
  });

});
