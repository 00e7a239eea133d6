// `probe cert <target...>`: TLS / certificate expiry. Thin: parse flags, call
// the cert probe, render its result (table or --json).
import type { Command } from 'commander';
import { EXIT, parseNumber, parseTimeout, printJson, runCommand, UsageError } from './common.js';
import type { CertProbeResult, CertTargetReport } from '../probes/cert.js';
import { logLevelFlag } from './flags.js';

interface CertOptions {
  warnDays: string;
  critDays: string;
  timeout: string;
  json?: boolean;
  logLevel?: string;
}

export function register(program: Command): void {
  program
    .command('cert')
    .description('check how soon TLS / SIP-TLS / STIR-SHAKEN certificates expire')
    .argument(
      '<target...>',
      'sips:host[:port], https://host[:port], wss://host[:port], host:port, x5u:https://…/cert.pem, a PEM/DER file or a directory',
    )
    .option('--warn-days <n>', 'fewer whole days left than this → warning', '30')
    .option('--crit-days <n>', 'fewer whole days left than this → critical (expired is always critical)', '7')
    .option('--timeout <duration>', 'per target: connect + TLS handshake (or x5u fetch) deadline', '5s')
    .option('--json', 'one JSON object on stdout: { "targets": [ … ] }')
    .addOption(logLevelFlag())
    .addHelpText(
      'after',
      `
Self-signed certificates are read too (this checks expiry, not trust).
A chain is graded on its earliest expiry; a directory is read file by file
(*.pem, *.crt, *.cer, *.der; keys are skipped).

Exit status: 0 all ok or warning, 1 any critical or unreadable target, 2 usage error.

Examples:
  probe cert sips:pbx.example.com            # SIP over TLS, port 5061
  probe cert sips:127.0.0.1:5062 https://example.com wss://ws.example.com:8443
  probe cert /etc/kamailio/tls/ --warn-days 45 --crit-days 10
  probe cert x5u:https://cert.example.org/shaken.pem --json`,
    )
    .action(async (targets: string[], opts: CertOptions) => {
      await runCommand(async () => {
        const warnDays = parseNumber(opts.warnDays, 'warn-days', 0, 36500);
        const critDays = parseNumber(opts.critDays, 'crit-days', 0, 36500);
        if (critDays > warnDays) throw new UsageError(`--crit-days (${critDays}) must not exceed --warn-days (${warnDays})`);
        const timeoutMs = parseTimeout(opts.timeout);
        const { certProbe } = await import('../probes/cert.js');
        const { createLogger } = await import('../log.js');
        const result = await certProbe(
          { logger: createLogger(opts.logLevel), signal: new AbortController().signal },
          { targets, warn_days: warnDays, crit_days: critDays, timeout_ms: timeoutMs },
        );
        if (opts.json) printJson(certJson(result));
        else process.stdout.write(renderCertTable(result.targets));
        return certExitCode(result);
      }, opts);
    });
}

export function certExitCode(result: CertProbeResult): number {
  return result.targets.some((t) => t.status === 'critical' || t.status === 'error') ? EXIT.PROBE_FAILED : EXIT.OK;
}

/** The `--json` contract: stable keys first, details (certs, error) after. */
export function certJson(result: CertProbeResult): { targets: Record<string, unknown>[] } {
  return {
    targets: result.targets.map((t) => ({
      target: t.target,
      subject: t.subject,
      sans: t.sans,
      issuer: t.issuer,
      not_after: t.not_after,
      days_left: t.days_left,
      status: t.status,
      chain_earliest_not_after: t.chain_earliest_not_after,
      chain_earliest_days_left: t.chain_earliest_days_left,
      certs: t.certs,
      ...(t.error ? { error: t.error } : {}),
    })),
  };
}

export function renderCertTable(reports: CertTargetReport[]): string {
  const header = ['STATUS', 'DAYS', 'NOT AFTER', 'SUBJECT', 'TARGET'];
  const rows = reports.map((r) => [
    r.status.toUpperCase(),
    r.chain_earliest_days_left === null ? '-' : String(r.chain_earliest_days_left),
    r.chain_earliest_not_after?.slice(0, 10) ?? '-',
    r.subject ?? '-',
    r.target,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const r of reports) {
    if (r.error) out.push(`  ${r.error.message} [phase ${r.error.phase}]`);
    else if (r.status !== 'ok' && r.days_left !== r.chain_earliest_days_left)
      out.push(`  ${r.target}: leaf has ${r.days_left} day(s) left; an issuer in the chain expires first`);
  }
  return `${out.join('\n')}\n`;
}
