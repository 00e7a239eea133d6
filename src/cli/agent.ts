// `probe agent`: the daemon. Runs the continuous probes, serves /metrics.
import type { Command } from 'commander';
import { EXIT, parseNumber, runCommand } from './common.js';
import { configFlag } from './flags.js';

interface AgentCliOptions {
  config?: string;
  probes?: string[];
  listen?: string;
  concurrency?: string;
  logLevel?: string;
}

/** Hard ceiling for SIGTERM → exit (systemd unit: TimeoutStopSec=15). */
const EXIT_DEADLINE_MS = 10_000;

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the continuous probes and serve /metrics, /probe, /healthz and /-/ready')
    .addOption(configFlag())
    .option('--probes <files...>', 'probe files to run instead of <probes_dir>/*.yaml (smoke*.yaml excluded)')
    .option('--listen <host:port>', 'HTTP listen address (overrides listen.metrics)')
    .option('--concurrency <n>', 'probe runs at once', '4')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace', 'info')
    .addHelpText(
      'after',
      `
Endpoints:
  /metrics                  Prometheus exposition (probe_success, MOS, jitter, ...)
  /probe?target=<probe>     run one configured probe now (blackbox style); &format=json for the result
  /healthz, /-/ready        liveness / readiness
  /evidence/<probe>/<run>.pcap   SIP + RTP of a failed run (config evidence:, linked from alerts)
With http.basic_auth_users / http.bearer_token every path but /healthz and /-/ready needs
credentials; http.tls_server_config serves HTTPS. Listening beyond loopback without them is
refused (exit 2) unless http.allow_unauthenticated: true. /probe runs a probe on demand at
most once per http.probe_min_interval (429 + Retry-After otherwise).

Signals: SIGHUP reloads the config and probes (an invalid config keeps the old one);
SIGTERM aborts running probes (calls hang up) and exits within 10 s.
Under systemd (Type=notify) it sends READY=1, WATCHDOG=1 and STOPPING=1 via systemd-notify.

Examples:
  probe agent --config /etc/callprobe/callprobe.yaml
  probe agent --config lab.yaml --probes probes/continuous.yaml --listen 127.0.0.1:9464
  curl -s 'http://127.0.0.1:9464/probe?target=pbx-options-udp'`,
    )
    .action(async (opts: AgentCliOptions) => {
      await runCommand(async () => {
        const concurrency = parseNumber(opts.concurrency ?? '4', 'concurrency', 1, 64);
        const [{ Agent }, { ConfigError, formatIssues }, { createLogger }, { createSdNotifier }] = await Promise.all([
          import('../agent/agent.js'),
          import('../config/errors.js'),
          import('../log.js'),
          import('../agent/systemd.js'),
        ]);
        const logger = createLogger(opts.logLevel ?? 'info');
        let agent: Awaited<ReturnType<typeof Agent.start>>;
        try {
          agent = await Agent.start({
            logger,
            configFile: opts.config,
            probeFiles: opts.probes,
            listen: opts.listen,
            concurrency,
            systemd: createSdNotifier({ logger }),
          });
        } catch (err) {
          if (err instanceof ConfigError) {
            process.stderr.write(`probe agent: invalid configuration (${err.file}):\n${formatIssues(err.issues)}\n`);
            return EXIT.USAGE;
          }
          const code = (err as { code?: unknown }).code;
          if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
            process.stderr.write(`probe agent: cannot listen: ${(err as Error).message}\n`);
            return EXIT.USAGE;
          }
          throw err;
        }
        const { host, port } = agent.address();
        process.stderr.write(`probe agent: listening on http://${host.includes(':') ? `[${host}]` : host}:${port}\n`);
        return await new Promise<number>((resolve) => {
          const onHup = () => {
            const r = agent.reload();
            if (!r.ok) process.stderr.write(`probe agent: reload failed, keeping the running config:\n${r.message}\n`);
          };
          const onStop = (signal: NodeJS.Signals) => {
            process.off('SIGHUP', onHup);
            const deadline = setTimeout(() => {
              process.stderr.write('probe agent: did not stop in time\n');
              process.exit(EXIT.INTERNAL);
            }, EXIT_DEADLINE_MS);
            deadline.unref();
            void agent.stop().then(() => resolve(signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.OK));
          };
          process.on('SIGHUP', onHup);
          process.once('SIGTERM', onStop);
          process.once('SIGINT', onStop);
        });
      }, opts);
    });
}
