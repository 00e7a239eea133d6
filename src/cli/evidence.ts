// `--trace` and `--pcap <file>` for the commands that speak SIP (call, register,
// options, run): one recorder for the run, handed to the probe in its context;
// afterwards the SIP ladder on the terminal and/or the pcap on disk.
import type { Command } from 'commander';
import type { FileHandle } from 'node:fs/promises';
import type { EvidenceRecorder } from '../evidence/recorder.js';
import { UsageError } from './common.js';

export interface EvidenceFlags {
  /** true for the ladder, "full" for the ladder and every message. */
  trace?: boolean | string;
  pcap?: string;
  json?: boolean;
}

/** What a command holds during the run. */
export interface Evidence {
  recorder: EvidenceRecorder;
  finish(): Promise<void>;
}

/** Adds --trace and --pcap to a command. */
export function evidenceOptions(cmd: Command): Command {
  return cmd
    .option('--trace [full]', 'print the SIP ladder of the run (time, arrow, method/status, CSeq, hop); --trace=full adds every message (digest responses masked)')
    .option('--pcap <file>', "write the run's own SIP and RTP/RTCP packets to a pcap file (Wireshark/tshark: VoIP calls, RTP streams)");
}

/** Help text paragraph shared by the commands. */
export const EVIDENCE_HELP = `
Evidence: --trace prints the SIP message ladder after the result (on stderr with
--json), colour on a terminal; --trace=full adds each message in full. --pcap
FILE writes what this run sent and received (SIP, RTP, RTCP; kernel receive
times) as a pcap for Wireshark (Telephony → VoIP Calls, RTP → RTP Streams) or
\`tshark -r FILE -q -z rtp,streams\`. SIP over TCP/TLS appears as SIP over UDP
between the same ports (decrypted). Digest responses are masked in both.`;

/** A recorder when --trace or --pcap asks for one (the pcap file is opened now, so a bad path fails first). */
export async function startEvidence(flags: EvidenceFlags): Promise<Evidence | undefined> {
  const trace = flags.trace;
  if (trace !== undefined && trace !== true && trace !== 'full' && trace !== 'ladder') {
    throw new UsageError(`--trace: "${String(trace)}" is not a trace mode (use --trace or --trace=full, after the arguments)`);
  }
  if (trace === undefined && flags.pcap === undefined) return undefined;
  let file: FileHandle | undefined;
  if (flags.pcap !== undefined) {
    const { open } = await import('node:fs/promises');
    try {
      file = await open(flags.pcap, 'w');
    } catch (err) {
      throw new UsageError(`--pcap: cannot write ${flags.pcap} (${(err as { code?: string }).code ?? String(err)})`);
    }
  }
  const { EvidenceRecorder } = await import('../evidence/recorder.js');
  const recorder = new EvidenceRecorder({ rtp: file ? 'full' : 'none' });
  return {
    recorder,
    async finish() {
      if (trace !== undefined) {
        const { renderLadder } = await import('../evidence/ladder.js');
        const out = flags.json ? process.stderr : process.stdout;
        out.write(renderLadder(recorder.records, { full: trace === 'full', color: out.isTTY === true && process.env.NO_COLOR === undefined }));
      }
      if (recorder.dropped > 0) process.stderr.write(`probe: evidence kept only the first 32 MiB of packets (${recorder.dropped} not kept)\n`);
      if (file) {
        const { pcapFile } = await import('../evidence/pcap.js');
        try {
          await file.writeFile(pcapFile(recorder.records));
        } finally {
          await file.close();
        }
      }
    },
  };
}
