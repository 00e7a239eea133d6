// `probe mos` (src/cli/mos.ts) lives here because it is a thin face of quality/.
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { register, satisfaction } from '../../../src/cli/mos.js';

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  process.exitCode = undefined;
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<number> {
  const program = new Command();
  program.exitOverride();
  register(program);
  await program.parseAsync(['node', 'probe', 'mos', ...args]);
  return Number(process.exitCode ?? 0);
}

describe('probe mos', () => {
  it('prints the JSON contract with exactly the documented keys', async () => {
    expect(await run('--codec', 'pcmu', '--loss', '1', '--json')).toBe(0);
    const json = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['codec', 'loss_percent', 'burst_ratio', 'delay_ms', 'r_factor', 'mos']);
    expect(json).toEqual({ codec: 'PCMU', loss_percent: 1, burst_ratio: 1, delay_ms: 0, r_factor: 89.56, mos: 4.33 });
  });

  it('honours --no-plc, --burst and --delay', async () => {
    await run('--codec', 'PCMA', '--loss', '5', '--no-plc', '--json');
    expect(JSON.parse(out)).toMatchObject({ codec: 'PCMA', r_factor: 42.12, mos: 2.17 });
    out = '';
    await run('--codec', 'PCMU', '--loss', '0', '--delay', '300', '--json');
    expect(JSON.parse(out)).toMatchObject({ delay_ms: 300, r_factor: 78.44, mos: 3.96 });
    out = '';
    await run('--codec', 'PCMU', '--loss', '5', '--burst', '2', '--json');
    const bursty = JSON.parse(out) as { r_factor: number };
    expect(bursty.r_factor).toBeLessThan(77.42);
  });

  it('rates G.722 on the wideband model: 2 % loss gives R 109.79 on the 129 scale (loss term with 95, G.107.1 eq. 7-15)', async () => {
    expect(await run('--codec', 'G722', '--loss', '2', '--json')).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ codec: 'G722', r_factor: 109.79, mos: 4.2 });
  });

  it('renders a human line with R, MOS and the satisfaction band', async () => {
    await run('--codec', 'G729', '--loss', '0');
    expect(out).toMatch(/R-factor 82\.20 {2}MOS 4\.10 {2}\(satisfied\)/);
    expect(satisfaction(93.2)).toBe('very satisfied');
    expect(satisfaction(45)).toBe('not recommended');
  });

  it.each([
    [['--codec', 'iLBC', '--loss', '1'], /unknown codec "iLBC"/],
    [['--codec', 'PCMU', '--loss', '101'], /--loss/],
    [['--codec', 'PCMU', '--loss', 'x'], /--loss/],
    [['--codec', 'PCMU', '--loss', '1', '--burst', '0.5'], /--burst: must be at least 1/],
    [['--codec', 'PCMU', '--loss', '1', '--delay', '-3'], /--delay/],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    expect(await run(...args)).toBe(2);
    expect(err).toMatch(message);
    expect(out).toBe('');
  });
});
