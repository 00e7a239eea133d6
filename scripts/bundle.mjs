#!/usr/bin/env node
// Bundles the shipped CLI (part of `npm run build`, after tsc): src/cli/main.ts
// and everything it imports, the npm dependencies included, become
// dist/cli/main.js plus shared chunks dist/cli/chunk-*.js (esbuild, ESM,
// code splitting). Every `import()` that program.ts does per command stays a
// separate chunk, so a one-shot command still loads only its own code, now as
// a handful of files instead of ~35 ES modules, each of which Node would
// resolve, read, compile and link one by one (issue 19: `probe options`
// start-up; docs/decisions.md "CLI start-up").
//
// The chunks sit two levels below the package root like dist/rtp/udp.js does,
// so udp.ts's `new URL('../../native/udpio/…', import.meta.url)` finds the
// addon from the bundle too. pino stays external: log.ts loads it with
// createRequire only when a record passes the level. Commander's CommonJS
// `require()` calls go through a real require (banner), so
// cli/lazy-child-process.ts still defers node:child_process.
//
// Input is src/ (not tsc's dist/), so running this again is harmless; the
// other dist/ files tsc wrote stay for reference but the binary never loads them.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'cli');

fs.mkdirSync(outdir, { recursive: true });
for (const f of fs.readdirSync(outdir)) if (f.startsWith('chunk-')) fs.rmSync(path.join(outdir, f));

await build({
  entryPoints: { main: path.join(root, 'src', 'cli', 'main.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  external: ['pino'],
  allowOverwrite: true,
  legalComments: 'eof',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __probeCreateRequire } from 'node:module';\nconst require = __probeCreateRequire(import.meta.url);" },
});
fs.chmodSync(path.join(outdir, 'main.js'), 0o755);
