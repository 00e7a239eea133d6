// What one end of a test call hears, from the decoded audio (issue 18): the marked signal
// it sends, the analyzer on what it receives, and the per-direction `audio` report with
// its failures (audio_silent, audio_crossed, one_way_audio by content). Shared by the call
// probe (both ends) and the answerer (`probe answer`, the callee side).
import { AudioAnalyzer, type HeardMarker } from '../audio/analyzer.js';
import { markerId } from '../audio/marker.js';
import { markedSignal, markerCountFor, type MarkedSignal } from '../audio/signal.js';
import { defaultAudioSource, type AudioSource } from '../rtp/audio.js';
import type { AudioSink, AudioTap, TappedStream } from '../rtp/receive-streams.js';
import { round } from '../round.js';

export type CallRole = 'caller' | 'callee';

/** A Failure of the probe result (probes/result.ts imports this layer, so the shape is restated), at phase media. */
export interface ContentFailure {
  check: 'audio_silent' | 'audio_crossed' | 'one_way_audio';
  phase: 'media';
  expected?: number | string;
  actual?: number | null;
  message: string;
}

/** The `audio` section of a direction in the call JSON. */
export interface AudioReport {
  /** Something a person would hear: an active speech level at or above the floor. */
  present: boolean;
  /** ITU-T P.56 active speech level, dBov; null when nothing rose above digital silence. */
  active_level_dbov: number | null;
  activity_ratio: number;
  silence_ratio: number;
  clipping_ratio: number;
  /** Seconds of received audio analysed. */
  analysed_s: number;
  /** Whether this direction's sender is known to send our markers (the far end is this agent). */
  markers_expected: boolean;
  /** Markers of this call and direction heard. */
  markers_heard: number;
  /** Markers of another call heard (crossed media). */
  markers_foreign: number;
  /** Our own markers heard back (this end's, reflected: an echo far end, or media looped back to us). */
  markers_echoed: number;
  /** Marker sync tones heard whose data did not decode (loss or stalls inside the marker, a garbling transcoder). */
  markers_unreadable: number;
  /**
   * true: only this call's markers (with an echo expected: our own back); false: another
   * call's, our own back where no echo was expected, or none where ours were due; null: not known.
   */
  marker_match: boolean | null;
  /** Marker level received against sent (a transcoder's gain), median, dB. */
  marker_gain_db: number | null;
  /** Last marker's gain minus the first's, dB. */
  level_drift_db: number | null;
  /** Mouth-to-ear delay of the markers (sent → received, one clock), median ms; null unless both ends are this process. */
  audio_delay_ms: number | null;
}

export interface CallContentOptions {
  callId: string;
  role: CallRole;
  /** Media duration, to size the marked signal (default: 16 markers, 40 s loop). */
  durationMs?: number;
  /** A user's recording (--audio): sent unchanged, without markers. */
  audio?: AudioSource;
  /** The far end is this agent: its markers are due (their absence is a failure). */
  expectPeerMarkers: boolean;
  /**
   * The far end reflects our audio on purpose (`probe answer --echo`, an echo test number;
   * `probe call --expect-echo`): our own markers coming back are the expected audio, not a
   * loop, and their absence (when we send markers) is a failure like the far end's would be.
   */
  peerEchoes?: boolean;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** A stream's analyzer with the amount it received (the busiest stream is reported). */
interface Tapped {
  stream: TappedStream;
  analyzer: AudioAnalyzer;
}

/** One end's audio: what it sends (marked) and the analysis of what it receives. */
export class CallContent {
  readonly source: AudioSource;
  /** Undefined when a user's recording is sent (no markers). */
  readonly signal: MarkedSignal | undefined;
  /** Marker id this end sends; the id it should hear. */
  readonly ownId: number;
  readonly peerId: number;
  private readonly tapped: Tapped[] = [];

  constructor(private readonly opts: CallContentOptions) {
    this.ownId = markerId(opts.callId, opts.role);
    this.peerId = markerId(opts.callId, opts.role === 'caller' ? 'callee' : 'caller');
    if (opts.audio) {
      this.source = opts.audio;
      this.signal = undefined;
    } else {
      this.signal = markedSignal(this.ownId, defaultAudioSource().samples, markerCountFor(opts.durationMs));
      this.source = this.signal.source;
    }
  }

  /** RtpSession `audioTap`: one analyzer per received stream. */
  readonly tap: AudioTap = (stream): AudioSink => {
    const analyzer = new AudioAnalyzer(stream.clockRate);
    this.tapped.push({ stream, analyzer });
    return analyzer;
  };

  /** RtpSession `onFrameSent`: marker send times (undefined without markers). */
  get onFrameSent(): ((frame: number, samplesPerFrame: number, nowMs: number) => void) | undefined {
    const s = this.signal;
    return s ? (frame, spf, now) => s.frameSent(frame, spf, now) : undefined;
  }

