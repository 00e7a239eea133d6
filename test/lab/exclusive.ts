// setupFile of the `integration` project: takes this file's locks (concurrency.ts)
// before its first hook and releases them after its last one. A file not listed in
// concurrency.ts holds quiet.lock exclusively and so runs alone, as all files did
// before the project ran two workers. The locks are flock(1) children (lock.ts):
// they go away with the worker.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { classify } from './concurrency.js';
import { holdFileLock, type LabLock } from './lock.js';

/** A file may wait for every other file before it: allow the whole suite's length. */
const WAIT_S = 30 * 60;

const held: LabLock[] = [];
let note = (_what: string): void => undefined;

beforeAll(async () => {
  const file = expect.getState().testPath;
  if (!file) throw new Error('exclusive.ts: no test file path (setupFiles of the integration project only)');
  const dir = inject('labWorkdir');
  const kind = classify(file);
  // <workdir>/locks.log: when each file got and released its locks (kept with the
  // workdir when a test failed: which files ran side by side)
  note = (what) => fs.appendFileSync(path.join(dir, 'locks.log'), `${new Date().toISOString()} ${what} ${kind} ${path.basename(file)}\n`);
  note('wait');
  // always lab.lock before quiet.lock: no two files wait for each other
  if (kind === 'untimed-lab') held.push(await holdFileLock(path.join(dir, 'lab.lock'), WAIT_S));
  held.push(await holdFileLock(path.join(dir, 'quiet.lock'), WAIT_S, undefined, kind === 'alone' ? 'exclusive' : 'shared'));
  note('start');
}, (WAIT_S + 60) * 1000);

afterAll(async () => {
  if (held.length) note('end');
  for (const l of held.splice(0).reverse()) await l.release();
});
