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
 * config comes from 16000 upwards: no listed lab file binds a fixed port there).
 * Both lists are in the order the sequencer starts them: longest first (seconds of
 * the CI run of Dec 4 04:29, lock log), so that no long file starts last and runs on
 * alone while the other worker idles (the untimed phase took 114 s for 195 s of files
 * in vitest's order; longest first packs them into ~100 s). */
export const UNTIMED_LOCAL: readonly string[] = [
  'hostile-invite.test.ts', // 28.6 s; far ends on port 0; timer bounds of seconds
  'hostile-agent.test.ts', // 24.0 s; scripted far end on port 0; agent RTP 19200-19299
  'hostile-dialog.test.ts', // 18.2 s; far ends on port 0 (UDP, TCP, TLS)
  'alert-path-faults.test.ts', // 15.7 s; agent, options to closed ports, its own tmpfs
  'hostile-registrar.test.ts', // 14.0 s; far ends on port 0
  'webhook-delivery.test.ts', // 10.2 s; receiver on 28461 (this file only), no SIP
  'alertmanager.test.ts', // 7.6 s; its own Alertmanager on a free port, options to its own peer
  'webhook-crash.test.ts', // 3.6 s; receiver on 28462 (this file only), no SIP
  'answer-reinvite.test.ts', // 3.3 s; probe answer on a free port, RTP 19130-19139
];

/** Untimed, on the shared lab: exclusive lab.lock, then shared quiet.lock. */
export const UNTIMED_LAB: readonly string[] = [
  'agent-signals.test.ts', // 17.0 s; SIGTERM/SIGKILL of an agent mid-call; captures udp port 5060 only
  // 15.3 s; svcrack in its own namespace cpF-<pid> (198.18.7.0/30), its own chain cpf2b-<pid>
  // and DNAT on its own veth; agent on a free port, HEP 9060; counts, bounds of 15-20 s
  'fail2ban-ban.test.ts',
  'fraud-fail2ban-log.test.ts', // 13.5 s; failed REGISTERs, fail2ban-regex on the log
  'fraud-sipvicious.test.ts', // 11.0 s; svwar/svcrack at the lab, HEP 9060; bounds of 5 s
  'agent-http-exposure.test.ts', // 10.7 s; one call (RTP 17100-17199), HTTP checks
  'sip-options-register.test.ts', // 6.4 s; OPTIONS/REGISTER; captures udp port 5060 only
  'cert-expiry.test.ts', // 6.0 s; probe cert against 5061/5062; bounds of 8-10 s
  'hep-normal-traffic.test.ts', // 4.8 s; SIPp calls, KPIs from HEP; bounds of seconds
  'tls-certs.test.ts', // 0.2 s; openssl s_client against 5061/5062
];

export type FileClass = 'untimed-local' | 'untimed-lab' | 'alone';

/** Where the file stands in its list (the sequencer's order); -1 for a file that runs alone. */
export function listIndex(file: string): number {
  const base = path.basename(file);
  const i = UNTIMED_LOCAL.indexOf(base);
  return i >= 0 ? i : UNTIMED_LAB.indexOf(base);
}

export function classify(file: string): FileClass {
  const base = path.basename(file);
  if (UNTIMED_LOCAL.includes(base)) return 'untimed-local';
  if (UNTIMED_LAB.includes(base)) return 'untimed-lab';
  return 'alone';
}
