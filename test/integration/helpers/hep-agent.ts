// `probe agent` as shipped (src/cli/main.ts, a config file), listening for the lab
// Kamailio's HEP mirror: the passive-analytics tests start it this way.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freeTcpPort, LAB, spawnTracked, type TrackedProcess } from '../../lab/lab.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface HepAgent {
  process: TrackedProcess;
  port: number;
  metrics(): Promise<string>;
}

/**
 * Writes `<dir>/callprobe.yaml` (HEP source on the lab's mirror port, one hourly
 * OPTIONS probe, state under dir) with `extra` merged in, starts the agent and
 * waits until it is ready.
 */
export async function startHepAgent(dir: string, extra: Record<string, unknown>, name: string): Promise<HepAgent> {
  const port = await freeTcpPort();
  mkdirSync(join(dir, 'probes'), { recursive: true });
  writeFileSync(join(dir, 'probes', 'main.yaml'), stringify({ probes: [{ name: 'opt', kind: 'options', interval: '1h' }] }));
  writeFileSync(
    join(dir, 'callprobe.yaml'),
    stringify({
      pbx: { uri: `sip:${LAB.host}:${LAB.ports.udp}` },
      probes_dir: join(dir, 'probes'),
      state_dir: join(dir, 'state'),
      listen: { metrics: `127.0.0.1:${port}` },
      sources: { hep: `${LAB.host}:${LAB.ports.hep}` },
      ...extra,
    }),
  );
  const p = spawnTracked(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'agent', '--config', join(dir, 'callprobe.yaml'), '--log-level', 'warn'], {
    cwd: ROOT,
    name,
  });
  await until('the agent to be ready', async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined))?.ok === true, 20_000).catch(
    async (err: Error) => {
      await p.stop();
      throw new Error(`${err.message}: ${p.stderr()}`);
    },
  );
  return { process: p, port, metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text() };
}
