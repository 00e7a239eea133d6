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
import { build, transform } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'cli');

fs.mkdirSync(outdir, { recursive: true });
for (const f of fs.readdirSync(outdir)) if (f.startsWith('chunk-')) fs.rmSync(path.join(outdir, f));

const result = await build({
  metafile: true,
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

// One-shot commands as one CommonJS file each (issue 19): options -> options-cmd.cjs,
// call and demo (call.ts) -> call-cmd.cjs. The entry (cli/one-command.ts's runOne
// with that command's module) is bundled without splitting, as ESM first (esbuild
// tree-shakes ESM; its CommonJS output keeps whole modules behind every inlined
// `import()`, e.g. 85 KB of speech samples `options` never runs), then turned into
// CommonJS, so the bin (cli/probe.cts, which tsc wrote as dist/cli/probe.cjs) can
// require() it: no ES module loader, one file read and compiled. `import.meta.url`
// becomes the file's URL.
const oneFileOutputs = [];
for (const [out, module] of [
  ['options-cmd.cjs', './options.js'],
  ['call-cmd.cjs', './call.js'],
]) {
  const esm = await build({
    stdin: {
      contents: `import { runOne } from './one-command.js';\nexport const main = (argv) => runOne(() => import('${module}'), argv);\n`,
      resolveDir: path.join(root, 'src', 'cli'),
      sourcefile: `${out}-entry.ts`,
      loader: 'ts',
    },
    write: false,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['pino'],
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const cjs = await transform(esm.outputFiles[0].text, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    define: { 'import.meta.url': '__probeImportMetaUrl' },
    banner: "const __probeImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
    logLevel: 'warning',
  });
  const file = path.join(outdir, out);
  fs.writeFileSync(file, cjs.code);
  oneFileOutputs.push(file);
}
fs.chmodSync(path.join(outdir, 'probe.cjs'), 0o755);

// ASCII only. esbuild escapes non-ASCII in strings, templates and regular
// expressions (charset: ascii, its default) but keeps comments as written, and
// one '§' or '→' in a comment makes V8 hold the whole file as a two-byte string:
// slower to decode (TextDecoder) and scan, twice the memory for every source the
// agent keeps. Only comments are left to rewrite, and there `\u00a7` reads the same.
const outputs = [...Object.keys(result.metafile.outputs).map((out) => path.resolve(root, out)), ...oneFileOutputs];
for (const file of outputs) {
  if (!file.endsWith('.js') && !file.endsWith('.cjs')) continue;
  const text = fs.readFileSync(file, 'utf8');
  if (!/[^\p{ASCII}]/u.test(text)) continue;
  const escape = (c) => {
    const cp = c.codePointAt(0);
    return cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\u{${cp.toString(16)}}`;
  };
  fs.writeFileSync(file, text.replace(/[^\p{ASCII}]/gu, escape));
}
