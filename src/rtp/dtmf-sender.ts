// The sending half of RFC 4733 DTMF in an RTP session: a queue of digits, each sent as
// telephone-event packets in place of audio (start with marker, continuation, 3× end,
// then a pause of audio). The session's sender asks it for the next payload at each tick.
import { DtmfError, encodeEvent, eventCode } from './dtmf.js';

const DTMF_VOLUME = 10; // −10 dBm0
const DTMF_END_REPEATS = 3; // RFC 4733 §2.5.1.4

interface DtmfJob {
  code: number;
  bodyPackets: number;
  pausePackets: number;
  done?: () => void;
}

interface DtmfSending {
  job: DtmfJob;
  eventTs: number;
  sent: number;
  endSent: number;
  pauseLeft: number;
}

export interface DtmfPayload {
  payload: Uint8Array;
  marker: boolean;
  ts: number;
}

export class DtmfSender {
  private readonly queue: DtmfJob[] = [];
  private sending: DtmfSending | undefined;

  constructor(
    private readonly ptimeMs: number,
    private readonly samplesPerFrame: number,
  ) {}

  /**
   * Queues digits; resolves when the last digit's end packets and pause are out.
   * `canSend` false (the session is not sending) rejects.
   */
  enqueue(digits: string, opts: { durationMs?: number; pauseMs?: number }, canSend: boolean): Promise<void> {
    const durationMs = opts.durationMs ?? 100;
    const pauseMs = opts.pauseMs ?? 100;
    if (!(durationMs >= this.ptimeMs && durationMs <= 5000)) {
      return Promise.reject(new DtmfError(`DTMF duration must be ${this.ptimeMs}-5000 ms`));
    }
    let codes: number[];
    try {
      codes = [...digits].map(eventCode);
    } catch (err) {
      return Promise.reject(err);
    }
    if (codes.length === 0) return Promise.resolve();
    if (!canSend) return Promise.reject(new DtmfError('session is not sending'));
    return new Promise((resolve) => {
      codes.forEach((code, i) => {
        this.queue.push({
          code,
          bodyPackets: Math.ceil(durationMs / this.ptimeMs),
          pausePackets: Math.ceil(pauseMs / this.ptimeMs),
          ...(i === codes.length - 1 ? { done: resolve } : {}),
        });
      });
    });
  }

  /** Drops what is queued or under way, resolving its promises (the session stopped sending). */
  cancel(): void {
    for (const job of this.queue.splice(0)) job.done?.();
    this.sending?.job.done?.();
    this.sending = undefined;
  }

  /** RFC 4733 §2.5: start (marker), continuation, 3× end, then a pause of audio. */
  next(audioTs: number): DtmfPayload | undefined {
    let state = this.sending;
    if (!state) {
      const job = this.queue.shift();
      if (!job) return undefined;
      state = { job, eventTs: audioTs, sent: 0, endSent: 0, pauseLeft: job.pausePackets };
      this.sending = state;
    }
    const { job } = state;
    if (state.sent < job.bodyPackets) {
      state.sent++;
      const payload = encodeEvent({ event: job.code, end: false, volume: DTMF_VOLUME, duration: state.sent * this.samplesPerFrame });
      return { payload, marker: state.sent === 1, ts: state.eventTs };
    }
    if (state.endSent < DTMF_END_REPEATS) {
      state.endSent++;
      const payload = encodeEvent({ event: job.code, end: true, volume: DTMF_VOLUME, duration: job.bodyPackets * this.samplesPerFrame });
      return { payload, marker: false, ts: state.eventTs };
    }
    if (state.pauseLeft > 0) {
      state.pauseLeft--;
      if (state.pauseLeft > 0) return undefined;
    }
    this.sending = undefined;
    job.done?.();
    return undefined;
  }
}
