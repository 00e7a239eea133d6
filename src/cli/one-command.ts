// A command as one self-contained CommonJS file (issue 19, one-shot start-up):
// scripts/bundle.mjs bundles `runOne(() => import('./options.js'), argv)` into
// dist/cli/options-cmd.cjs, and the same for call.js (call, demo) into
// dist/cli/call-cmd.cjs; the bin (cli/probe.cts) requires that file when the
// first argument names its command. The program is the one programFor() builds
// for that command (the top-level program of top-program.ts plus the command's
// module only), so help, usage errors and exit codes are the same as through
// main.js; what differs is how it is loaded: one file read and compiled
// synchronously, no ES module loader, no chunk graph, none of the other
// commands' code (docs/decisions.md "CLI start-up").
import type { Command } from 'commander';
import { withLazyChildProcess } from './lazy-child-process.js';

/** Runs the command that `load`'s module registers, with `argv` as process.argv (node, script, command, ...). */
export async function runOne(load: () => Promise<{ register: (program: Command) => void }>, argv: readonly string[]): Promise<void> {
  const [{ createProgram }, { register }] = await withLazyChildProcess(() => Promise.all([import('./top-program.js'), load()]));
  const program = createProgram();
  register(program);
  await program.parseAsync([...argv]);
}
