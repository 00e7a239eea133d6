import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { pushResults } from '../../../src/report/pushgateway.js';

describe('pushResults', () => {
  it('PUTs one suite run to the Pushgateway group job/callprobe_smoke/suite/<suite>', async () => {
    const seen: { method?: string; url?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    try {
      await pushResults(
        [
          { result: { probe: 'smoke-a', success: true, duration_s: 0.5, failures: [] }, def: { name: 'smoke-a', kind: 'options' } },
          { result: { probe: 'smoke-b', success: false, failures: [{ check: 'x', phase: 'register' }] }, def: { name: 'smoke-b', kind: 'register' } },
        ],
        { url: `http://127.0.0.1:${port}`, groupings: { suite: 'smoke' } },
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('PUT');
    expect(seen[0]?.url).toBe('/metrics/job/callprobe_smoke/suite/smoke');
    expect(seen[0]?.body).toMatch(/^probe_success\{probe="smoke-a",kind="options"\} 1$/m);
    expect(seen[0]?.body).toMatch(/^probe_success\{probe="smoke-b",kind="register"\} 0$/m);
  });

  it('rejects when the Pushgateway is unreachable', async () => {
    await expect(
      pushResults([{ result: { probe: 'a', success: true, failures: [] }, def: { name: 'a', kind: 'options' } }], {
        url: 'http://127.0.0.1:1',
        groupings: { suite: 's' },
        timeoutMs: 2000,
      }),
    ).rejects.toThrow();
  });
});
