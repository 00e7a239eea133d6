// `npx probe …` (README command 1) runs package.json's bin, dist/cli/probe.cjs,
// directly; dist/cli/main.js (the full program it imports, also run directly by
// the Dockerfile of old deployments and by tests) too: both must be executable
// after the build that `npm ci` runs (prepare), with a node shebang.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const MAIN = path.join(ROOT, 'dist/cli/main.js');
const BIN = path.join(ROOT, 'dist/cli/probe.cjs');

describe('the probe binary', () => {
  it('is what package.json names as bin', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ probe: 'dist/cli/probe.cjs' });
  });

  it.runIf(fs.existsSync(MAIN) || process.env.CI === 'true')('is built, executable and starts with a node shebang', () => {
    for (const file of [BIN, MAIN]) {
      const mode = fs.statSync(file).mode;
      expect(mode & 0o111, `${file}: mode ${mode.toString(8)}`).toBe(0o111);
      expect(fs.readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    }
  });
});
