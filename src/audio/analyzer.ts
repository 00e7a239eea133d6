// Content analysis of one received stream, fed packet by packet as an AudioSink: the
// decoded PCM is placed on an 8 kHz timeline by RTP timestamp (lost packets are gaps that
// count neither as speech nor as silence) and read in 10 ms blocks for
//   - the active speech level and activity (ITU-T P.56 method B, simplified: p56.ts),
//   - the silence ratio (received blocks below -50 dBov) and the clipping ratio,
//   - the markers of the test signal (marker.ts): id, sequence number, level, arrival of
//     the packet that carried the sync onset.
// Cost per received sample: one envelope step, 16 threshold compares, 10 Goertzel steps.
import type { AudioSink } from '../rtp/receive-streams.js';
import {
  BLOCK,
  DATA_OFFSET_BLOCKS,
  MARKER_BLOCKS,
  SYMBOL_BLOCKS,
  SYMBOLS,
  SYNC_BLOCKS,
  TONE_POWER,
  ANALYSIS_HZ,
  blockTonePowers,
  decideSymbol,
  decodeSymbols,
  isSyncBlock,
} from './marker.js';
import { ActiveLevelMeter, P56_STEP } from './p56.js';

const RATE = 8000;
const FULL_SCALE_POWER = 32768 * 32768;
/** A received block below this mean power is silence: -50 dBov. */
const SILENCE_POWER = FULL_SCALE_POWER * 1e-5;
const CLIP_LEVEL = 32000;
/** Blocks kept for the marker search (a marker is 50; the search looks 2 before its onset). */
const RING = 64;
const NF = ANALYSIS_HZ.length;
/** A gap longer than this (a hold, a new stream) restarts the timeline instead of filling it. */
const MAX_GAP_SAMPLES = RATE * 5;

export interface HeardMarker {
  id: number;
  seq: number;
  /** Timeline sample of the sync onset (8 kHz, 0 = first packet). */
  onsetSample: number;
  /** Arrival (clock ms) of the packet that carried the sync onset, if it was received. */
  arrivalMs: number | null;
  /** Received level of the sync tones against the level sent, dB. */
  gainDb: number;
}

export interface AudioFigures {
  /** Seconds of received audio analysed (lost packets not counted). */
  analysed_s: number;
  /** P.56 active speech level, dBov (full-scale square wave = 0 dBov); null when nothing rose above the floor. */
  active_level_dbov: number | null;
  /** P.56 activity factor: share of received time with speech. */
  activity_ratio: number;
  /** Share of received 10 ms blocks below -50 dBov. */
  silence_ratio: number;
  /** Share of received samples at or beyond ±32000. */
  clipping_ratio: number;
  /** Packets that arrived after their place on the timeline was passed (not analysed). */
  late_packets: number;
}

export class AudioAnalyzer implements AudioSink {
  readonly markers: HeardMarker[] = [];
  /** Sync tones that did not decode to a marker (lost symbols, CRC mismatch). */
  markerFailures = 0;
  private ts0: number | undefined;
  /** Next timeline sample to be filled. */
  private writePos = 0;
  private readonly block = new Float32Array(BLOCK);
  private blockFill = 0;
  private blockLost = false;
  private blockIndex = 0;
  // ring of per-block features
  private readonly ringPowers = new Float64Array(RING * NF);
  private readonly ringPower = new Float64Array(RING);
  private readonly ringReceived = new Uint8Array(RING);
  private readonly ringSync = new Uint8Array(RING);
  private readonly tmpPowers = new Float64Array(NF);
  private pendingSync = -1;
  private searchFrom = 0;
  // packet arrivals for the onset lookup: timeline position → arrival ms
  private readonly arrivalPos = new Float64Array(RING);
  private readonly arrivalLen = new Float64Array(RING);
  private readonly arrivalMs = new Float64Array(RING);
  private arrivalNext = 0;
  // level figures
  private readonly level = new ActiveLevelMeter();
  private clipped = 0;
  private blocks = 0;
  private silentBlocks = 0;
  private lateCount = 0;

