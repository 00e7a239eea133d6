// The one rounding helper of src/ (reports, timings, statistics): a leaf module every floor may import.

/** `value` rounded to `decimals` places (Math.round: halves go up). */
export function round(value: number, decimals = 2): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
