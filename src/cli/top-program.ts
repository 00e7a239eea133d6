// The top-level `probe` program with no subcommands: name, description, version,
// exit-code handling and the after-help text. Its own module so that the one-file
// command bundles (cli/one-command.ts) take it without program.ts's
// table of every command's import().
import { Command } from 'commander';

/** The top-level program with no subcommands yet. */
export function createProgram(): Command {
  return new Command()
    .name('probe')
    .description(
      'callprobe: watches a telephone system by calling it.\n' +
        'Places SIP test calls, streams RTP both ways, reports loss, jitter and MOS per direction.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride((err) => {
      // commander's own usage errors: exit 2 per the CLI contract (help/version: 0).
      process.exit(err.exitCode === 0 ? 0 : 2);
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 all passed, 1 a probe ran and failed, 2 usage or config error,
3 internal error, 130 interrupted.

Start here:
  probe demo                          a real call against a built-in peer, no PBX needed
  probe call 1001 1002                a test call between two extensions of your PBX
  probe options sip:pbx.example.com   is the SIP server up?
  probe <command> --help              every command explains itself with examples`,
    );
}
