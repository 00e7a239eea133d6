// Issue 15, item 3 acceptance, through the shipped entry point: `probe agent`
// from a config file tails a Master.csv whose ASR on route trunk-a drops from
// 90 % (the hour before) to 30 % (the last hour): one asr_drop alert reaches the
// webhook; rows appended at 100 % bring the hour back within asr_drop_points and
// one "resolved" follows. Forty other contexts never become label values: they
// are counted as route "other".
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freeTcpPort } from '../../lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../../..');

interface Hook {
  type: string;
  data: { probe: string; check: string; status: string; severity: string; actual: unknown; expected: unknown; summary: string; labels: Record<string, string> };
}

const cdrTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** One Master.csv row: started at `at`, answered 5 s later for 60 s, or failed (CONGESTION) after 5 s. */
function row(at: number, context: string, answered: boolean, n: number): string {
  const answer = answered ? cdrTime(at + 5000) : '';
  const end = cdrTime(at + (answered ? 65_000 : 5000));
  const dispo = answered ? 'ANSWERED' : 'CONGESTION';
  return `"","1001","5550${n}","${context}","""Lab"" <1001>","SIP/1001-${n}","SIP/trunk-${n}","Dial","SIP/trunk","${cdrTime(at)}","${answer}","${end}",${answered ? 65 : 5},${answered ? 60 : 0},"${dispo}","DOCUMENTATION","uid-${context}-${n}-${at}",""`;
}

function rows(from: number, context: string, answered: number, failed: number): string[] {
  return Array.from({ length: answered + failed }, (_, i) => row(from + i * 60_000, context, i < answered, i));
}

describe('probe agent: ASR alerts from a CDR stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-asr-cli-'));
  const hooks: Hook[] = [];
  let server: Server | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  afterAll(async () => {
    child?.kill('SIGTERM');
    await new Promise<void>((r) => server?.close(() => r()) ?? r());
    rmSync(dir, { recursive: true, force: true });
  });

  it('drop on one route → one asr_drop firing; recovery → one resolved; other routes stay "other"', async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(body) as Hook);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const hookPort = (server.address() as { port: number }).port;
    const port = await freeTcpPort();
    const now = Date.now();
    const cdr = join(dir, 'Master.csv');
    // the hour before: trunk-a 18/20 answered; the last hour: 6/20. Forty other contexts, all answered.
    const other = Array.from({ length: 40 }, (_, i) => row(now - (100 - i * 2) * 60_000, `ctx-${i}`, true, i));
    writeFileSync(cdr, '');
    mkdirSync(join(dir, 'probes'));
    writeFileSync(join(dir, 'probes', 'p.yaml'), 'probes:\n  - { name: c, kind: cert, targets: ["/nonexistent/cert.pem"], interval: 1h }\n');
    writeFileSync(
      join(dir, 'callprobe.yaml'),
      [
        'pbx: { uri: "sip:127.0.0.1" }',
        `listen: { metrics: "127.0.0.1:${port}" }`,
        'probes_dir: probes',
        'state_dir: state',
        `webhooks: [ { url: "http://127.0.0.1:${hookPort}/hook", format: json } ]`,
        'alerts: { for: 1 }',
        'sources: { cdr: Master.csv }',
        'kpi: { routes: [trunk-a], asr_drop_points: 30, min_seizures: 10, interval: 1s }',
        '',
      ].join('\n'),
    );
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'agent', '--config', join(dir, 'callprobe.yaml'), '--log-level', 'warn'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const waitFor = async (what: string, pred: () => boolean, ms = 15_000) => {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; agent stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await waitFor('the agent to listen', () => stderr.includes('listening on'));
    appendFileSync(cdr, `${[...rows(now - 115 * 60_000, 'trunk-a', 18, 2), ...rows(now - 50 * 60_000, 'trunk-a', 6, 14), ...other].join('\n')}\n`);

    const asr = () => hooks.filter((h) => h.data.probe.startsWith('pbx:'));
    await waitFor('an asr_drop alert', () => asr().length > 0);
    // a few more judgements (1 s apart): no repeat within repeat_interval, nothing for "other"
    await new Promise((r) => setTimeout(r, 3000));
    expect(asr().map((h) => [h.type, h.data.probe, h.data.check, h.data.severity])).toEqual([['alert.firing', 'pbx:cdr:trunk-a', 'asr_drop', 'critical']]);
    expect(asr()[0]?.data).toMatchObject({ actual: 30, expected: 60, labels: { kind: 'pbx_kpi', source: 'cdr', route: 'trunk-a' } });
    expect(asr()[0]?.data.summary).toContain('fell from 90 % to 30 %');

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const routes = new Set([...metrics.matchAll(/^callprobe_(?:pbx_calls_total|asr_ratio|ner_ratio)\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]));
    expect(routes).toEqual(new Set(['trunk-a', 'other', '*']));
    expect(metrics).toMatch(/^callprobe_pbx_calls_total\{source="cdr",route="other",result="answered"\} 40$/m);
    expect(metrics).toMatch(/^callprobe_pbx_calls_total\{source="cdr",route="trunk-a",result="failed"\} 16$/m);
    expect(metrics).toMatch(/^callprobe_asr_ratio\{source="cdr",route="trunk-a",window="3600s"\} 0\.3$/m);

    // recovery: 40 answered calls in the last hour → 46/60 = 76.7 %, within 30 points of 90 %
    appendFileSync(cdr, `${rows(now - 45 * 60_000, 'trunk-a', 40, 0).join('\n')}\n`);
    await waitFor('the resolved notification', () => asr().length > 1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(asr().map((h) => [h.type, h.data.check])).toEqual([
      ['alert.firing', 'asr_drop'],
      ['alert.resolved', 'asr_drop'],
    ]);
  }, 60_000);
});
