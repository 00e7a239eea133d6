// No import circle in src/ (design.md "Dependency directions"): walks every
// relative import of src/ — static, re-export and dynamic import() alike —
// and fails naming the first circle it finds.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative module specifiers of a file: `from '…'`, `import '…'` and `import('…')`, comments stripped. */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1] as string);
  return out;
}

function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of tsFiles(SRC)) {
    const deps = importsOf(readFileSync(file, 'utf8')).map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    g.set(file, deps.filter((d) => d !== file));
  }
  return g;
}

/** The first circle found (depth-first), as a list of files ending where it started; undefined if none. */
export function findCycle(g: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (!g.has(d)) continue;
      const s = state.get(d);
      if (s === 'open') return [...stack.slice(stack.indexOf(d)), d];
      if (s === undefined) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of g.keys()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

describe('import graph of src/', () => {
  it('finds the imports it must see (static, type-only, re-export, dynamic) and a planted circle', () => {
    expect(importsOf(`import a from './a.js';\nimport type { B } from "../b.js";\nexport * from './c.js';\nconst d = await import('./d.js');\n// import x from './commented.js'\nimport 'node:fs';`)).toEqual([
      './a.js',
      '../b.js',
      './c.js',
      './d.js',
    ]);
    const planted = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(findCycle(planted)).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', []]]))).toBeUndefined();
  });

  it('has no import circle', () => {
    const g = graph();
    expect(g.size).toBeGreaterThan(100);
    const cycle = findCycle(g)?.map((f) => relative(SRC, f));
    expect(cycle, `import circle: ${cycle?.join(' → ')}`).toBeUndefined();
  });
});
