// `probe run <scenario>`: load the config and the scenario, run its steps,
// print a step table (or --json), optionally JUnit with one testcase per step.
// Exit 0 passed, 1 a step or threshold failed, 2 scenario/config error,
// 3 internal error, 130 interrupted.
import type { Command } from 'commander';
import type { ProbeResult } from '../probes/result.js';
import type { ScenarioResult } from '../probes/scenario/index.js';
import { EXIT, printJson, runCommand, UsageError, type CommonOptions } from './common.js';
import { EVIDENCE_HELP, evidenceOptions, startEvidence, type EvidenceFlags } from './evidence.js';
import { allowInsecureKeysFlag, configFlag } from './flags.js';
import { parseSrtpMode } from './srtp-flag.js';

interface RunFlags extends CommonOptions, EvidenceFlags {
  server?: string;
  srtp?: string;
  allowInsecureKeys?: boolean;
}

/** Paths in messages relative to where the user is, when that is shorter. */
function shortPath(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(`${cwd}/`) ? file.slice(cwd.length + 1) : file;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** The human rendering: one line per step, media per direction, the verdict. Pure. */
export function renderScenario(r: ScenarioResult): string {
  const lines: string[] = [];
  lines.push(`scenario ${r.name}${r.file !== undefined ? ` (${shortPath(r.file)})` : ''}`);
  const labelWidth = Math.max(4, ...r.steps.map((s) => s.step.length));
  lines.push(`  ${pad('#', 3)} ${pad('step', labelWidth)}  ${pad('result', 7)} ${pad('ms', 8)} note`);
  for (const s of r.steps) {
    const status = s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAIL';
    const note = s.ok ? (s.message ?? '') : s.skipped ? '' : `[${s.phase ?? 'internal'}] ${s.message ?? ''}`;
    lines.push(`  ${pad(String(s.index), 3)} ${pad(s.step, labelWidth)}  ${pad(status, 7)} ${pad(s.skipped ? '' : s.ms.toFixed(0), 8)} ${note}`.trimEnd());
  }
  const call = r.call;
  if (call) {
    const t = call.timings_ms;
    const timing = [t.pdd !== undefined ? `pdd ${t.pdd} ms` : '', t.setup !== undefined ? `setup ${t.setup} ms` : '', t.bye !== undefined ? `bye ${t.bye} ms` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(`call ${call.from} → ${call.to}: ${call.final_status ?? 'no answer'} ${call.reason}${timing ? ` (${timing})` : ''}`);
    for (const d of call.media?.directions ?? []) {
      if (d.measured_by === 'none') {
        lines.push(`  ${pad(d.direction, 17)} sent ${d.packets_sent ?? '?'} (not measured: the far end is not ours)`);
        continue;
      }
      lines.push(
        `  ${pad(d.direction, 17)} ${d.packets_received ?? '?'}/${d.packets_sent ?? '?'} pkts, loss ${d.loss_percent ?? '?'}%, jitter ${d.jitter_ms ?? '?'} ms, MOS ${d.mos ?? '?'}`,
      );
    }
  }
  if (r.success) lines.push(`PASS ${r.name} in ${r.duration_s ?? '?'} s`);
  else for (const f of r.failures) lines.push(`FAIL ${f.check} [${f.phase}]${f.message !== undefined ? ` ${f.message}` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** One JUnit testcase per step, plus one for the checks after the steps (thresholds, unchecked status). */
export function junitCases(r: ScenarioResult): ProbeResult[] {
  const stepFailureChecks = new Set(r.steps.filter((s) => !s.ok && !s.skipped).map((s) => `step[${s.index}]`));
  const cases: ProbeResult[] = r.steps.map((s) => ({
    probe: `${r.name} step[${s.index}] ${s.step}`,
    kind: 'scenario',
    success: s.ok || s.skipped === true,
    duration_s: s.ms / 1000,
    failures: s.ok || s.skipped ? [] : r.failures.filter((f) => f.check.startsWith(`step[${s.index}] `)),
    ...(s.skipped ? { skipped: true } : {}),
    ...(s.message !== undefined ? { message: s.message } : {}),
  }));
  const rest = r.failures.filter((f) => ![...stepFailureChecks].some((c) => f.check.startsWith(`${c} `)));
  cases.push({ probe: `${r.name} checks`, kind: 'scenario', success: rest.length === 0, duration_s: 0, failures: rest, ...(r.call ? { call: r.call } : {}) });
  return cases;
}

export function register(program: Command): void {
  evidenceOptions(program.command('run'))
    .description('run a call-flow scenario (register, call, hold, DTMF, cancel, bye...) and report each step')
    .argument('<scenario>', 'scenario file, or a name looked up as <name>.yaml in the config\'s scenarios_dir, then ./scenarios')
    .addOption(configFlag('config file with accounts and pbx'))
    .option('--server <uri>', 'registrar/proxy for this run (overrides the scenario and the config)')
    .option('--srtp <mode>', 'off, optional or required: SDES-SRTP media on the scenario\'s call and its own answering side; keys only over TLS', 'off')
    .addOption(allowInsecureKeysFlag())
    .option('--json', 'one JSON object on stdout (logs on stderr)')
    .option('--junit <file>', 'write JUnit XML: one testcase per step')
    .option('--quiet', 'no table; exit code only (and --json/--junit)')
    .option('--log-level <level>', 'log level on stderr: error, warn, info, debug', 'warn')
    .addHelpText(
      'after',
      `
A scenario is a YAML file of steps (docs/scenarios.md): register, call, expect,
wait, hold, resume, send_dtmf, expect_dtmf, cancel_after, bye, options, and
the ones that listen to the audio: record (a WAV of what was heard),
expect_prompt (a reference recording must be heard; similarity reported) and
expect_echo (round trip of our audio through an echoing far end). The first
failing step stops the run; the call is hung up and every port released.
Errors in the file are printed as "file:line: path: message" (exit 2).

Exit codes: 0 every step and threshold passed, 1 a step or threshold failed,
2 scenario or config error, 3 internal error, 130 interrupted.

Examples:
  probe run scenarios/basic-call.yaml --config /etc/callprobe/callprobe.yaml
  probe run hold-resume --json                 # <scenarios_dir>/hold-resume.yaml
  probe run ivr-dtmf --junit ivr.xml --quiet   # CI: one testcase per step
  probe run hold-resume --pcap hold.pcap --trace   # re-INVITEs on the ladder
  probe run basic-call --srtp required           # SDES-SRTP; the scenario's server must be TLS
${EVIDENCE_HELP}`,
    )
    .action(async (scenarioArg: string, flags: RunFlags) => {
      await runCommand(async () => {
        const [{ loadConfig }, { ConfigError, formatIssues }, scenarios, { createLogger }] = await Promise.all([
          import('../config/load.js'),
          import('../config/errors.js'),
          import('../probes/scenario/index.js'),
          import('../log.js'),
        ]);
        let loaded;
        let spec;
        try {
          loaded = loadConfig(flags.config !== undefined ? { file: flags.config } : {});
          const { file, scenario } = scenarios.loadScenario(scenarioArg, { config: loaded.config });
          if (flags.server !== undefined && !/^sips?:/.test(flags.server)) throw new UsageError(`--server: "${flags.server}" is not a SIP URI (sip:host[:port])`);
          spec = scenarios.buildScenarioSpec(scenario, loaded.config, file, undefined, {
            ...(flags.server !== undefined ? { server: flags.server } : {}),
            srtp: parseSrtpMode(flags.srtp),
            ...(flags.allowInsecureKeys === true ? { allowInsecureKeys: true } : {}),
          });
          const keys = scenarios.scenarioKeysError(spec);
          if (keys !== undefined) throw new UsageError(`--srtp: ${keys}`);
        } catch (err) {
          if (err instanceof ConfigError) {
            process.stderr.write(`probe run: invalid configuration:\n${formatIssues(err.issues)}\n`);
            return EXIT.USAGE;
          }
          if (err instanceof scenarios.ScenarioError) {
            const file = shortPath(err.file);
            process.stderr.write(`probe run: invalid scenario:\n${err.issues.map((i) => scenarios.formatScenarioIssue(file, i)).join('\n')}\n`);
            return EXIT.USAGE;
          }
          throw err;
        }
        const evidence = await startEvidence(flags);
        const controller = new AbortController();
        const onSignal = (): void => controller.abort(new Error('signal'));
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const startedAt = new Date().toISOString();
        let result: ScenarioResult;
        try {
          const ctx = { logger: createLogger(flags.logLevel), signal: controller.signal };
          result = await scenarios.scenarioProbe(evidence ? { ...ctx, recorder: evidence.recorder } : ctx, spec);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (flags.junit !== undefined) {
          const [{ junitXml }, { writeFileSync, renameSync }, { hostname }] = await Promise.all([import('../report/junit.js'), import('node:fs'), import('node:os')]);
          const tmp = `${flags.junit}.tmp-${process.pid}`;
          writeFileSync(tmp, junitXml(junitCases(result), { suite: `scenario ${result.name}`, timestamp: startedAt, hostname: hostname(), ...(result.duration_s !== undefined ? { time_s: result.duration_s } : {}) }));
          renameSync(tmp, flags.junit);
        }
        if (flags.json) printJson(result);
        else if (!flags.quiet) process.stdout.write(renderScenario(result));
        await evidence?.finish();
        if (result.interrupted) return EXIT.INTERRUPTED;
        return result.success ? EXIT.OK : EXIT.PROBE_FAILED;
      }, flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {});
    });
}
