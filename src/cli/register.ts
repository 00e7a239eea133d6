// `probe register <ext>`: REGISTER an extension with digest auth (or remove
// the probe's own binding; --unregister-all removes every binding), phases timed. Credentials: --password-env VAR, else the
// config's accounts.<ext>.password, else $CALLPROBE_<EXT>_PASSWORD; the
// next hop: --server, else the account's registrar, else the config's pbx.uri,
// else sip:127.0.0.1:5060; the AOR domain: --domain, else the account's domain.
import type { Command } from 'commander';
import { parseNumber, parseTimeout, runCommand, UsageError } from './common.js';
import type { Config } from '../config/schema.js';
import { accountEndpoint, passwordEnvName } from '../config/accounts.js';
import { EVIDENCE_HELP, evidenceOptions, type EvidenceFlags } from './evidence.js';
import { maybeLoadConfig } from './load-config.js';
import { parseTransport, renderSipResult, runSipProbe, tlsOptions } from './options.js';
import type { ProbeContext } from '../probes/context.js';
import type { ProbeResult } from '../probes/result.js';
import { caFlag, configFlag, insecureFlag, logLevelFlag, transportFlag } from './flags.js';

interface RegisterCliOptions extends EvidenceFlags {
  config?: string;
  server?: string;
  passwordEnv?: string;
  authUser?: string;
  domain?: string;
  transport?: string;
  expires: string;
  unregister?: boolean;
  unregisterAll?: boolean;
  timeout: string;
  insecure?: boolean;
  ca?: string;
  json?: boolean;
  logLevel?: string;
}

export function register(program: Command): void {
  evidenceOptions(program.command('register'))
    .description("REGISTER an extension with digest auth and report timings (or --unregister the probe's own binding)")
    .argument('<ext>', 'extension / SIP user to register, e.g. 1001')
    .addOption(configFlag())
    .option('--server <uri>', "next hop: sip:host[:port], sips:host[:port] or host[:port] (default: the account's registrar, else config pbx.uri, else sip:127.0.0.1:5060)")
    .option('--password-env <VAR>', 'environment variable holding the password (default CALLPROBE_<EXT>_PASSWORD)')
    .option('--auth-user <name>', "digest username when it differs from the extension (default: the account's auth_user)")
    .option('--domain <domain>', "AOR domain (default: the account's domain, else its registrar's host, else the server host)")
    .addOption(transportFlag())
    .option('--expires <seconds>', 'requested binding lifetime', '300')
    .option('--unregister', "remove only this probe's own binding(s) of the extension; the extension's phones stay registered")
    .option('--unregister-all', "remove EVERY binding of the extension (Contact: *, Expires: 0): also de-registers the extension's real phones and other devices")
    .option('--timeout <duration>', 'how long to wait for each answer (Timer F)', '5s')
    .addOption(insecureFlag())
    .addOption(caFlag())
    .option('--json', 'print the result object as JSON on stdout')
    .addOption(logLevelFlag())
    .addHelpText(
      'after',
      `
The password is never taken from the command line. Credentials the registrar
rejects stop the probe after 2 REGISTERs, naming user and realm.

Which binding is the probe's: every REGISTER's Contact carries a stable id
derived from extension, domain and this host's name, as the URI parameter
;callprobe=<uuid> and as +sip.instance="<urn:uuid:...>" (RFC 5626). --unregister
lists the bindings (a REGISTER without Contact), then sends only those carrying
that id back with ;expires=0 (RFC 3261 §10.2.2): bindings of phones and other
devices are kept, and a probe run from another process or port is still found.
--unregister-all sends Contact: * and removes every device's binding: use it
only to clean up an extension that no phone uses.

Exit status: 0 registered, 1 probe failed, 2 usage error, 3 internal error.

Examples:
  CALLPROBE_1001_PASSWORD=secret probe register 1001
  probe register 1001 --server sips:127.0.0.1:5061 --insecure --password-env PW1001
  probe register 1001 --unregister --json
  probe register 1001 --unregister-all     # de-registers EVERY device of 1001
  probe register 1001 --trace              # 401 challenge and the answer, ladder
${EVIDENCE_HELP}`,
    )
    .action(async (ext: string, opts: RegisterCliOptions) => {
      await runCommand(async () => {
        const transport = parseTransport(opts.transport);
        const timeoutMs = parseTimeout(opts.timeout);
        const expires = parseNumber(opts.expires, 'expires', 0, 2 ** 31 - 1);
        if (opts.unregister && opts.unregisterAll) throw new UsageError('--unregister and --unregister-all exclude each other');
        const config = await maybeLoadConfig(opts.config);
        // --server, else the account's registrar (a trunk at its carrier), else pbx.uri.
        const account = config?.accounts[ext];
        const hop = accountEndpoint(account, { server: opts.server, transport }, config?.pbx ?? { uri: 'sip:127.0.0.1:5060' });
        const server = hop.server;
        const domain = opts.domain ?? hop.domain;
        const authUser = opts.authUser ?? account?.auth_user;
        const password = passwordFor(ext, opts.passwordEnv, process.env, config);
        const tls = await tlsOptions(opts);
        const { probeRegister } = await import('../probes/register.js');
        const run = (ctx: ProbeContext): Promise<ProbeResult> =>
          probeRegister(ctx, {
            server,
            user: ext,
            ...(password !== undefined ? { password } : {}),
            ...(authUser ? { authUser } : {}),
            ...(domain ? { domain } : {}),
            ...(hop.transport ? { transport: hop.transport } : {}),
            ...(config?.sip.external_ip !== undefined ? { externalAddress: config.sip.external_ip } : {}),
            ...(config !== undefined ? { dscp: config.qos.sip_dscp } : {}),
            expires,
            unregister: opts.unregister === true,
            unregisterAll: opts.unregisterAll === true,
            timeoutMs,
            ...(tls ? { tls } : {}),
          });
        return runSipProbe(opts, run, (result) => renderSipResult(result, `${titleVerb(opts)} ${ext} at ${server}`) + renderRemoval(result));
      }, opts);
    });
}

function titleVerb(opts: Pick<RegisterCliOptions, 'unregister' | 'unregisterAll'>): string {
  if (opts.unregisterAll) return 'unREGISTER (all bindings)';
  return opts.unregister ? 'unREGISTER (own binding)' : 'REGISTER';
}

/** What --unregister removed and kept (nothing for register / --unregister-all). */
export function renderRemoval(result: Readonly<Record<string, unknown>>): string {
  if (!Array.isArray(result.removed)) return '';
  const lines = [`  removed: ${result.removed.length === 0 ? 'none (no binding of this probe was registered)' : result.removed.map(String).join(', ')}`];
  if (typeof result.other_bindings === 'number') lines.push(`  other devices' bindings kept: ${result.other_bindings}`);
  return `${lines.join('\n')}\n`;
}

/** --password-env VAR (must be set), the config's account, or CALLPROBE_<EXT>_PASSWORD (may be absent: then no auth). */
export function passwordFor(
  ext: string,
  passwordEnv: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  config?: Pick<Config, 'accounts'>,
): string | undefined {
  if (passwordEnv !== undefined) {
    const v = env[passwordEnv];
    if (v === undefined || v === '') throw new UsageError(`--password-env: environment variable ${passwordEnv} is not set`);
    return v;
  }
  const fromConfig = config?.accounts[ext]?.password;
  if (fromConfig !== undefined) return fromConfig;
  const v = env[passwordEnvName(ext)];
  return v === undefined || v === '' ? undefined : v;
}