  /** `clockRate`: the stream's RTP clock (the timeline is 8 kHz). */
  constructor(private readonly clockRate = RATE) {}

  onFrame(pcm: Int16Array, sampleRate: number, rtpTimestamp: number, arrivalMs: number): void {
    const ratio = Math.max(1, Math.round(sampleRate / RATE));
    const n = Math.floor(pcm.length / ratio);
    if (n === 0) return;
    if (this.ts0 === undefined) this.ts0 = rtpTimestamp;
    const delta = (rtpTimestamp - this.ts0) | 0; // signed 32-bit difference: wraps correctly
    let pos = Math.round((delta * RATE) / this.clockRate);
    if (pos < this.writePos) {
      this.lateCount++;
      return;
    }
    if (pos - this.writePos > MAX_GAP_SAMPLES) {
      // a new talk spurt far ahead (hold, restart): close the block, restart the timeline here
      this.flushLost(this.blockFill > 0 ? BLOCK - this.blockFill : 0);
      this.ts0 = rtpTimestamp;
      this.writePos = 0;
      pos = 0;
      this.pendingSync = -1;
    }
    this.flushLost(pos - this.writePos);
    const slot = this.arrivalNext++ % RING;
    this.arrivalPos[slot] = pos;
    this.arrivalLen[slot] = n;
    this.arrivalMs[slot] = arrivalMs;
    // the hot loop: one pass, locals, no call per sample (a block end is the only call)
    const block = this.block;
    const level = this.level;
    let sq = level.sumSquares;
    let clipped = this.clipped;
    let samples = level.samples;
    for (let i = 0; i < n; i++) {
      let v: number;
      if (ratio === 1) v = pcm[i] ?? 0;
      else {
        let s = 0;
        for (let k = 0; k < ratio; k++) s += pcm[i * ratio + k] ?? 0;
        v = s / ratio;
      }
      block[this.blockFill++] = v;
      sq += v * v;
      if (v >= CLIP_LEVEL || v <= -CLIP_LEVEL) clipped++;
      if (++samples % P56_STEP === 0) level.envelopeStep(v < 0 ? -v : v, samples);
      if (this.blockFill === BLOCK) this.endBlock();
    }
    this.writePos = pos + n;
    level.sumSquares = sq;
    this.clipped = clipped;
    level.samples = samples;
  }

  /** Lost samples: timeline positions with nothing received. */
  private flushLost(count: number): void {
    for (let i = 0; i < count; i++) this.pushLost();
  }

  private pushLost(): void {
    this.block[this.blockFill++] = 0;
    this.blockLost = true;
    this.writePos++;
    if (this.blockFill === BLOCK) this.endBlock();
  }

  private endBlock(): void {
    const b = this.blockIndex++;
    const slot = b % RING;
    const received = !this.blockLost;
    this.ringReceived[slot] = received ? 1 : 0;
    this.ringSync[slot] = 0;
    if (received) {
      let sq = 0;
      for (let i = 0; i < BLOCK; i++) sq += (this.block[i] ?? 0) ** 2;
      const power = sq / BLOCK;
      this.ringPower[slot] = power;
      this.blocks++;
      if (power < SILENCE_POWER) this.silentBlocks++;
      // the sync pair always; the data tones only while a marker is being read
      blockTonePowers(this.block, 0, this.tmpPowers, this.pendingSync >= 0 ? NF : 2);
      this.ringPowers.set(this.tmpPowers, slot * NF);
      if (isSyncBlock(this.tmpPowers, power)) {
        this.ringSync[slot] = 1;
        const prev = (b - 1) % RING;
        const startsRun = b === 0 || this.ringSync[prev] === 0;
        if (startsRun && this.pendingSync < 0 && b >= this.searchFrom) this.pendingSync = b;
      }
    } else this.ringPower[slot] = 0;
    this.blockFill = 0;
    this.blockLost = false;
    if (this.pendingSync >= 0 && b >= this.pendingSync + MARKER_BLOCKS - 4) this.decodeAt(this.pendingSync);
  }

