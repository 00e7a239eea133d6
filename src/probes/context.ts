// What every probe function receives besides its own spec. The runner builds it.
import type { PacketRecorder } from '../evidence/recorder.js';
import type { Logger } from '../log.js';
import type { ProbeResult } from './result.js';

export interface ProbeContext {
  logger: Logger;
  /** Aborted when the probe's timeout passes or the agent shuts down: hang up, release, return. */
  signal: AbortSignal;
  /** Keeps the run's own SIP and RTP/RTCP packets (evidence: --trace, --pcap, the agent's pcaps). */
  recorder?: PacketRecorder;
}

/** One signature for every probe kind (blackbox_exporter style). */
export type ProbeFn<Spec> = (ctx: ProbeContext, spec: Spec) => Promise<ProbeResult>;
