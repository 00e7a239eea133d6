import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMMANDS, createProgram, programFor, registerAll } from '../../../src/cli/program.js';

const CLI_DIR = fileURLToPath(new URL('../../../src/cli/', import.meta.url));

async function fullProgram() {
  const program = createProgram();
  await registerAll(program);
  return program;
}

const argv = (...args: string[]): string[] => ['node', 'probe', ...args];

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe('COMMANDS table', () => {
  it('lists every registered command, in order, with the term and description its module registers', async () => {
    const full = await fullProgram();
    const help = full.createHelp();
    const registered = full.commands.map((c) => ({ name: c.name(), term: help.subcommandTerm(c), description: c.description() }));
    expect(COMMANDS.map(({ name, term, description }) => ({ name, term, description }))).toEqual(registered);
  });

  it('covers every src/cli module that exports register()', async () => {
    const loaded = new Set(await Promise.all(COMMANDS.map((c) => c.load())));
    const withRegister = readdirSync(CLI_DIR).filter(
      (f) => f.endsWith('.ts') && /^export function register\(/m.test(readFileSync(join(CLI_DIR, f), 'utf8')),
    );
    expect(withRegister.length).toBeGreaterThanOrEqual(10);
    for (const file of withRegister) {
      const mod: unknown = await import(join(CLI_DIR, file));
      expect(loaded.has(mod as never), `${file} is not in COMMANDS`).toBe(true);
    }
  });
});

describe('programFor', () => {
  it('gives the same top-level help as the program with every module loaded', async () => {
    const full = await fullProgram();
    for (const args of [[], ['--help'], ['-h'], ['help'], ['bogus']]) {
      const lazy = await programFor(argv(...args));
      expect(lazy.helpInformation()).toBe(full.helpInformation());
    }
  });

  it('loads only the module of the command being run', async () => {
    expect((await programFor(argv('mos', '--codec', 'PCMU', '--loss', '1'))).commands.map((c) => c.name())).toEqual(['mos']);
    expect((await programFor(argv('demo'))).commands.map((c) => c.name())).toEqual(['call', 'demo']);
    expect((await programFor(argv('help', 'rtp'))).commands.map((c) => c.name())).toEqual(['rtp']);
  });

  it('gives each command the same help as the full program', async () => {
    const full = await fullProgram();
    for (const { name } of COMMANDS) {
      const lazy = await programFor(argv(name, '--help'));
      const lazyCmd = lazy.commands.find((c) => c.name() === name);
      const fullCmd = full.commands.find((c) => c.name() === name);
      expect(lazyCmd?.helpInformation(), name).toBe(fullCmd?.helpInformation());
    }
  });

  it('falls back to every module when commander dispatches to a stand-in (`probe -- mos ...`)', async () => {
    // Runs argv through a program and records what it writes and the exit code it asks for.
    async function outcome(program: Awaited<ReturnType<typeof programFor>>, args: string[]) {
      const written: string[] = [];
      const record = (s: string | Uint8Array): boolean => {
        written.push(String(s));
        return true;
      };
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(record);
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(record);
      const exit = vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
        throw new Error(`exit ${String(code)}`);
      });
      let exitCode: string | undefined;
      try {
        await program.parseAsync(args);
      } catch (e) {
        exitCode = (e as Error).message;
      }
      out.mockRestore();
      err.mockRestore();
      exit.mockRestore();
      return { written: written.join(''), exitCode };
    }
    const args = argv('--', 'mos', '--codec', 'PCMU', '--loss', '1');
    const lazy = await programFor(args);
    expect(lazy.commands.length).toBe(COMMANDS.length);
    const got = await outcome(lazy, args);
    expect(got.written).toMatch(/required option '--codec <name>' not specified/);
    expect(got).toEqual(await outcome(await fullProgram(), args));
  });
});
