// `probe mos`: offline ITU-T G.107 E-model calculator. Thin: parse flags,
// call quality/emodel, render. Start-up matters (it is the CLI start-up
// benchmark). quality/ is two small dependency-free files, imported statically:
// one module graph loads faster than a second import() inside the action
// (measured ~8 ms on the 2-core VM). This module is loaded only for `probe mos`.
import type { Command } from 'commander';
import { computeQuality } from '../quality/emodel.js';
import { findCodec, KNOWN_CODECS } from '../quality/codecs.js';
import { EXIT, parseNumber, printJson, runCommand, UsageError } from './common.js';

interface MosOptions {
  codec: string;
  loss: string;
  burst: string;
  delay: string;
  plc: boolean;
  json?: boolean;
}

/** The `--json` contract of `probe mos`. */
export interface MosJson {
  codec: string;
  loss_percent: number;
  burst_ratio: number;
  delay_ms: number;
  r_factor: number;
  mos: number;
}

/** G.107 Annex B user-satisfaction band of an R-factor. */
export function satisfaction(r: number): string {
  if (r >= 90) return 'very satisfied';
  if (r >= 80) return 'satisfied';
  if (r >= 70) return 'some users dissatisfied';
  if (r >= 60) return 'many users dissatisfied';
  if (r >= 50) return 'nearly all users dissatisfied';
  return 'not recommended';
}

export function register(program: Command): void {
  program
    .command('mos')
    .description('E-model calculator (ITU-T G.107): R-factor and MOS from codec, packet loss, burstiness and delay')
    .requiredOption('--codec <name>', 'PCMU, PCMA, G729 or G729A (case-insensitive)')
    .requiredOption('--loss <percent>', 'packet loss in percent, 0-100')
    .option('--burst <ratio>', 'burst ratio BurstR (1 = random loss, >1 = bursty)', '1')
    .option('--delay <ms>', 'one-way mouth-to-ear delay in ms', '0')
    .option('--no-plc', 'the receiver does not conceal lost packets (G.711 Bpl 4.3 instead of 25.1)')
    .option('--json', 'one JSON object on stdout')
    .addHelpText(
      'after',
      `
Model: R = 93.2 - Id - Ie,eff (G.107 defaults), Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl/BurstR + Bpl),
Id = Idd(one-way delay), codec Ie/Bpl from G.113 Appendix I, MOS from R per G.107 Annex B.
See docs/quality.md.

Examples:
  probe mos --codec PCMU --loss 1                  # R 89.56, MOS 4.33
  probe mos --codec pcma --loss 5 --burst 2 --delay 150 --json
  probe mos --codec G729A --loss 2 --no-plc`,
    )
    .action(async (opts: MosOptions) => {
      await runCommand(async () => {
        const lossPercent = parseNumber(opts.loss, 'loss', 0, 100);
        const burstRatio = parseNumber(opts.burst, 'burst', 0);
        if (burstRatio < 1) throw new UsageError(`--burst: must be at least 1 (1 = random loss), got ${opts.burst}`);
        const delayMs = parseNumber(opts.delay, 'delay', 0, 60_000);
        const codec = findCodec(opts.codec);
        if (!codec) throw new UsageError(`--codec: unknown codec "${opts.codec}" (known: ${KNOWN_CODECS.join(', ')})`);
        const q = computeQuality({ codec, lossPercent, burstRatio, delayMs, plc: opts.plc });
        const json: MosJson = {
          codec: codec.name,
          loss_percent: lossPercent,
          burst_ratio: burstRatio,
          delay_ms: delayMs,
          r_factor: q.r_factor,
          mos: q.mos,
        };
        if (opts.json) printJson(json);
        else {
          process.stdout.write(
            `${codec.name}, ${lossPercent}% loss (burst ratio ${burstRatio}), ${delayMs} ms one-way delay, ` +
              `${opts.plc ? 'with' : 'without'} PLC\n` +
              `R-factor ${q.r_factor.toFixed(2)}  MOS ${q.mos.toFixed(2)}  (${satisfaction(q.r_factor)})\n` +
              `  Ie,eff ${q.ie_eff.toFixed(2)}  Id ${q.id.toFixed(2)}\n`,
          );
        }
        return EXIT.OK;
      }, {});
    });
}
