// The `probe` program, built so that start-up loads only what the invocation
// needs (design budget: `probe --help` and one-shot commands ≤ `node -e 0` + 60 ms).
// Importing and registering all command modules cost ~40 ms of a ~90 ms
// overhead on a 2-core VM (each ESM file is a resolve + async read + compile,
// and every register() builds its options and help text). So:
//   - `probe <command> ...` and `probe help <command>` load that command's module only;
//   - anything else (`probe`, `--help`, `--version`, an unknown command) gets the
//     top-level help from the COMMANDS table below, with stand-ins that load every
//     module and parse again if commander ever dispatches to one.
// test/unit/cli/program.test.ts checks that the table matches what the modules
// register and that the help output is the same as with every module loaded.
import { Help, type Command } from 'commander';
import { createProgram } from './top-program.js';

export { createProgram };

type Register = (program: Command) => void;

export interface CommandEntry {
  /** Subcommand name as typed. */
  name: string;
  /** How the top-level help lists it (commander's subcommandTerm of the real command). */
  term: string;
  /** Its description, as the module registers it. */
  description: string;
  /** The module that registers it (one module may register several commands). */
  load: Load;
}

type Load = () => Promise<{ register: Register }>;

/**
 * The entries of one command module: each command as [name, what its help
 * term adds after the name ('' for nothing), description].
 */
function fromModule(load: Load, ...commands: [name: string, usage: string, description: string][]): CommandEntry[] {
  return commands.map(([name, usage, description]) => ({ name, term: usage === '' ? name : `${name} ${usage}`, description, load }));
}

/** Every subcommand, in the order the top-level help lists them, by the module that registers it. */
export const COMMANDS: readonly CommandEntry[] = [
  ...fromModule(
    () => import('./call.js'),
    ['call', '[options] <from> <to>', 'place one test call and measure audio both ways (loss, jitter, MOS per direction)'],
    ['demo', '[options]', 'a real SIP call with two-way RTP against an answering peer callprobe starts on 127.0.0.1 (no PBX needed)'],
  ),
  ...fromModule(() => import('./register.js'), ['register', '[options] <ext>', "REGISTER an extension with digest auth and report timings (or --unregister the probe's own binding)"]),
  ...fromModule(() => import('./options.js'), ['options', '[options] <uri>', 'SIP OPTIONS ping over UDP, TCP or TLS; reports dns, connect, tls and request times']),
  ...fromModule(() => import('./cert.js'), ['cert', '[options] <target...>', 'check how soon TLS / SIP-TLS / STIR-SHAKEN certificates expire']),
  ...fromModule(() => import('./run.js'), ['run', '[options] <scenario>', 'run a call-flow scenario (register, call, hold, DTMF, cancel, bye...) and report each step']),
  ...fromModule(() => import('./smoke.js'), ['smoke', '[options] [suite]', 'run a probe suite once and report (post-update smoke test)']),
  ...fromModule(() => import('./rtp.js'), ['rtp', '', 'RTP-only tests between two agents (no SIP): listen, send, echo']),
  ...fromModule(() => import('./answer.js'), ['answer', '[options]', 'answer SIP calls without a registrar and report what each call received (far end for agent-to-agent tests)']),
  ...fromModule(() => import('./mos.js'), ['mos', '[options]', 'E-model calculator (ITU-T G.107): R-factor and MOS from codec, packet loss, burstiness and delay']),
  ...fromModule(() => import('./agent.js'), ['agent', '[options]', 'run the continuous probes and serve /metrics, /probe, /healthz and /-/ready']),
  ...fromModule(() => import('./config.js'), ['config', '', 'inspect and validate the configuration']),
];

/** Registers every command module, in table order (each module once). */
export async function registerAll(program: Command): Promise<void> {
  // import() of one module gives the same namespace object: call and demo share call.js.
  const modules = new Set(await Promise.all(COMMANDS.map((c) => c.load())));
  for (const mod of modules) mod.register(program);
}

/**
 * The program for one invocation (`argv` as process.argv: node, script, args...).
 * Behaves exactly as the program with every module registered.
 */
export async function programFor(argv: readonly string[]): Promise<Command> {
  const program = createProgram();
  const [first, second] = argv.slice(2);
  const direct = COMMANDS.find((c) => c.name === first) ?? (first === 'help' ? COMMANDS.find((c) => c.name === second) : undefined);
  if (direct) {
    (await direct.load()).register(program);
    return program;
  }
  const terms = new WeakMap<Command, string>();
  for (const entry of COMMANDS) {
    const stub = program
      .command(entry.name)
      .description(entry.description)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async () => {
        // Reached only through argument shapes the fast path above does not
        // recognise (e.g. `probe -- mos`): parse again with everything loaded.
        const full = createProgram();
        await registerAll(full);
        await full.parseAsync([...argv]);
      });
    terms.set(stub, entry.term);
  }
  program.configureHelp({
    subcommandTerm(this: Help, cmd: Command): string {
      return terms.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd);
    },
  });
  return program;
}
