// The embedded answering peer behind `probe demo`: a UA on 127.0.0.1 that
// answers every INVITE and streams audio back, so a real two-way call can be
// measured with no PBX at all.
import type { Logger } from '../../log.js';
import { PortAllocator } from '../../rtp/ports.js';
import { UserAgent } from '../../sip/ua.js';
import { Answerer } from '../../call/answerer.js';

export interface DemoPeer {
  /** Where to send the INVITE, e.g. sip:demo@127.0.0.1:40123. */
  uri: string;
  answerer: Answerer;
  close(): Promise<void>;
}

export interface DemoPeerOptions {
  address?: string;
  rtpPortMin?: number;
  rtpPortMax?: number;
  /** Ring forever (until CANCEL): for ring-timeout checks. */
  neverAnswer?: boolean;
  /** Audio content analysis on the peer's side (default true). */
  audioAnalysis?: boolean;
  logger?: Logger;
}

export async function startDemoPeer(opts: DemoPeerOptions = {}): Promise<DemoPeer> {
  const address = opts.address ?? '127.0.0.1';
  const ua = await UserAgent.create({
    // The peer never sends out-of-dialog requests; the server is only its own address.
    server: `sip:${address}`,
    transport: 'udp',
    localAddress: address,
    localPort: 0,
    user: 'demo',
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const ports = new PortAllocator({ min: opts.rtpPortMin ?? 17000, max: opts.rtpPortMax ?? 17999, address });
  const answerer = new Answerer({ ua, ports, mediaAddress: address, codecs: ['PCMU', 'PCMA', 'G722', 'opus'], content: { enabled: opts.audioAnalysis !== false }, ...(opts.neverAnswer ? { neverAnswer: true } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
  let closing: Promise<void> | undefined;
  return {
    uri: `sip:demo@${address}:${ua.localPort}`,
    answerer,
    close() {
      closing ??= answerer.close().then(() => ua.close());
      return closing;
    },
  };
}
