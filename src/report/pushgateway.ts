// One-shot runs (probe smoke) have nobody to scrape them: push their metrics
// to a Prometheus Pushgateway, grouped by suite, replacing the previous push.
import { Pushgateway } from 'prom-client';
import type { ProbeResult } from '../probes/result.js';
import { ProbeMetrics, type ProbeIdentity } from './metrics.js';

export interface PushOptions {
  url: string;
  job?: string;
  /** Grouping labels; `suite` at least. */
  groupings: Record<string, string>;
  timeoutMs?: number;
}

export async function pushResults(results: readonly { result: ProbeResult; def: ProbeIdentity }[], opts: PushOptions): Promise<void> {
  const metrics = new ProbeMetrics();
  try {
    for (const { result, def } of results) metrics.recordResult(result, def);
    const gateway = new Pushgateway(opts.url, { timeout: opts.timeoutMs ?? 10_000 }, metrics.registry);
    // PUT: the group holds exactly this run, so a probe removed from the suite disappears.
    await gateway.push({ jobName: opts.job ?? 'callprobe_smoke', groupings: opts.groupings });
  } finally {
    metrics.close();
  }
}
