// The RTCP part of an RTP session (RFC 3550 §6): compound SR/RR + SDES CNAME every ~5 s
// (randomised 0.5–1.5×, the first one halved), RTT from LSR/DLSR (§6.4.1), what the peer
// reported about our stream, BYE on close. It reads the sender and the receive streams; it
// owns the RTCP destination (the session latches it).
import type { Clock } from './clock.js';
import type { ReceiveStreams } from './receive-streams.js';
import { buildReport, compactNtp, ntpFromMs, parseRtcp, roundTripMs, type ParsedRtcp } from './rtcp.js';
import type { RemoteAddress, RtpSender } from './sender.js';
import type { MediaSocket } from './udp.js';
import { round } from '../round.js';

/** What the peer told us about our stream in its last RTCP report block. */
export interface RemoteReport {
  fraction_lost: number;
  cumulative_lost: number;
  jitter_ms: number;
  received_at: number;
}

export interface RtcpReporterOptions {
  socket: MediaSocket;
  clock: Clock;
  /** Wall-clock ms at clock 0. */
  wallOrigin: number;
  ssrc: number;
  cname: string;
  /** Mean report interval in ms; 0 disables reports. */
  intervalMs: number;
  /** RTP clock rate of what we send: report blocks about our stream give jitter in its units. */
  clockRate: number;
  sender: RtpSender;
  receivers: ReceiveStreams;
  /** Send errors (first, then every 100th). */
  warn(err: Error): void;
}

export class RtcpReporter {
  /** Where reports go: port+1 of the RTP remote, or the latched RTCP source. */
  remote: RemoteAddress | undefined;
  rttMs: number | null = null;
  remoteReport: RemoteReport | null = null;
  private readonly lastSr = new Map<number, { compact: number; arrivalMs: number }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sendErrors = 0;

  constructor(private readonly o: RtcpReporterOptions) {
    if (o.intervalMs > 0) this.schedule(true);
  }

  /** Parses a received RTCP packet and takes in SRs and blocks about us; undefined when it does not parse. */
  receive(msg: Buffer, now: number): ParsedRtcp | undefined {
    let parsed: ParsedRtcp;
    try {
      parsed = parseRtcp(msg);
    } catch {
      return undefined;
    }
    const { wallOrigin, ssrc } = this.o;
    const arrivalCompact = compactNtp(ntpFromMs(wallOrigin + now));
    for (const report of parsed.reports) {
      if (report.sender) this.lastSr.set(report.ssrc, { compact: report.sender.ntpCompact, arrivalMs: now });
      for (const block of report.blocks) {
        if (block.ssrc !== ssrc) continue;
        const rtt = roundTripMs(arrivalCompact, block.lsr, block.dlsr);
        if (rtt !== null) this.rttMs = rtt;
        this.remoteReport = {
          fraction_lost: block.fractionLost,
          cumulative_lost: block.cumulativeLost,
          jitter_ms: round((block.jitter / this.o.clockRate) * 1000, 3),
          received_at: Math.round(wallOrigin + now),
        };
      }
    }
    return parsed;
  }

  /** Stops the report timer; with `bye` (and reports enabled) sends a last report with BYE. */
  stop(bye: boolean): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (bye && this.o.intervalMs > 0) this.send(true);
  }

  /** A send error on the session's sockets: counted, reported first and every 100th. */
  readonly onSendError = (err: Error | null): void => {
    if (err) {
      this.sendErrors++;
      if (this.sendErrors === 1 || this.sendErrors % 100 === 0) this.o.warn(err);
    }
  };

  private schedule(first = false): void {
    // RFC 3550 §6.3.5: randomise the interval to [0.5, 1.5] × T; the first one is halved (§6.2).
    const delay = this.o.intervalMs * (0.5 + Math.random()) * (first ? 0.5 : 1);
    this.timer = setTimeout(() => {
      this.send(false);
      if (!this.stopped) this.schedule();
    }, delay);
  }

  private send(bye: boolean): void {
    const to = this.remote;
    if (!to) return;
    const { clock, wallOrigin, ssrc, cname, sender, receivers, socket } = this.o;
    const now = clock.now();
    const blocks = receivers.takeReportBlocks(now, this.lastSr);
    const info = sender.takeSenderInfo(now, ntpFromMs(wallOrigin + now));
    const packet = buildReport({ ssrc, cname, blocks, bye, ...(info ? { sender: info } : {}) });
    try {
      socket.send(packet, to.port, to.address, this.onSendError);
    } catch (err) {
      this.o.warn(err as Error); // socket already closed
    }
  }
}
