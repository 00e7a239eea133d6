// DSCP marking (RFC 2474; classes per RFC 4594): RTP as EF (46, "telephony"), SIP as
// CS3 (24, "signaling") unless configured otherwise (config qos.rtp_dscp / sip_dscp).
// node:dgram and node:net have no setTOS, so the mark is set through the udpio addon:
// on its own media sockets, and on node's SIP sockets by their file descriptor
// (IP_TOS, IPV6_TCLASS). Without the addon nothing can be set: that is said once per
// process in a log line, and the traffic goes out unmarked (DSCP 0).
import dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import type { Logger } from '../log.js';
import { createLogger } from '../log.js';
import { setTos, udpBackend } from './udp.js';

/** EF: expedited forwarding, for voice (RFC 3246, RFC 4594 §4.1). */
export const DEFAULT_RTP_DSCP = 46;
/** CS3: signaling (RFC 4594 §3.2). */
export const DEFAULT_SIP_DSCP = 24;

export type DscpOutcome = { ok: true } | { ok: false; reason: string };

/** What DSCP marking needs of a socket: a udpio socket, or node's dgram/net socket (its fd). */
export type MarkableSocket = object;

/**
 * The file descriptor of a node:net socket (`_handle.fd`) or a node:dgram socket (its
 * libuv handle sits in the state object: dgram's `_handle` getter is deprecated, DEP0112).
 */
function fdOf(socket: MarkableSocket): number | undefined {
  let handle: unknown;
  if (socket instanceof dgram.Socket) {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    handle = state === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: unknown } | undefined>)[state]?.handle;
  } else {
    handle = (socket as { _handle?: unknown })._handle;
  }
  const fd = (handle as { fd?: unknown } | null | undefined)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Sets the DSCP of one socket (0-63); what failed, when it did, as a value. */
export function setSocketDscp(socket: MarkableSocket, dscp: number): DscpOutcome {
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) return { ok: false, reason: `DSCP ${dscp} is not 0-63` };
  const backend = udpBackend();
  if (backend.name !== 'udpio') return { ok: false, reason: `the udpio addon is not in use (${backend.reason}): node:dgram and node:net cannot set IP_TOS` };
  const rc = setTos(socket, fdOf(socket), dscp << 2);
  return rc === 0 ? { ok: true } : { ok: false, reason: `setsockopt IP_TOS failed: ${getSystemErrorName(rc)}` };
}

const reported = new Set<string>();
let fallbackLogger: Logger | undefined;

/**
 * Marks `socket` with `dscp` (null: leave unmarked). A failure is logged once per
 * process and kind of traffic (not once per socket: a call opens several).
 */
export function markSocket(socket: MarkableSocket, what: 'rtp' | 'sip', dscp: number | null, logger?: Logger): DscpOutcome {
  if (dscp === null) return { ok: true };
  const out = setSocketDscp(socket, dscp);
  if (!out.ok && !reported.has(`${what}:${out.reason}`)) {
    reported.add(`${what}:${out.reason}`);
    (logger ?? (fallbackLogger ??= createLogger())).warn({ dscp, traffic: what }, `DSCP cannot be set on ${what.toUpperCase()} sockets, sent unmarked: ${out.reason}`);
  }
  return out;
}
