/**
 * RTCP sender/receiver reports (RFC 3550 §6.4) and round-trip time from
 * LSR/DLSR (§6.4.1), serialized and parsed with rtp.js. Pure: times are passed in.
 *
 * rtp.js 0.15 reads a report block's cumulative lost with a 12-bit mask and
 * writes negative values as sign-magnitude, so this module writes only
 * non-negative values and reads the 24-bit two's-complement field itself.
 */
import {
  ByePacket,
  CompoundPacket,
  ReceiverReportPacket,
  ReceptionReport,
  SdesChunk,
  SdesPacket,
  SenderReportPacket,
  type RtcpPacket,
  type SdesItemType,
} from 'rtp.js/packets';
import { nodeBufferToDataView } from 'rtp.js/utils';

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const RTCP_SR = 200;
const RTCP_RR = 201;
const RTCP_BYE = 203;
const SDES_CNAME = 1 as SdesItemType;

export interface NtpTime {
  seconds: number;
  fraction: number;
}

/** Wall-clock ms since the Unix epoch → 64-bit NTP timestamp. */
export function ntpFromMs(epochMs: number): NtpTime {
  const totalSeconds = epochMs / 1000 + NTP_UNIX_OFFSET;
  const seconds = Math.floor(totalSeconds);
  const fraction = Math.floor((totalSeconds - seconds) * 2 ** 32);
  return { seconds: seconds >>> 0, fraction: fraction >>> 0 };
}

/** The middle 32 bits of an NTP timestamp (the LSR / compact format, 1/65536 s). */
export function compactNtp(ntp: NtpTime): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

/** One report block (RFC 3550 §6.4.1). */
export interface ReportBlock {
  ssrc: number;
  fractionLost: number;
  cumulativeLost: number;
  extendedHighestSeq: number;
  jitter: number;
  /** Compact NTP of the last SR received from `ssrc`, 0 if none. */
  lsr: number;
  /** Delay since that SR, 1/65536 s, 0 if none. */
  dlsr: number;
}

export interface SenderInfo {
  ntp: NtpTime;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export interface ReportInput {
  ssrc: number;
  cname: string;
  /** Present when we sent RTP since the last report: makes it an SR. */
  sender?: SenderInfo;
  blocks: ReportBlock[];
  /** Append a BYE (RFC 3550 §6.6). */
  bye?: boolean;
}

function toReception(block: ReportBlock): ReceptionReport {
  const r = new ReceptionReport();
  r.setSsrc(block.ssrc >>> 0);
  r.setFractionLost(Math.max(0, Math.min(255, block.fractionLost)));
  r.setTotalLost(Math.max(0, Math.min(0x7fffff, block.cumulativeLost)));
  r.setHighestSeqNumber(block.extendedHighestSeq >>> 0);
  r.setJitter(Math.max(0, Math.floor(block.jitter)) >>> 0);
  r.setLastSRTimestamp(block.lsr >>> 0);
  r.setDelaySinceLastSR(block.dlsr >>> 0);
  return r;
}

/** Builds a compound RTCP packet: SR or RR (≤ 31 blocks), SDES CNAME, optional BYE. */
export function buildReport(input: ReportInput): Buffer {
  const compound = new CompoundPacket();
  const reports = input.blocks.slice(0, 31).map(toReception);
  if (input.sender) {
    const sr = new SenderReportPacket();
    sr.setSsrc(input.ssrc >>> 0);
    sr.setNtpSeconds(input.sender.ntp.seconds);
    sr.setNtpFraction(input.sender.ntp.fraction);
    sr.setRtpTimestamp(input.sender.rtpTimestamp >>> 0);
    sr.setPacketCount(input.sender.packetCount >>> 0);
    sr.setOctetCount(input.sender.octetCount >>> 0);
    sr.setReports(reports);
    compound.addPacket(sr);
  } else {
    const rr = new ReceiverReportPacket();
    rr.setSsrc(input.ssrc >>> 0);
    rr.setReports(reports);
    compound.addPacket(rr);
  }
  const sdes = new SdesPacket();
  const chunk = new SdesChunk();
  chunk.setSsrc(input.ssrc >>> 0);
  chunk.addItem(SDES_CNAME, input.cname);
  sdes.addChunk(chunk);
  compound.addPacket(sdes);
  if (input.bye) {
    const bye = new ByePacket();
    bye.addSsrc(input.ssrc >>> 0);
    compound.addPacket(bye);
  }
  compound.serialize();
  const view = compound.getView();
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

export interface ParsedReport {
  type: 'SR' | 'RR';
  ssrc: number;
  sender?: { ntpCompact: number; rtpTimestamp: number; packetCount: number; octetCount: number };
  blocks: ReportBlock[];
}

export interface ParsedRtcp {
  reports: ParsedReport[];
  /** SSRCs that said BYE. */
  byes: number[];
}

function fromReception(r: ReceptionReport): ReportBlock {
  // 24-bit two's complement (RFC 3550 §6.4.1), read directly (see module comment).
  const raw = r.getView().getUint32(4) & 0xffffff;
  return {
    ssrc: r.getSsrc(),
    fractionLost: r.getFractionLost(),
    cumulativeLost: raw & 0x800000 ? raw - 0x1000000 : raw,
    extendedHighestSeq: r.getHighestSeqNumber(),
    jitter: r.getJitter(),
    lsr: r.getLastSRTimestamp(),
    dlsr: r.getDelaySinceLastSR(),
  };
}

/** Parses a compound RTCP packet; throws on a malformed one. Unknown packet types are skipped. */
export function parseRtcp(buf: Buffer): ParsedRtcp {
  const compound = new CompoundPacket(nodeBufferToDataView(buf));
  const out: ParsedRtcp = { reports: [], byes: [] };
  for (const packet of compound.getPackets() as RtcpPacket[]) {
    const type = packet.getPacketType() as number;
    if (type === RTCP_SR) {
      const sr = packet as unknown as SenderReportPacket;
      out.reports.push({
        type: 'SR',
        ssrc: sr.getSsrc(),
        sender: {
          ntpCompact: compactNtp({ seconds: sr.getNtpSeconds(), fraction: sr.getNtpFraction() }),
          rtpTimestamp: sr.getRtpTimestamp(),
          packetCount: sr.getPacketCount(),
          octetCount: sr.getOctetCount(),
        },
        blocks: sr.getReports().map(fromReception),
      });
    } else if (type === RTCP_RR) {
      const rr = packet as unknown as ReceiverReportPacket;
      out.reports.push({ type: 'RR', ssrc: rr.getSsrc(), blocks: rr.getReports().map(fromReception) });
    } else if (type === RTCP_BYE) {
      out.byes.push(...(packet as unknown as ByePacket).getSsrcs());
    }
  }
  return out;
}

/**
 * RFC 3550 §6.4.1: RTT = A − LSR − DLSR in compact NTP units, A = arrival time
 * of the report. Null when the peer has not received an SR from us (LSR = 0)
 * or the result is implausible (negative, i.e. clocks moved).
 */
export function roundTripMs(arrivalCompact: number, lsr: number, dlsr: number): number | null {
  if (lsr === 0) return null;
  const rtt = (arrivalCompact - lsr - dlsr) >>> 0;
  if (rtt > 0x80000000) return null; // negative modulo 2^32
  return (rtt / 65536) * 1000;
}

/** Milliseconds → compact NTP duration units (1/65536 s), for DLSR. */
export function msToCompact(ms: number): number {
  return Math.max(0, Math.round((ms / 1000) * 65536)) >>> 0;
}
