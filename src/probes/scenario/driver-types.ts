// The scenario driver's types: where a run's calls go (ScenarioTarget), its options, the
// call as reported (ScenarioCall) and as tracked while it is up (ActiveCall).
import type { AnsweredCall } from '../../call/answerer.js';
import type { DirectionResult } from '../../call/media-report.js';
import type { MediaEndpoint } from '../../call/sdp.js';
import type { PacketRecorder } from '../../evidence/recorder.js';
import type { Logger } from '../../log.js';
import type { AudioSource, PcmWav } from '../../rtp/audio.js';
import type { AudioCodec } from '../../rtp/codec.js';
import type { PortPair } from '../../rtp/ports.js';
import type { RtpSession } from '../../rtp/session.js';
import type { CallOutcome, OutgoingCall, UserAgent } from '../../sip/ua.js';
import type { Scenario } from './schema.js';
import type { NetworkSettings } from '../../config/network.js';
import type { SrtpMode } from '../../config/srtp-keys.js';
import type { MediaSecurity } from '../../call/sdp.js';
import type { SrtpPortPair } from '../../rtp/srtp-socket.js';
import type { SrtpSuite } from '../../rtp/srtp.js';

export interface ScenarioAccount {
  password: string;
  auth_user?: string | undefined;
  domain?: string | undefined;
  registrar?: string | undefined;
}

/** Where a scenario's calls go and as whom: the PBX, credentials, media settings. */
export interface ScenarioTarget {
  scenario: Scenario;
  accounts: Readonly<Record<string, ScenarioAccount>>;
  server: string;
  /** `server` was named for this run (scenario file, probe, --server): it wins over an account's registrar. */
  serverExplicit?: boolean;
  /** Undefined: from the server URI. */
  transport?: 'udp' | 'tcp' | 'tls';
  codecs: readonly AudioCodec[];
  rtpPortMin: number;
  rtpPortMax: number;
  localAddress?: string;
  tls?: { insecure?: boolean };
  /** A receiver we own silent this long (outside hold) fails the step: config rtp.media_timeout. */
  mediaTimeoutMs?: number;
  /** NAT addresses and DSCP marks (config sip/rtp.external_ip, qos). */
  network?: Partial<NetworkSettings>;
  /** SDES-SRTP of the call and of our own answering side (call/srtp.ts); default off. */
  srtp?: SrtpMode;
  /** Keys over non-TLS signalling are refused unless this is set. */
  allowInsecureKeys?: boolean;
}

/** Everything a run needs: the target, where audio files are, and the run's own settings. */
export interface DriverOptions extends ScenarioTarget {
  /** Directory relative audio paths are resolved against. */
  baseDir: string;
  /** SIP transaction timeout (Timer B/F); default 90 % of the step timeout. */
  sipTimeoutMs?: number;
  logger: Logger;
  /** Loads a WAV (injected in tests). */
  readAudio?: (path: string) => Promise<AudioSource>;
  /** Loads a reference recording for expect_prompt (injected in tests). */
  readPcm?: (path: string) => Promise<PcmWav>;
  /** Keeps the run's SIP and RTP packets (evidence). */
  recorder?: PacketRecorder;
}

/** The scenario's call as reported: SIP outcome and media per direction. */
export interface ScenarioCall {
  from: string;
  to: string;
  call_id: string;
  final_status: number | null;
  reason: string;
  timings_ms: { pdd?: number; answer?: number; setup?: number; bye?: number };
  media: {
    codec: AudioCodec;
    duration_s: number;
    rtt_ms: number | null;
    directions: DirectionResult[];
    /** Only with srtp optional/required: the suite our leg agreed on (null: plain RTP). */
    srtp?: { mode: SrtpMode; key_exchange: 'sdes'; suite: SrtpSuite | null };
  } | null;
}

/** The call a run has up, as the driver tracks it. */
export interface ActiveCall {
  to: string;
  ua: UserAgent;
  outgoing: OutgoingCall;
  codecs: readonly AudioCodec[];
  startedAt: number;
  ringTimer?: NodeJS.Timeout;
  ringTimeoutMs: number;
  ringTimedOut: boolean;
  /** Resolves once the final answer is in and media (if answered) is set up. Never rejects. */
  settled: Promise<CallOutcome>;
  outcome?: CallOutcome;
  /** An `expect` or `cancel_after` step looked at the final status. */
  statusChecked: boolean;
  pair?: PortPair;
  session?: RtpSession;
  far?: AnsweredCall;
  answer?: MediaEndpoint;
  sdpError?: string;
  answeredAt?: number;
  remoteHungUp: boolean;
  hungUp: boolean;
  /** Between a successful hold and resume: silence from the far end is expected. */
  onHold: boolean;
  report: ScenarioCall;
  /** What our offer carried (srtp optional/required), and the SRTP wrapper once the answer agreed a key. */
  security?: MediaSecurity;
  srtp?: { pair: SrtpPortPair; suite: SrtpSuite };
  /** The media report being taken (once: bye and close may both ask). */
  snapshot?: Promise<void>;
  /** Digits already matched by expect_dtmf, per receiving leg. */
  consumed: { caller: number; callee: number };
}
