// docs/architecture.md names modules; a reader must find each of them in src/.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('docs/architecture.md', () => {
  it('names only modules that exist under src/ (and names the floors)', () => {
    const text = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
    const named = [...text.matchAll(/`([a-z][\w-]*(?:\/[\w-]+)*\.ts)`/g)].map((m) => m[1] as string).filter((p) => !p.startsWith('test/'));
    expect(named.length).toBeGreaterThan(30);
    const missing = named.filter((p) => !existsSync(join(ROOT, 'src', p)));
    expect(missing, `named in docs/architecture.md but not in src/: ${missing.join(', ')}`).toEqual([]);
    for (const floor of ['cli/', 'agent/', 'report/', 'probes/', 'call/', 'sip/', 'rtp/', 'quality/']) expect(text).toContain(`\`${floor}\``);
  });
});
