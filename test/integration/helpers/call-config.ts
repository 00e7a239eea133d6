// A callprobe config for `probe call 1001 1002` against the lab's main Kamailio (or
// another port), written into the lab workdir: both accounts, one RTP range, own
// state_dir, and any extra top-level keys.
import fs from 'node:fs';
import path from 'node:path';
import { LAB, labWorkdir, USERS } from '../../lab/lab.js';

export function writeCallConfig(name: string, opts: { rtp: [number, number]; rtpExtra?: string; port?: number; extra?: string }): string {
  const file = path.join(labWorkdir(), `${name}.yaml`);
  fs.writeFileSync(
    file,
    `pbx: { uri: "sip:127.0.0.1:${opts.port ?? LAB.ports.udp}", transport: udp }
accounts:
  "1001": { password: "${USERS['1001']}" }
  "1002": { password: "${USERS['1002']}" }
rtp: { port_min: ${opts.rtp[0]}, port_max: ${opts.rtp[1]}, codecs: [PCMU]${opts.rtpExtra ? `, ${opts.rtpExtra}` : ''} }
${opts.extra ?? ''}
state_dir: ${labWorkdir()}/${name}-state
`,
  );
  return file;
}
