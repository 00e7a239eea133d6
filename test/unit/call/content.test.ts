import { describe, expect, it } from 'vitest';
import { audioFailures, CallContent, markerMatch, oneWayByContent, type AudioReport } from '../../../src/call/content.js';
import { decodeG711, encodeG711 } from '../../../src/rtp/g711.js';

/** Sends `from`'s source (PCMU, 20 ms packets, `ms` long) into `to`'s tap; marker onsets sent at t, arrive at t + delayMs. */
function play(from: CallContent, to: CallContent, ms: number, delayMs = 0): void {
  const sink = to.tap({ ssrc: 1, source: 'x:1', payloadType: 0, codec: 'PCMU', clockRate: 8000 });
  if (!sink) throw new Error('no sink');
  const samples = from.source.samples;
  for (let f = 0; f * 160 < (ms / 1000) * 8000; f++) {
    const frame = f % Math.floor(samples.length / 160);
    const at = 1000 + f * 20;
    from.onFrameSent?.(frame, 160, at);
    const pcm = decodeG711('PCMU', encodeG711('PCMU', samples.subarray(frame * 160, frame * 160 + 160)));
    sink.onFrame(pcm, 8000, f * 160, at + delayMs);
  }
}

describe('CallContent: the marked signal and what the other end hears', () => {
  it('the callee hears the caller\'s markers: match, gain ~0 dB, delay from the send times', () => {
    const caller = new CallContent({ callId: 'abc@h', role: 'caller', durationMs: 6000, expectPeerMarkers: true });
    const callee = new CallContent({ callId: 'abc@h', role: 'callee', durationMs: 6000, expectPeerMarkers: true });
    play(caller, callee, 6000, 12);
    const a = callee.report(caller.signal);
    expect(a).toMatchObject({ present: true, markers_expected: true, markers_heard: 3, markers_foreign: 0, marker_match: true, audio_delay_ms: 12 });
    expect(Math.abs(a?.marker_gain_db ?? 9)).toBeLessThan(0.5);
    expect(audioFailures('caller_to_callee', a)).toEqual([]);
  });

  it('another call\'s audio is audio_crossed; silence is audio_silent; a recording (--audio) carries no markers', () => {
    const other = new CallContent({ callId: 'other@h', role: 'caller', durationMs: 6000, expectPeerMarkers: true });
    const callee = new CallContent({ callId: 'abc@h', role: 'callee', durationMs: 6000, expectPeerMarkers: true });
    play(other, callee, 6000);
    const crossed = callee.report(undefined);
    expect(crossed).toMatchObject({ markers_heard: 0, marker_match: false });
    expect(crossed?.markers_foreign).toBeGreaterThanOrEqual(2);
    expect(audioFailures('caller_to_callee', crossed).map((f) => f.check)).toEqual(['audio_crossed']);

    const wav = { name: 'silence.wav', samples: new Int16Array(8000 * 6) };
    const silentCaller = new CallContent({ callId: 'abc@h', role: 'caller', audio: wav, expectPeerMarkers: false });
    expect(silentCaller.signal).toBeUndefined();
    expect(silentCaller.source).toBe(wav);
    const hearer = new CallContent({ callId: 'abc@h', role: 'callee', expectPeerMarkers: false });
    play(silentCaller, hearer, 4000);
    const silent = hearer.report(undefined);
    expect(silent).toMatchObject({ present: false, active_level_dbov: null, marker_match: null });
    expect(audioFailures('caller_to_callee', silent).map((f) => f.check)).toEqual(['audio_silent']);
  });

  it('speech with no markers where ours were due is unknown audio (crossed); markers one way only is one_way_audio by content', () => {
    const plain = new CallContent({ callId: 'p@h', role: 'caller', audio: { name: 'speech', samples: new CallContent({ callId: 'q', role: 'caller', expectPeerMarkers: false }).source.samples.map((v, i) => (i % 20000 < 4400 ? 0 : v)) }, expectPeerMarkers: false });
    const callee = new CallContent({ callId: 'abc@h', role: 'callee', expectPeerMarkers: true });
    play(plain, callee, 6000);
    const unknown = callee.report(undefined);
    expect(unknown).toMatchObject({ present: true, markers_heard: 0, markers_foreign: 0, marker_match: false });
    expect(audioFailures('caller_to_callee', unknown).map((f) => f.check)).toEqual(['audio_crossed']);
    const ok = { markers_expected: true, markers_heard: 2, analysed_s: 6 } as AudioReport;
    const none = { markers_expected: true, markers_heard: 0, analysed_s: 6 } as AudioReport;
    expect(oneWayByContent({ caller_to_callee: none, callee_to_caller: ok }).map((f) => f.message)).toEqual([
      "by content: callee→caller carries this call's markers, caller→callee none in 6 s of RTP",
    ]);
    expect(oneWayByContent({ caller_to_callee: ok, callee_to_caller: ok })).toEqual([]);
  });

  it('an echo far end: our own markers back pass with --expect-echo, are a loop without it; another call\'s are crossed either way', () => {
    const caller = (peerEchoes: boolean): CallContent => new CallContent({ callId: 'abc@h', role: 'caller', durationMs: 6000, expectPeerMarkers: false, peerEchoes });
    // what an echo sends back: our own signal
    const echoed = caller(true);
    play(echoed, echoed, 6000, 30);
    const ok = echoed.report(undefined);
    expect(ok).toMatchObject({ present: true, markers_heard: 0, markers_foreign: 0, markers_expected: true, marker_match: true });
    expect(ok?.markers_echoed).toBeGreaterThanOrEqual(2);
    expect(audioFailures('callee_to_caller', ok)).toEqual([]);
    expect(oneWayByContent({ callee_to_caller: ok, caller_to_callee: { ...ok, markers_heard: 2 } as AudioReport })).toEqual([]);

    const looped = caller(false);
    play(looped, looped, 6000);
    const loop = looped.report(undefined);
    expect(loop).toMatchObject({ markers_foreign: 0, marker_match: false });
    expect(loop?.markers_echoed).toBeGreaterThanOrEqual(2);
    const f = audioFailures('callee_to_caller', loop);
    expect(f.map((x) => x.check)).toEqual(['audio_crossed']);
    expect(f[0]?.message).toMatch(/our own marker\(s\) back .* looped back to us/);

    // expecting an echo, but the audio is another call's (its echo, or crossed media): crossed
    const expectsEcho = caller(true);
    play(new CallContent({ callId: 'other@h', role: 'caller', durationMs: 6000, expectPeerMarkers: false }), expectsEcho, 6000);
    const crossed = expectsEcho.report(undefined);
    expect(crossed).toMatchObject({ markers_echoed: 0, marker_match: false });
    expect(crossed?.markers_foreign).toBeGreaterThanOrEqual(2);
    expect(audioFailures('callee_to_caller', crossed).map((x) => x.check)).toEqual(['audio_crossed']);
  });

  it('markerMatch: the rule', () => {
    const m = (heard: number, foreign: number, echoed: number, echo: boolean, due = true): boolean | null => markerMatch({ heard, foreign, echoed, echo, due });
    expect(m(2, 0, 0, false)).toBe(true);
    expect(m(2, 1, 0, false)).toBe(false); // another call's among ours
    expect(m(0, 0, 2, true)).toBe(true); // our echo, expected
    expect(m(0, 0, 2, false)).toBe(false); // our echo, not expected: a loop
    expect(m(0, 1, 2, true)).toBe(false); // expected echo plus another call's
    expect(m(0, 0, 0, true)).toBe(false); // due, nothing
    expect(m(0, 0, 0, true, false)).toBeNull(); // not judged yet / not due
  });

  it('markers whose sync was heard but whose data was lost (a stall, loss inside the marker) are unreadable, not unknown audio', () => {
    const caller = new CallContent({ callId: 'abc@h', role: 'caller', durationMs: 6000, expectPeerMarkers: true });
    const callee = new CallContent({ callId: 'abc@h', role: 'callee', durationMs: 6000, expectPeerMarkers: true });
    const sink = callee.tap({ ssrc: 1, source: 'x:1', payloadType: 0, codec: 'PCMU', clockRate: 8000 });
    const samples = caller.source.samples;
    for (let f = 0; f < 300; f++) {
      const at = f * 160;
      // every marker's data symbols (from 100 ms after each onset, 360 ms long) never arrive
      const inMarker = (at - 2400) % 20000;
      if (inMarker >= 800 && inMarker < 800 + 3200) continue;
      sink?.onFrame(decodeG711('PCMU', encodeG711('PCMU', samples.subarray(at, at + 160))), 8000, at, 1000 + f * 20);
    }
    const a = callee.report(caller.signal);
    expect(a).toMatchObject({ present: true, markers_heard: 0, markers_foreign: 0, marker_match: null });
    expect(a?.markers_unreadable).toBeGreaterThanOrEqual(2);
    expect(audioFailures('caller_to_callee', a)).toEqual([]);
  });
});
