// The event model every source produces and every analytic consumes.
// Plain data with millisecond epoch timestamps (event time, not read time), so
// detectors are pure and replaying a CDR file gives the same answers as live HEP.

/** Which source produced an event (a label, low cardinality). */
export type SourceName = 'hep' | 'cdr' | 'security_log' | (string & {});

interface EventBase {
  /** Event time, ms since the epoch. */
  at: number;
  source: SourceName;
}

/** Fields shared by the three call events. */
export interface CallFields extends EventBase {
  callId: string;
  /** Route or trunk label for per-route KPIs (e.g. CDR dcontext, HEP destination). */
  route?: string;
  /** Calling account / number (From user). */
  caller?: string;
  /** Called number (R-URI user). */
  callee?: string;
  /** Signalling source address of the caller. */
  ip?: string;
  ua?: string;
  direction?: 'inbound' | 'outbound';
}

/** An INVITE (a seizure in ITU-T E.411 terms) was seen. */
export interface CallAttemptEvent extends CallFields {
  type: 'call_attempt';
}

/** The INVITE transaction ended with a final response. One per seizure: the KPI unit. */
export interface CallFinalEvent extends CallFields {
  type: 'call_final';
  /** Final SIP status (CDR dispositions are mapped to codes, see sources/cdr.ts). */
  status: number;
  inviteAt: number;
  /** First 180/183 (the end of post-dial delay), when one was seen. */
  ringingAt?: number;
  /** 200 OK time, when answered. */
  answerAt?: number;
  /**
   * No final response was seen: the source closed the attempt itself (a synthetic
   * 408, RFC 3398 §8.2.6.1 ↔ Q.850 cause 102 "recovery on timer expiry"). A network
   * failure for NER, never a user's no-answer.
   */
  timedOut?: true;
}

/** An answered call ended (BYE or CDR end). */
export interface CallEndEvent extends CallFields {
  type: 'call_end';
  answerAt: number;
  /** Conversation time in seconds (billsec). */
  durationS: number;
}

/** Digest authentication failed (wrong password, unknown user, ...). */
export interface AuthFailureEvent extends EventBase {
  type: 'auth_failure';
  ip: string;
  user?: string;
  ua?: string;
  method?: string;
  reason?: string;
}

/** A request and (when known) its final status: scanner, enumeration input. */
export interface RequestEvent extends EventBase {
  type: 'request';
  method: string;
  ip: string;
  user?: string;
  ua?: string;
  status?: number;
}

/**
 * One RTCP reception report block about a call's media (RFC 3550 §6.4.1), as a
 * media relay or phone reported it (HEP type 5 from rtpengine, or an RFC 6035
 * vq-rtcpxr PUBLISH), joined to the call by its Call-ID.
 */
export interface RtcpReportEvent extends EventBase {
  type: 'rtcp_report';
  callId: string;
  /** Who sent the report (it received the media described), when known. */
  reporterIp?: string;
  reporterSsrc?: number;
  /** The media source the block describes. */
  sourceSsrc: number;
  /** Fraction lost since the previous report, 0..1. */
  fractionLost: number;
  /** Cumulative packets lost (RFC 3550: expected − received). */
  cumulativeLost: number;
  /** Interarrival jitter in RTP timestamp units (RFC 3550 A.8). */
  jitterUnits: number;
  /** Last SR timestamp and delay since it (1/65536 s); 0 when none. */
  lsr: number;
  dlsr: number;
  /** Extended highest sequence number received. */
  highestSeq?: number;
  /** Packets the source had sent at its last SR, when seen (the loss denominator). */
  senderPackets?: number;
  /** Packets the reporter itself had sent: the SR in the same compound packet, when it sends media. */
  reporterPackets?: number;
}

/** An RFC 6035 vq-rtcpxr report (SIP PUBLISH) of one endpoint's received media. */
export interface VqReportEvent extends EventBase {
  type: 'vq_report';
  callId: string;
  /** VQSessionReport (the call's end) rather than an interval or alert report. */
  final: boolean;
  reporterIp?: string;
  /** PacketLoss NLR, percent. */
  lossPercent?: number;
  /** Delay RTD and IAJ, ms. */
  rttMs?: number;
  jitterMs?: number;
  /** QualityEst MOSLQ as the endpoint estimated it (kept for comparison; ours is recomputed). */
  reportedMos?: number;
}

/**
 * A call's audio format from an SDP the observer saw (the offer, then the answer,
 * which wins): RTCP jitter of that call is in units of this clock.
 */
export interface MediaFormatEvent extends EventBase {
  type: 'media_format';
  callId: string;
  /** From an answer (a response) rather than an offer. */
  answer: boolean;
  codec: string;
  clockRate: number;
}

export type CallEvent = CallAttemptEvent | CallFinalEvent | CallEndEvent;
export type AnalyticsEvent = CallEvent | AuthFailureEvent | RequestEvent | RtcpReportEvent | VqReportEvent | MediaFormatEvent;

/** The one callback shape sources emit through. */
export type EventSink = (event: AnalyticsEvent) => void;
