// `probe options` as one self-contained CommonJS file, dist/cli/options-cmd.cjs
// (scripts/bundle.mjs), which the bin (cli/probe.cts) requires when the first
// argument is `options`. The program is the one programFor() builds for
// `probe options …` (top-level program + the options module only), so help,
// usage errors and exit codes are the same; what differs is how it is loaded:
// one file read and compiled synchronously, no ES module loader, no chunk
// graph, none of the other commands' code (issue 19: one-shot start-up budget,
// docs/decisions.md "CLI start-up").
import { withLazyChildProcess } from './lazy-child-process.js';

/** Runs `probe options` with `argv` as process.argv (node, script, 'options', ...). */
export async function main(argv: readonly string[]): Promise<void> {
  const [{ createProgram }, { register }] = await withLazyChildProcess(() => Promise.all([import('./top-program.js'), import('./options.js')]));
  const program = createProgram();
  register(program);
  await program.parseAsync([...argv]);
}
