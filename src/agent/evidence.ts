// The agent's side of evidence (docs/evidence.md): a recorder per probe run
// when `evidence.pcap` is not off, the run's pcap stored when it failed (or
// always), and the link + SIP ladder put on the result, where the alert
// notifier finds them. Served at /evidence/<probe>/<run>.pcap by http.ts.
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { ladderSummary } from '../evidence/ladder.js';
import { pcapFile } from '../evidence/pcap.js';
import { EvidenceRecorder } from '../evidence/recorder.js';
import { EvidenceStore } from '../evidence/store.js';
import type { Logger } from '../log.js';
import { failed, type ProbeResult } from '../probes/result.js';

/** What a result carries about its evidence (alerts copy it). */
export interface EvidenceLink {
  /** Absolute URL of the pcap. */
  url: string;
  /** The SIP ladder, ≤ 20 plain lines. */
  ladder: string[];
}

export class AgentEvidence {
  private readonly store: EvidenceStore;

  constructor(
    private readonly settings: Config['evidence'],
    stateDir: string,
    /** Base of links: evidence.url, else http://<where the agent listens>. */
    private readonly base: () => string,
    private readonly logger: Logger,
  ) {
    this.store = new EvidenceStore({ dir: join(stateDir, 'evidence'), keep: settings.keep, maxBytes: settings.max_bytes });
  }

  /** A recorder for one run, or undefined when evidence is off. */
  recorder(): EvidenceRecorder | undefined {
    return this.settings.pcap === 'off' ? undefined : new EvidenceRecorder({ rtp: this.settings.rtp });
  }

  /** Stores the run's pcap when the policy wants it and sets `result.evidence`. */
  attach(result: ProbeResult, probe: string, recorder: EvidenceRecorder | undefined): void {
    if (!recorder || recorder.records.length === 0) return;
    if (this.settings.pcap === 'on_failure' && !failed(result)) return;
    const saved = this.store.save(probe, pcapFile(recorder.records));
    if (!saved) {
      this.logger.warn({ probe }, 'evidence pcap not stored (write failed or larger than evidence.max_bytes)');
      return;
    }
    const link: EvidenceLink = { url: `${this.base().replace(/\/+$/, '')}${saved.path}`, ladder: ladderSummary(recorder.records, 20) };
    result.evidence = link;
  }

  /** A stored pcap by its URL segments. */
  read(probeDir: string, run: string): Buffer | undefined {
    return this.store.read(probeDir, run);
  }
}
