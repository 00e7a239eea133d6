// `probe config check <file>`: validates a config (and the probe files in its
// probes_dir, when that directory exists) and prints OK or every error.
// `probe config hash-password`: a password hash for http.basic_auth_users.
import type { Command } from 'commander';
import { EXIT, runCommand, printJson, UsageError } from './common.js';

interface CheckOptions {
  json?: boolean;
  probes?: string[];
  logLevel?: string;
}

export function register(program: Command): void {
  const config = program.command('config').description('inspect and validate the configuration');
  config
    .command('check')
    .description('validate a config file: print OK, or every error as "path: message" (exit 2)')
    .argument('[file]', 'config file (default: $CALLPROBE_CONFIG, ./callprobe.yaml, /etc/callprobe/callprobe.yaml)')
    .option('--probes <files...>', 'probe definition files to check against it (default: *.yaml in its probes_dir)')
    .option('--json', 'print {"ok": bool, "errors": [{file, path, message, line}], "warnings": [...]} on stdout')
    .option('--log-level <level>', 'log level', 'warn')
    .addHelpText(
      'after',
      `
Secrets (env:NAME, file:/path) are resolved, so run it with the agent's environment.
Warnings (exit 0): the probe's RTP ports overlap rtp.relay (rtpengine on this host),
or an allowed destination like "*97" that matches every number ending in 97.
Exit codes: 0 valid, 2 invalid.

Examples:
  probe config check /etc/callprobe/callprobe.yaml
  probe config check callprobe.yaml --probes probes/smoke.yaml
  CALLPROBE_CONFIG=./lab.yaml probe config check --json`,
    )
    .action(async (file: string | undefined, opts: CheckOptions) => {
      await runCommand(async () => {
        const { checkConfig } = await import('../config/check.js');
        const result = checkConfig({ file, probeFiles: opts.probes });
        if (opts.json) {
          printJson(result);
        } else {
          const { formatIssue } = await import('../config/errors.js');
          for (const w of result.warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
          if (result.ok) process.stdout.write(`OK ${result.file} (${result.probes} probe${result.probes === 1 ? '' : 's'})\n`);
          else for (const e of result.errors) process.stderr.write(`${formatIssue(e)}\n`);
        }
        return result.ok ? EXIT.OK : EXIT.USAGE;
      }, opts);
    });
  config
    .command('hash-password')
    .description('read a password on stdin, print its scrypt hash for http.basic_auth_users')
    .addHelpText(
      'after',
      `
The password is the first line of stdin (nothing is echoed). The hash is a PHC string,
$scrypt$ln=15,r=8,p=1$<salt>$<hash>; passlib's scrypt hashes are accepted as well.

Example:
  printf '%s' "$PW" | probe config hash-password
  # callprobe.yaml:  http: { basic_auth_users: { prometheus: "<that line>" } }`,
    )
    .action(async () => {
      await runCommand(async () => {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
        if (password === '') throw new UsageError('no password on stdin');
        const { hashPassword } = await import('../agent/http-auth.js');
        process.stdout.write(`${await hashPassword(password)}\n`);
        return EXIT.OK;
      });
    });
}