  private received(b: number): boolean {
    return b >= 0 && b < this.blockIndex && b > this.blockIndex - RING && this.ringReceived[b % RING] === 1;
  }

  private sync(b: number): boolean {
    return this.received(b) && this.ringSync[b % RING] === 1;
  }

  /** Where the marker whose first sync block was seen at `first` starts, and what it says. */
  private decodeAt(first: number): void {
    this.pendingSync = -1;
    // the onset is `first`, or up to two blocks earlier when the first packet was lost
    let best = first;
    let bestScore = Number.NEGATIVE_INFINITY;
    let syncPower = 0;
    for (let o = first - 2; o <= first; o++) {
      let score = 0;
      for (let i = 0; i < SYNC_BLOCKS; i++) score += this.sync(o + i) ? 1 : this.received(o + i) ? -1 : 0;
      for (let i = SYNC_BLOCKS; i < DATA_OFFSET_BLOCKS; i++) score += this.sync(o + i) ? -1 : this.received(o + i) ? 1 : 0;
      if (o < first && this.received(o) && !this.sync(o)) score -= 2;
      if (score > bestScore || (score === bestScore && o > best)) {
        bestScore = score;
        best = o;
      }
    }
    let syncBlocks = 0;
    for (let i = 0; i < SYNC_BLOCKS; i++) {
      if (!this.sync(best + i)) continue;
      const slot = ((best + i) % RING) * NF;
      // the 400 Hz tone only: the codecs' band edges do not touch it (2800 Hz loses ~2 dB in G.722 resampling)
      syncPower += this.ringPowers[slot] ?? 0;
      syncBlocks++;
    }
    this.searchFrom = best + MARKER_BLOCKS - 2;
    const symbols: number[] = [];
    const sum = new Float64Array(NF);
    for (let k = 0; k < SYMBOLS; k++) {
      sum.fill(0);
      const start = best + DATA_OFFSET_BLOCKS + k * SYMBOL_BLOCKS;
      let used = 0;
      for (const i of [1, 2, 3, 0, 4]) {
        if (used >= 3 && i !== 0 && i !== 4) continue;
        if ((i === 0 || i === 4) && used > 0) break; // edge blocks only when the inner ones were lost
        const b = start + i;
        if (!this.received(b)) continue;
        const slot = (b % RING) * NF;
        for (let f = 0; f < NF; f++) sum[f] = (sum[f] ?? 0) + (this.ringPowers[slot + f] ?? 0);
        used++;
      }
      const sym = used > 0 ? decideSymbol(sum) : undefined;
      if (sym === undefined) {
        this.markerFailures++;
        return;
      }
      symbols.push(sym);
    }
    const payload = decodeSymbols(symbols);
    if (!payload) {
      this.markerFailures++;
      return;
    }
    const onsetSample = best * BLOCK;
    this.markers.push({
      ...payload,
      onsetSample,
      arrivalMs: this.arrivalAt(onsetSample),
      gainDb: syncBlocks > 0 ? 10 * Math.log10(syncPower / syncBlocks / TONE_POWER) : Number.NaN,
    });
  }

  private arrivalAt(sample: number): number | null {
    for (let k = 0; k < RING; k++) {
      const pos = this.arrivalPos[k] ?? -1;
      if (k >= this.arrivalNext) break;
      if (sample >= pos && sample < pos + (this.arrivalLen[k] ?? 0)) return this.arrivalMs[k] ?? null;
    }
    return null;
  }

  figures(): AudioFigures {
    const samples = this.level.samples;
    const analysed = samples / RATE;
    const { levelDb: level, activity } = this.level.result();
    const dbov = level === null ? null : level - 10 * Math.log10(FULL_SCALE_POWER);
    return {
      analysed_s: analysed,
      active_level_dbov: dbov,
      activity_ratio: Math.min(1, activity),
      silence_ratio: this.blocks > 0 ? this.silentBlocks / this.blocks : 1,
      clipping_ratio: samples > 0 ? this.clipped / samples : 0,
      late_packets: this.lateCount,
    };
  }
}
