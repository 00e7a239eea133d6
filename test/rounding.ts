// Comparing values that were rounded for output. |3.93 - 3.92| is
// 0.010000000000000231 in binary floating point, so "differ by at most 0.01"
// written as Math.abs(a - b) <= 0.01 fails exactly at one rounding step
// (issue 14.5). Count steps in integers instead.

/** How many rounding steps of 10^-decimals lie between a and b (each rounded to that step first). */
export function roundingSteps(a: number, b: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.abs(Math.round(a * f) - Math.round(b * f));
}
