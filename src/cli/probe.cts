#!/usr/bin/env node
// The `probe` binary (package.json "bin"): a CommonJS dispatcher, so that the
// one-shot `probe options` starts without Node's ES module loader (~7 ms on
// the 2-core VM). `probe options …` requires dist/cli/options-cmd.cjs, the
// command as one file (cli/options-main.ts); every other command imports the
// full program, dist/cli/main.js (an ES module with per-command chunks), which
// also still works when run directly. See docs/decisions.md "CLI start-up".
if (process.argv[2] === 'options') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require('./options-cmd.cjs') as { main: (argv: readonly string[]) => Promise<void> };
  // A rejection is left unhandled on purpose: Node then prints it and exits 1, as for main.js.
  void main(process.argv);
} else {
  void import('./main.js');
}
