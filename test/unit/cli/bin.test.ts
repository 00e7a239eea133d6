// `npx probe …` (README command 1) runs dist/cli/main.js directly: it must be
// executable after the build that `npm ci` runs (prepare), with a node shebang.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = path.resolve(import.meta.dirname, '../../../dist/cli/main.js');

describe('the probe binary', () => {
  it.runIf(fs.existsSync(MAIN) || process.env.CI === 'true')('is built, executable and starts with a node shebang', () => {
    const mode = fs.statSync(MAIN).mode;
    expect(mode & 0o111, `mode ${mode.toString(8)}`).toBe(0o111);
    expect(fs.readFileSync(MAIN, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
