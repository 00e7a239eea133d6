// Which integration files may run beside another one (vitest.config.ts runs the
// integration project on two workers; test/lab/exclusive.ts takes the locks below,
// test/lab/sequencer.ts orders the files).
//
// Two flock(2) locks in the lab workdir, always taken in this order:
//   lab.lock    exclusive: the shared lab (fixed ports, Kamailio, rtpengine, baresip,
//               SIPp, lab extensions, HEP port) is used by one file at a time;
//   quiet.lock  exclusive for a file that measures timing (real-time media: packet
//               counts of a paced stream, jitter, MOS, delays): it runs ALONE, as
//               before; shared for the files below, which may run two at a time.
// A file not listed here takes quiet.lock exclusively: it runs alone (the safe default
// for a new file). A file belongs in a list only when, read line by line:
//   - its assertions hold on a loaded machine: counts, codes, orderings, bounds of
//     seconds; no paced-stream packet counts, jitter or MOS;
//   - besides the lab (UNTIMED_LAB only), it uses its own peers on ephemeral ports
//     (port 0, freeTcpPort()), network namespaces / root iptables rules named after
//     itself, and fixed RTP ports no other listed file uses (see each entry);
//   - the file it may run beside cannot break it: no listed file stops Kamailio or
//     rtpengine, captures RTP port ranges, or binds a fixed port another one binds.
import path from 'node:path';

/** Untimed, lab-free: shared quiet.lock only (RTP of `probe call --direct` without a
 * config comes from 16000 upwards: no listed lab file binds a fixed port there). */
export const UNTIMED_LOCAL: readonly string[] = [
  'hostile-agent.test.ts', // scripted far end on port 0; agent RTP 19200-19299
  'hostile-dialog.test.ts', // far ends on port 0 (UDP, TCP, TLS)
  'hostile-invite.test.ts', // far ends on port 0; timer bounds of seconds
  'hostile-registrar.test.ts', // far ends on port 0
  'webhook-delivery.test.ts', // receiver on 28461 (this file only), no SIP
  'webhook-crash.test.ts', // receiver on 28462 (this file only), no SIP
  'alert-path-faults.test.ts', // agent, options to closed ports, its own tmpfs
  'alertmanager.test.ts', // its own Alertmanager on a free port, options to its own peer
  'answer-reinvite.test.ts', // probe answer on a free port, RTP 19130-19139
];

/** Untimed, on the shared lab: exclusive lab.lock, then shared quiet.lock. */
export const UNTIMED_LAB: readonly string[] = [
  'sip-options-register.test.ts', // OPTIONS/REGISTER; captures udp port 5060 only
  'fraud-fail2ban-log.test.ts', // failed REGISTERs, fail2ban-regex on the log
  'fraud-sipvicious.test.ts', // svwar/svcrack at the lab, HEP 9060; bounds of 5 s
  'hep-normal-traffic.test.ts', // SIPp calls, KPIs from HEP; bounds of seconds
  'cert-expiry.test.ts', // probe cert against 5061/5062; bounds of 8-10 s
  'tls-certs.test.ts', // openssl s_client against 5061/5062
  'agent-http-exposure.test.ts', // one call (RTP 17100-17199), HTTP checks
  'agent-signals.test.ts', // SIGTERM/SIGKILL of an agent mid-call; captures udp port 5060 only
];

export type FileClass = 'untimed-local' | 'untimed-lab' | 'alone';

export function classify(file: string): FileClass {
  const base = path.basename(file);
  if (UNTIMED_LOCAL.includes(base)) return 'untimed-local';
  if (UNTIMED_LAB.includes(base)) return 'untimed-lab';
  return 'alone';
}
