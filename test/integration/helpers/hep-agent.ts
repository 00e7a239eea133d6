// `probe agent` as shipped (helpers/agent.ts startCliAgent) listening for the lab
// Kamailio's HEP mirror, with one hourly OPTIONS probe: the passive-analytics tests.
import { join } from 'node:path';
import { LAB } from '../../lab/lab.js';
import { startCliAgent, type CliAgent } from './agent.js';

export function startHepAgent(dir: string, extra: Record<string, unknown>): Promise<CliAgent> {
  return startCliAgent(dir, { state_dir: join(dir, 'state'), sources: { hep: `${LAB.host}:${LAB.ports.hep}` }, ...extra }, [{ name: 'opt', kind: 'options', interval: '1h' }]);
}
