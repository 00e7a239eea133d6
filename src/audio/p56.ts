// The active speech level and activity factor of ITU-T P.56 method B, simplified:
// a 2-stage envelope with a 0.03 s time constant, a 0.2 s hangover, thresholds
// 2^0..2^15 and a 15.9 dB margin. Pure and sample-rate bound (8 kHz).
//
// The caller's hot loop adds each received sample's square to `sumSquares`, counts
// it in `samples` (both kept in locals per packet: no call per sample) and calls
// envelopeStep() on every P56_STEP-th sample.

const RATE = 8000;
/** The envelope runs on every P56_STEP-th sample (2 kHz: far finer than its 30 ms time constant). */
export const P56_STEP = 4;
const G = Math.exp(-P56_STEP / (RATE * 0.03));
const HANGOVER = Math.round(RATE * 0.2);
const MARGIN_DB = 15.9;
const THRESHOLDS = 16;

export class ActiveLevelMeter {
  /** Received samples so far. */
  samples = 0;
  /** Sum of their squares (linear, sample units). */
  sumSquares = 0;
  private env1 = 0;
  private env2 = 0;
  /** Per threshold c_j = 2^j: the samples within the hangover of the envelope reaching it. */
  private readonly activeCount = new Float64Array(THRESHOLDS);
  /** Per threshold: the received-sample index when the envelope last reached it. */
  private readonly lastActive = new Float64Array(THRESHOLDS).fill(Number.NEGATIVE_INFINITY);

  /** Envelope and threshold activity: `a` is the sample's magnitude, `now` its index (a multiple of P56_STEP). */
  envelopeStep(a: number, now: number): void {
    this.env1 = G * this.env1 + (1 - G) * a;
    this.env2 = G * this.env2 + (1 - G) * this.env1;
    const env = this.env2;
    let c = 1;
    for (let j = 0; j < THRESHOLDS; j++, c *= 2) {
      if (env >= c) this.lastActive[j] = now;
      // within the hangover of the last time the envelope reached it; the last times
      // only fall with j (reaching c_j+1 means reaching c_j), so stop at the first miss
      else if (now - (this.lastActive[j] ?? Number.NEGATIVE_INFINITY) > HANGOVER) break;
      this.activeCount[j] = (this.activeCount[j] ?? 0) + P56_STEP;
    }
  }

  /**
   * The active level (dB of mean square over the active samples, sample units;
   * null with no sound) and the activity factor (0..1, may exceed 1 by rounding).
   */
  result(): { levelDb: number | null; activity: number } {
    if (this.samples === 0 || this.sumSquares <= 0) return { levelDb: null, activity: 0 };
    // first threshold where (active level - threshold) falls to the margin; interpolate in dB
    let prevDelta = Number.NaN;
    let prevLevel = Number.NaN;
    let c = 1;
    for (let j = 0; j < THRESHOLDS; j++, c *= 2) {
      const a = this.activeCount[j] ?? 0;
      if (a <= 0) break;
      const levelDb = 10 * Math.log10(this.sumSquares / a);
      const delta = levelDb - 20 * Math.log10(c);
      if (delta <= MARGIN_DB) {
        if (Number.isNaN(prevDelta)) return { levelDb, activity: a / this.samples };
        const t = (prevDelta - MARGIN_DB) / (prevDelta - delta);
        const level = prevLevel + t * (levelDb - prevLevel);
        return { levelDb: level, activity: this.sumSquares / 10 ** (level / 10) / this.samples };
      }
      prevDelta = delta;
      prevLevel = levelDb;
    }
    return { levelDb: null, activity: 0 };
  }
}
