#!/usr/bin/env node
// Builds the udpio addon (native/udpio: kernel receive timestamps and direct
// sendto for RTP, Linux only) with the node-gyp that npm ships, against the
// running Node's own headers (no download). Runs from `npm ci` (install script)
// and `npm run build:native`.
//
// A machine without a C toolchain still installs: callprobe then uses
// node:dgram and says so (`probe call` works, jitter reads up to ~0.2 ms high).
// Under CI=true a failed build fails the install: CI must test what we ship.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'native', 'udpio');
const ci = process.env.CI === 'true' || process.env.CI === '1';

function fallback(why) {
  const msg = `callprobe: udpio addon not built (${why}); media will use node:dgram (no kernel receive timestamps).`;
  if (ci) {
    console.error(`${msg}\nCI=true: failing, the addon must build here (apt-get install g++ make python3).`);
    process.exit(1);
  }
  console.warn(`${msg}\nTo build it later: apt-get install g++ make python3 && npm run build:native`);
  process.exit(0);
}

if (process.platform !== 'linux') {
  console.warn(`callprobe: udpio is Linux-only; using node:dgram on ${process.platform}.`);
  process.exit(0);
}

// npm sets npm_config_node_gyp for lifecycle scripts; else find npm's own copy.
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => fs.existsSync(p));
if (!gyp) fallback('node-gyp not found (it ships with npm)');

// Build against this Node's headers when they are installed next to it (Debian:
// /usr/include/node; official tarballs: <prefix>/include/node), never a download.
const args = [gyp, 'rebuild', '--loglevel=warn'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const run = spawnSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
if (run.status !== 0) fallback(`node-gyp exited with ${run.status ?? run.signal}`);
console.log('callprobe: udpio addon built (native/udpio/build/Release/udpio.node)');
