#!/usr/bin/env node
// `probe`: the one binary. Each command lives in its own module that imports
// only commander types at load time; heavy modules (sip/, rtp/, prom-client)
// are imported inside the action, so `probe --help` stays fast.
import { Command } from 'commander';
import { register as registerAgent } from './agent.js';
import { register as registerAnswer } from './answer.js';
import { register as registerCall } from './call.js';
import { register as registerCert } from './cert.js';
import { register as registerConfig } from './config.js';
import { register as registerMos } from './mos.js';
import { register as registerOptions } from './options.js';
import { register as registerRegister } from './register.js';
import { register as registerRtp } from './rtp.js';
import { register as registerRun } from './run.js';
import { register as registerSmoke } from './smoke.js';

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

for (const register of [
  registerCall,
  registerRegister,
  registerOptions,
  registerCert,
  registerRun,
  registerSmoke,
  registerRtp,
  registerAnswer,
  registerMos,
  registerAgent,
  registerConfig,
]) {
  register(program);
}

await program.parseAsync(process.argv);
