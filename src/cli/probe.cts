#!/usr/bin/env node
// The `probe` binary (package.json "bin"): a CommonJS dispatcher, so that
// one-shot commands start without Node's ES module loader (~7 ms on the 2-core
// VM). `probe options …` requires dist/cli/options-cmd.cjs and `probe call|demo …`
// dist/cli/call-cmd.cjs, each command as one file (cli/one-command.ts); every
// other command imports the full program, dist/cli/main.js (an ES module with
// per-command chunks), which also still works when run directly. See
// docs/decisions.md "CLI start-up".
const ONE_FILE = new Map([
  ['options', './options-cmd.cjs'],
  ['call', './call-cmd.cjs'],
  ['demo', './call-cmd.cjs'],
]);
const oneFile = ONE_FILE.get(process.argv[2] ?? '');
if (oneFile !== undefined) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require(oneFile) as { main: (argv: readonly string[]) => Promise<void> };
  // A rejection is left unhandled on purpose: Node then prints it and exits 1, as for main.js.
  void main(process.argv);
} else {
  void import('./main.js');
}
