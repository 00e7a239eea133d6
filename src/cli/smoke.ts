// `probe smoke [suite]`: run a probe suite once (post-update smoke test).
import type { Command } from 'commander';
import type { ProbeResult } from '../probes/result.js';
import type { SuiteResult } from '../probes/runner.js';
import { EXIT, UsageError, parseNumber, printJson, runCommand } from './common.js';
import { configFlag } from './flags.js';

interface SmokeOptions {
  config?: string;
  junit?: string;
  json?: boolean;
  push?: string;
  concurrency?: string;
  quiet?: boolean;
  logLevel?: string;
}

function firstFailure(r: ProbeResult): string {
  const f = r.failures[0];
  if (f === undefined) return r.success ? '' : 'failed';
  const detail = f.message ?? (f.expected !== undefined || f.actual !== undefined ? `expected ${String(f.expected)}, got ${String(f.actual)}` : '');
  return `[${f.phase}] ${f.check}${detail === '' ? '' : `: ${detail}`}${r.failures.length > 1 ? ` (+${r.failures.length - 1} more)` : ''}`;
}

/** The human table: one line per probe, then a summary. */
export function renderSmokeTable(suite: string, s: SuiteResult): string {
  const rows = s.results.map((r) => [r.probe, r.kind, r.success ? 'ok' : 'FAIL', `${r.duration_s.toFixed(3)}s`, r.success ? '' : firstFailure(r)]);
  const header = ['PROBE', 'KIND', 'RESULT', 'TIME', 'DETAILS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    `${suite}: ${s.results.length} probes, ${s.passed} passed, ${s.failed} failed (${s.duration_s.toFixed(1)} s)`,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('smoke')
    .description('run a probe suite once and report (post-update smoke test)')
    .argument('[suite]', 'suite file, or a name in <probes_dir> (default: <probes_dir>/smoke.yaml, else ./probes/smoke.yaml)')
    .addOption(configFlag())
    .option('--junit <file>', 'write JUnit XML (one testcase per probe) to this file')
    .option('--json', 'print the suite result as one JSON object on stdout')
    .option('--push <url>', 'push the results to a Prometheus Pushgateway (job callprobe_smoke, grouped by suite)')
    .option('--concurrency <n>', 'probes run at once', '1')
    .option('--quiet', 'no table; exit code only (and --junit/--json)')
    .option('--log-level <level>', 'log level on stderr', 'warn')
    .addHelpText(
      'after',
      `
Exit codes: 0 every probe passed; 1 a probe failed; 2 usage/config error (or a probe kind
this build lacks); 3 internal error (a probe crashed, or the push failed).

Examples:
  probe smoke                                   # <probes_dir>/smoke.yaml
  probe smoke probes/smoke.yaml --junit smoke.xml
  probe smoke after-upgrade --json --push http://127.0.0.1:9091`,
    )
    .action(async (suiteArg: string | undefined, opts: SmokeOptions) => {
      await runCommand(async () => {
        const concurrency = parseNumber(opts.concurrency ?? '1', 'concurrency', 1, 32);
        const [{ existsSync }, { resolve, join, basename }, { loadConfig }, { loadProbeFiles }, { ConfigError, formatIssues }, { runSuite, suiteOutcome }, { createLogger }] =
          await Promise.all([
            import('node:fs'),
            import('node:path'),
            import('../config/load.js'),
            import('../config/probes.js'),
            import('../config/errors.js'),
            import('../probes/runner.js'),
            import('../log.js'),
          ]);
        const logger = createLogger(opts.logLevel ?? 'warn');
        let loaded;
        let defs;
        let suiteFile: string;
        try {
          loaded = loadConfig({ file: opts.config });
          const name = suiteArg ?? 'smoke';
          const candidates = [resolve(name), join(loaded.config.probes_dir, name), join(loaded.config.probes_dir, `${name}.yaml`)];
          if (suiteArg === undefined) candidates.push(resolve('probes', 'smoke.yaml'));
          const found = candidates.find((c) => existsSync(c) && /\.ya?ml$/.test(c));
          if (found === undefined) throw new UsageError(`suite "${name}" not found (looked for ${candidates.join(', ')})`);
          suiteFile = found;
          defs = loadProbeFiles([suiteFile], loaded.config);
        } catch (err) {
          if (err instanceof ConfigError) {
            process.stderr.write(`probe smoke: invalid configuration:\n${formatIssues(err.issues)}\n`);
            return EXIT.USAGE;
          }
          throw err;
        }
        const suite = basename(suiteFile).replace(/\.ya?ml$/, '');
        const interrupt = new AbortController();
        const onSigint = () => interrupt.abort(new Error('interrupted'));
        process.once('SIGINT', onSigint);
        process.once('SIGTERM', onSigint);
        let result: SuiteResult;
        try {
          result = await runSuite(defs, { config: loaded.config, logger, signal: interrupt.signal, concurrency });
        } finally {
          process.off('SIGINT', onSigint);
          process.off('SIGTERM', onSigint);
        }
        if (interrupt.signal.aborted) {
          process.stderr.write('probe smoke: interrupted\n');
          return EXIT.INTERRUPTED;
        }

        if (opts.junit !== undefined) {
          const [{ junitXml }, { writeFileSync, renameSync }, { hostname }] = await Promise.all([
            import('../report/junit.js'),
            import('node:fs'),
            import('node:os'),
          ]);
          const tmp = `${opts.junit}.tmp-${process.pid}`;
          writeFileSync(tmp, junitXml(result.results, { suite, timestamp: result.started_at, hostname: hostname(), time_s: result.duration_s }));
          renameSync(tmp, opts.junit);
        }
        if (opts.json) printJson({ suite, file: suiteFile, ...result });
        else if (!opts.quiet) process.stdout.write(renderSmokeTable(suite, result));

        const outcome = suiteOutcome(result.results);
        let pushFailed = false;
        if (opts.push !== undefined) {
          const { pushResults } = await import('../report/pushgateway.js');
          try {
            await pushResults(
              result.results.map((r) => ({ result: r, def: { name: r.probe, kind: r.kind } })),
              { url: opts.push, groupings: { suite } },
            );
          } catch (err) {
            pushFailed = true;
            process.stderr.write(`probe smoke: push to ${opts.push} failed: ${(err as Error).message}\n`);
          }
        }
        const codes = { passed: EXIT.OK, failed: EXIT.PROBE_FAILED, config: EXIT.USAGE, internal: EXIT.INTERNAL } as const;
        return pushFailed && outcome === 'passed' ? EXIT.INTERNAL : codes[outcome];
      }, opts);
    });
}
