#!/usr/bin/env node
// `probe`: the one binary. Each command lives in its own module that imports
// only commander types at load time; heavy modules (sip/, rtp/, prom-client)
// are imported inside the action, so `probe --help` stays fast.
import { Command } from 'commander';
import { register as registerCall } from './call.js';
import { register as registerCert } from './cert.js';
import { register as registerMos } from './mos.js';

const program = new Command();
program
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
  });

for (const register of [registerCall, registerCert, registerMos]) register(program);

await program.parseAsync(process.argv);