  /**
   * The report of what this end received. `peer`: the far end's signal when it is in this
   * process (its send times give the delay). `levelMinDbov`: below it the audio is not present.
   */
  report(peer: MarkedSignal | undefined, levelMinDbov = DEFAULT_AUDIO_LEVEL_MIN_DBOV): AudioReport | null {
    const main = this.tapped.reduce<Tapped | undefined>((best, t) => (!best || t.analyzer.figures().analysed_s > best.analyzer.figures().analysed_s ? t : best), undefined);
    if (!main) return null;
    const f = main.analyzer.figures();
    const heard: HeardMarker[] = [];
    let foreign = 0;
    let echoed = 0;
    for (const t of this.tapped) {
      for (const m of t.analyzer.markers) {
        if (m.id === this.peerId) heard.push(m);
        else if (m.id === this.ownId) echoed++;
        else foreign++;
      }
    }
    const delays: number[] = [];
    if (peer) {
      for (const m of heard) {
        const sent = peer.sentAt[m.seq] ?? Number.NaN;
        if (m.arrivalMs !== null && Number.isFinite(sent) && m.arrivalMs >= sent && m.arrivalMs - sent < 5000) delays.push(m.arrivalMs - sent);
      }
    }
    const gains = heard.map((m) => m.gainDb).filter((g) => Number.isFinite(g));
    const present = f.active_level_dbov !== null && f.active_level_dbov >= levelMinDbov;
    const echo = this.opts.peerEchoes === true;
    // ours are due from the far end, or (echo) our own back when we send any
    const expected = this.opts.expectPeerMarkers || (echo && this.signal !== undefined);
    const unreadable = this.tapped.reduce((n, t) => n + t.analyzer.markerFailures, 0);
    // markers whose sync was heard but not their data: not "unknown audio", only not read
    const match = markerMatch({ heard: heard.length, foreign, echoed, echo, due: expected && present && f.analysed_s >= 3 && unreadable === 0 });
    const delay = median(delays);
    const gain = median(gains);
    return {
      present,
      active_level_dbov: f.active_level_dbov === null ? null : round(f.active_level_dbov, 1),
      activity_ratio: round(f.activity_ratio, 3),
      silence_ratio: round(f.silence_ratio, 3),
      clipping_ratio: round(f.clipping_ratio, 4),
      analysed_s: round(f.analysed_s, 2),
      markers_expected: expected,
      markers_heard: heard.length,
      markers_foreign: foreign,
      markers_echoed: echoed,
      markers_unreadable: unreadable,
      marker_match: match,
      marker_gain_db: gain === null ? null : round(gain, 1),
      level_drift_db: gains.length >= 2 ? round((gains[gains.length - 1] ?? 0) - (gains[0] ?? 0), 1) : null,
      audio_delay_ms: delay === null ? null : round(delay, 1),
    };
  }
}

/**
 * Whose markers a receiver heard → marker_match. Another call's: false. Our own back: true
 * when the far end echoes on purpose, false otherwise (media looped back to us). Nothing
 * where markers were `due` (a full marker period of audible audio, 3 s): false (unknown
 * audio). Pure: the rule the report and its unit test share.
 */
export function markerMatch(m: { heard: number; foreign: number; echoed: number; echo: boolean; due: boolean }): boolean | null {
  if (m.foreign > 0) return false;
  if (m.echoed > 0 && !m.echo) return false;
  if (m.heard > 0 || m.echoed > 0) return true;
  return m.due ? false : null;
}

/** Below this active speech level a direction counts as silent (comfort noise is -60 to -70). */
export const DEFAULT_AUDIO_LEVEL_MIN_DBOV = -45;

type Direction = 'caller_to_callee' | 'callee_to_caller';
const ARROW: Record<Direction, string> = { caller_to_callee: 'caller→callee', callee_to_caller: 'callee→caller' };

/** Content failures of one direction: audio_silent, audio_crossed. */
export function audioFailures(direction: Direction, a: AudioReport | null | undefined, levelMinDbov = DEFAULT_AUDIO_LEVEL_MIN_DBOV): ContentFailure[] {
  if (!a || a.analysed_s < 0.5) return [];
  const out: ContentFailure[] = [];
  if (!a.present) {
    out.push({
      check: 'audio_silent',
      phase: 'media',
      expected: levelMinDbov,
      actual: a.active_level_dbov,
      message: `${ARROW[direction]}: RTP flows (${a.analysed_s} s received) but carries silence: active speech level ${a.active_level_dbov === null ? 'none' : `${a.active_level_dbov} dBov`} (< ${levelMinDbov} dBov)`,
    });
  }
  if (a.markers_foreign > 0) {
    out.push({
      check: 'audio_crossed',
      phase: 'media',
      expected: 0,
      actual: a.markers_foreign,
      message: `${ARROW[direction]}: heard ${a.markers_foreign} marker(s) of another call (and ${a.markers_heard} of this one): crossed media`,
    });
  } else if ((a.markers_echoed ?? 0) > 0 && a.marker_match === false) {
    out.push({
      check: 'audio_crossed',
      phase: 'media',
      expected: 'this call\'s markers',
      actual: a.markers_echoed,
      message: `${ARROW[direction]}: heard ${a.markers_echoed} of our own marker(s) back (and ${a.markers_heard} of the far end's): our media is looped back to us (a far end that echoes on purpose: --expect-echo)`,
    });
  } else if (a.marker_match === false && a.present) {
    out.push({
      check: 'audio_crossed',
      phase: 'media',
      expected: 'this call\'s markers',
      actual: 0,
      message: `${ARROW[direction]}: audio present but none of this call's markers in ${a.analysed_s} s: unknown audio`,
    });
  }
  return out;
}

/**
 * one_way_audio by content: one direction hears this call's markers while the other,
 * whose markers were due, hears none (silent or something else), although RTP flows.
 */
export function oneWayByContent(reports: Partial<Record<Direction, AudioReport | null>>): ContentFailure[] {
  const out: ContentFailure[] = [];
  for (const [dir, other] of [
    ['caller_to_callee', 'callee_to_caller'],
    ['callee_to_caller', 'caller_to_callee'],
  ] as const) {
    const a = reports[dir];
    const b = reports[other];
    if (a && b && a.markers_expected && a.markers_heard === 0 && (a.markers_echoed ?? 0) === 0 && a.analysed_s >= 3 && b.markers_heard > 0) {
      out.push({ check: 'one_way_audio', phase: 'media', message: `by content: ${ARROW[other]} carries this call's markers, ${ARROW[dir]} none in ${a.analysed_s} s of RTP` });
    }
  }
  return out;
}
