/**
 * Burst ratio (BurstR) of a loss pattern with the 2-state Gilbert model of
 * ITU-T G.113 Appendix I / RFC 3611 §4.7.2:
 *   p = P(lost | previous received), q = P(received | previous lost),
 *   BurstR = 1 / (p + q).
 * Random (Bernoulli) loss gives p = Ppl, q = 1 − Ppl, hence BurstR = 1.
 * Pure: no I/O.
 */

/** Counts of state transitions between consecutive packets (R = received, L = lost). */
export interface LossTransitions {
  receivedToReceived: number;
  receivedToLost: number;
  lostToReceived: number;
  lostToLost: number;
}

export function emptyTransitions(): LossTransitions {
  return { receivedToReceived: 0, receivedToLost: 0, lostToReceived: 0, lostToLost: 0 };
}

/**
 * BurstR from transition counts. No loss → 1. A state never left (no
 * transition out of it counted) has no observed probability, so p or q falls
 * back to its Bernoulli value from the loss rate; p + q = 0 → 1.
 */
export function burstRatioFromTransitions(t: LossTransitions): number {
  const fromReceived = t.receivedToReceived + t.receivedToLost;
  const fromLost = t.lostToReceived + t.lostToLost;
  const lostCount = t.receivedToLost + t.lostToLost;
  if (lostCount === 0 || fromReceived + fromLost === 0) return 1;
  const lossRate = lostCount / (fromReceived + fromLost);
  const p = fromReceived > 0 ? t.receivedToLost / fromReceived : lossRate;
  const q = fromLost > 0 ? t.lostToReceived / fromLost : 1 - lossRate;
  const sum = p + q;
  return sum > 0 ? 1 / sum : 1;
}

/** Transition counts of a pattern: true = received, false = lost, in sequence order. */
export function countTransitions(pattern: readonly boolean[]): LossTransitions {
  const t = emptyTransitions();
  for (let i = 1; i < pattern.length; i++) {
    const prev = pattern[i - 1];
    const cur = pattern[i];
    if (prev) {
      if (cur) t.receivedToReceived++;
      else t.receivedToLost++;
    } else if (cur) t.lostToReceived++;
    else t.lostToLost++;
  }
  return t;
}

/** BurstR of a received/lost pattern (true = received). */
export function burstRatio(pattern: readonly boolean[]): number {
  return burstRatioFromTransitions(countTransitions(pattern));
}
