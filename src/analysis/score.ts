/**
 * One score per hypothesis, in log10 odds:
 *
 * ```
 * score = prior(family) + Σ checks + Σ evidence − log10(hypotheses tried in the family)
 * ```
 *
 * - **prior**: software bugs are far more common than hardware faults, and
 *   a single-bit memory error more common than a CPU datapath fault (fleet
 *   studies: a few percent of crash reports are possible bit flips, about
 *   half of them real; CPU faults come from about one machine in a
 *   thousand).
 * - **checks**: a reproduced trap counts +3 where only the instruction that
 *   trapped is matched, +6 where the dump's fault address is matched too (a
 *   replay that goes wrong lands on that very address about one time in a
 *   million); each value the replay computed and the
 *   dump matches +0.5 (values are correlated, so each is weak alone), up to
 *   +4 in all; a mismatch −5 (only a dump's own error would excuse it); a
 *   window the code cannot reach −12 (its replay proves nothing), and so
 *   does a stack pointer the faulting function's code cannot leave where
 *   the dump has it (frame-check.ts); an unknown, or a value carried
 *   through unchanged, 0.
 * - **evidence**: what each piece says (see `Evidence.weight`).
 * - **multiplicity**: searching N flips finds chance fits N times as often,
 *   so the family's size counts against each member.
 *
 * @example
 * ```ts
 * scoreHypothesis(h); // h.score = -3 + 3 + 2 + 0 - 2.7
 * ```
 */
import type { Family, Hypothesis } from './hypothesis.ts';

/** log10 priors of each family, relative to "the software did it". */
export const PRIORS: Record<Family, number> = {
  'as-written': 0,
  deliberate: 0,
  'memory-value': -2,
  'memory-flip': -2,
  'code-byte': -2.5,
  'branch-target': -3,
  'loaded-value': -3,
  'data-address': -3,
  skip: -3.5,
  register: -3.5,
};

export const TRAP_WEIGHT = 3;
export const EXACT_TRAP_WEIGHT = 6;
export const VALUE_WEIGHT = 0.5;
export const VALUES_CAP = 4;
export const MISMATCH_WEIGHT = -5;
/** A window whose start the code cannot reach explains nothing, whatever its replay shows. */
export const ARRIVAL_WEIGHT = -12;
/** Nor does an account in which the code as written left the stack pointer where its unwind rule says it cannot be. */
export const FRAME_WEIGHT = ARRIVAL_WEIGHT;

/** Sets `h.score` and its terms; returns the score. */
export function scoreHypothesis(h: Hypothesis): number {
  let checks = 0;
  let values = 0;
  for (const c of h.checks) {
    if (c.what === 'arrival' && c.status === 'mismatch') checks += ARRIVAL_WEIGHT;
    else if (c.what === 'frame' && c.status === 'mismatch') checks += FRAME_WEIGHT;
    else if (c.status === 'mismatch') checks += MISMATCH_WEIGHT;
    else if (c.status === 'match' && c.what === 'trap') checks += c.exact ? EXACT_TRAP_WEIGHT : TRAP_WEIGHT;
    else if (c.status === 'match' && c.basis === 'computed') values += VALUE_WEIGHT;
  }
  checks += Math.min(values, VALUES_CAP);
  const evidence = h.evidence.reduce((n, e) => n + e.weight, 0);
  const multiplicity = -Math.log10(Math.max(1, h.tried));
  const prior = PRIORS[h.family];
  h.scoreTerms = { prior, checks: round(checks), evidence: round(evidence), multiplicity: round(multiplicity) };
  h.score = round(prior + checks + evidence + multiplicity);
  return h.score;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
