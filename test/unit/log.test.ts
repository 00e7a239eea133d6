// createLogger loads pino only when a record passes the level (start-up
// budget); what it writes is pino's JSON on stderr with secrets redacted.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function run(script: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const PINO_LOADED = `Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/pino/'))`;

describe('createLogger', () => {
  it('does not load pino while nothing passes the level, then logs pino JSON to stderr with secrets redacted', () => {
    const r = run(`
      import { createLogger } from './src/log.ts';
      const log = createLogger('warn');
      log.info({ x: 1 }, 'below the level');
      const child = log.child({ component: 'ua' });
      child.debug('also below');
      const before = ${PINO_LOADED};
      const enabled = [log.isLevelEnabled('info'), log.isLevelEnabled('error'), log.level];
      child.warn({ password: 'hunter2', headers: { authorization: 'Digest x' } }, 'register failed');
      console.log(JSON.stringify({ before, after: ${PINO_LOADED}, enabled }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true, enabled: [false, true, 'warn'] });
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('{'));
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(rec).toMatchObject({ level: 40, app: 'callprobe', component: 'ua', msg: 'register failed', password: '[redacted]', headers: { authorization: '[redacted]' } });
    expect(r.stderr).not.toContain('hunter2');
  });

  it('silent logs nothing and never loads pino; debug logs debug', () => {
    const r = run(`
      import { createLogger } from './src/log.ts';
      createLogger('silent').error('nothing');
      const silentLoaded = ${PINO_LOADED};
      createLogger('debug').debug({ n: 2 }, 'shown');
      console.log(JSON.stringify({ silentLoaded }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ silentLoaded: false });
    expect(r.stderr).not.toContain('nothing');
    expect(r.stderr).toContain('"msg":"shown"');
  });

  it('keeps the fields of each child logger on that child: root lines do not grow run after run (issue 21.3)', () => {
    const r = run(`
      import { createLogger } from './src/log.ts';
      const root = createLogger('info');
      root.info('started'); // materializes pino: the children below are made from the real logger
      for (let i = 0; i < 5; i++) {
        const child = root.child({ probe: 'p' + i, kind: 'cert' });
        child.info('run');
        child.child({ component: 'ua' }).info('nested');
        root.info('tick');
      }
    `);
    expect(r.status, r.stderr).toBe(0);
    const recs = r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const ticks = r.stderr.trim().split('\n').filter((l) => l.includes('"msg":"tick"'));
    expect(ticks).toHaveLength(5);
    for (const line of ticks) {
      expect(line).not.toContain('"probe"');
      expect(line.length).toBe(ticks[0]?.length);
    }
    const runs = recs.filter((rec) => rec.msg === 'run');
    expect(runs.map((rec) => rec.probe)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    for (const line of r.stderr.split('\n').filter((l) => l.includes('"msg":"run"') || l.includes('"msg":"nested"'))) {
      expect(line.match(/"probe":/g)).toHaveLength(1);
    }
    expect(recs.filter((rec) => rec.msg === 'nested').every((rec) => rec.component === 'ua')).toBe(true);
  });
});
