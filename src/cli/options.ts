// `probe options <uri>`: one SIP OPTIONS ping, phases timed. Thin: parse
// flags, call the options probe, render its result (human or --json).
import type { Command } from 'commander';
import { EXIT, parseTimeout, printJson, runCommand, UsageError } from './common.js';
import { EVIDENCE_HELP, evidenceOptions, startEvidence, type EvidenceFlags } from './evidence.js';
import type { ProbeContext } from '../probes/context.js';
import type { ProbeResult } from '../probes/result.js';
import { caFlag, insecureFlag, logLevelFlag, transportFlag } from './flags.js';

interface OptionsCliOptions extends EvidenceFlags {
  transport?: string;
  timeout: string;
  insecure?: boolean;
  ca?: string;
  servername?: string;
  json?: boolean;
  logLevel?: string;
}

export function register(program: Command): void {
  evidenceOptions(program.command('options'))
    .description('SIP OPTIONS ping over UDP, TCP or TLS; reports dns, connect, tls and request times')
    .argument('<uri>', 'server to ping: sip:host[:port], sips:host[:port], or host[:port]')
    .addOption(transportFlag())
    .option('--timeout <duration>', 'how long to wait for the answer (Timer F)', '5s')
    .addOption(insecureFlag())
    .addOption(caFlag())
    .option('--servername <name>', 'TLS: SNI and certificate name to check (default: the URI host)')
    .option('--json', 'print the result object as JSON on stdout')
    .addOption(logLevelFlag())
    .addHelpText(
      'after',
      `
Success is any 2xx answer. Failures name the phase that broke (dns, connect,
tls, options) and why, e.g. "no response (Timer F)" or "connection refused".

Exit status: 0 answered 2xx, 1 probe failed, 2 usage error, 3 internal error.

Examples:
  probe options sip:127.0.0.1:5060
  probe options sip:pbx.example.com --transport tcp --timeout 2s
  probe options sips:127.0.0.1:5061 --insecure --json
  probe options sip:127.0.0.1:5060 --trace=full
${EVIDENCE_HELP}`,
    )
    .action(async (uri: string, opts: OptionsCliOptions) => {
      await runCommand(async () => {
        const transport = parseTransport(opts.transport);
        const timeoutMs = parseTimeout(opts.timeout);
        const tls = await tlsOptions(opts);
        const { probeOptions } = await import('../probes/options.js');
        return runSipProbe(
          opts,
          (ctx) => probeOptions(ctx, { target: uri, ...(transport ? { transport } : {}), timeoutMs, ...(tls ? { tls } : {}) }),
          (result) => renderSipResult(result, `OPTIONS ${uri}`),
        );
      }, opts);
    });
}

/**
 * The run of a one-request SIP probe (options, register) once its flags are
 * read: --trace/--pcap evidence and the logger around `probe`, the result as
 * --json or as `render` words it, exit 0 for a success without failures, else 1.
 */
export async function runSipProbe(
  opts: EvidenceFlags & { json?: boolean; logLevel?: string },
  probe: (ctx: ProbeContext) => Promise<ProbeResult>,
  render: (result: ProbeResult) => string,
): Promise<number> {
  const { createLogger } = await import('../log.js');
  const evidence = await startEvidence(opts);
  const result = await probe({ logger: createLogger(opts.logLevel), signal: new AbortController().signal, ...(evidence ? { recorder: evidence.recorder } : {}) });
  if (opts.json) printJson(result);
  else process.stdout.write(render(result));
  await evidence?.finish();
  return result.success && result.failures.length === 0 ? EXIT.OK : EXIT.PROBE_FAILED;
}

export function parseTransport(text: string | undefined): 'udp' | 'tcp' | 'tls' | undefined {
  if (text === undefined) return undefined;
  const t = text.toLowerCase();
  if (t === 'udp' || t === 'tcp' || t === 'tls') return t;
  throw new UsageError(`--transport: "${text}" is not one of udp, tcp, tls`);
}

export async function tlsOptions(opts: { insecure?: boolean; ca?: string; servername?: string }): Promise<{ insecure?: boolean; ca?: string; servername?: string } | undefined> {
  if (!opts.insecure && !opts.ca && !opts.servername) return undefined;
  const out: { insecure?: boolean; ca?: string; servername?: string } = {};
  if (opts.insecure) out.insecure = true;
  if (opts.servername) out.servername = opts.servername;
  if (opts.ca) {
    const { readFile } = await import('node:fs/promises');
    try {
      out.ca = await readFile(opts.ca, 'utf8');
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${opts.ca} (${(err as { code?: string }).code ?? 'error'})`);
    }
  }
  return out;
}

/** Human rendering of an options/register result: status line, one line per phase with ms, failures. */
export function renderSipResult(result: ProbeResult, title: string): string {
  const lines: string[] = [];
  const sip = result.sip;
  const status = typeof sip?.final_status === 'number' ? `${sip.final_status} ${sip.reason ?? ''}`.trim() : 'no answer';
  const transport = typeof result.transport === 'string' ? ` over ${result.transport}` : '';
  lines.push(`${title}${transport}: ${result.success ? 'OK' : 'FAILED'} (${status})`);
  const timings = sip?.timings_ms ?? {};
  for (const phase of ['dns', 'connect', 'tls', 'request']) {
    const ms = timings[phase];
    if (ms !== undefined) lines.push(`  ${phase.padEnd(8)} ${ms.toFixed(1).padStart(9)} ms`);
  }
  for (const [key, label] of [['attempts', 'requests sent'], ['expires', 'expires (s)'], ['contact', 'contact']] as const) {
    if (result[key] !== undefined) lines.push(`  ${label}: ${String(result[key])}`);
  }
  for (const f of result.failures) lines.push(`  failure [${f.phase}] ${f.check}: ${f.message ?? ''}`);
  return `${lines.join('\n')}\n`;
}
