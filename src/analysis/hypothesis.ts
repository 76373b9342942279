/**
 * A hypothesis: one account of how the machine got to the fault, with the
 * replay that tests it (if any), its checks against the dump, the other
 * evidence for or against it, and its score (see score.ts).
 *
 * @example
 * ```ts
 * const h: Hypothesis = { id: 'bitflip:target@80a5d8f6:2', class: 'cpu-fault', location: 'branch-target', family: 'branch-target', … };
 * ```
 */
import type { Check, CheckSummary } from './checks.ts';
import type { Injection } from './replay.ts';

export type HypothesisClass = 'cpu-fault' | 'memory-corruption' | 'code-corruption' | 'software' | 'no-fault';
export type HypothesisLocation = 'branch-target' | 'loaded-value' | 'register' | 'memory' | 'code' | 'skip' | 'data-address' | 'none';

/** The fault models (and the software account), each with its own prior. */
export type Family =
  | 'as-written' | 'deliberate' | 'memory-value' | 'memory-flip' | 'code-byte'
  | 'branch-target' | 'loaded-value' | 'register' | 'skip' | 'data-address';

/** One piece of evidence that is not a replay check: a value's pattern, a bit from a valid target. */
export interface Evidence {
  /** Plain words: "8082e3e4 is the start of nt!KiIpiServiceRoutine". */
  text: string;
  /** log10 of how much likelier the evidence is under the hypothesis than by chance; negative counts against. */
  weight: number;
}

export interface Hypothesis {
  id: string;
  class: HypothesisClass;
  location: HypothesisLocation;
  family: Family;
  description: string;
  /** The window (candidate) whose replay tests it. */
  window?: string;
  injection?: Injection;
  bit?: number;
  /** The value before and after the flip (hex). */
  expected?: string;
  observed?: string;
  /** What the fault hit: the load or transfer instruction, the memory slot, the code byte, the skipped instruction. */
  address?: string;
  /** Reproduces the trap with no mismatching check. */
  explains: boolean;
  summary: CheckSummary;
  checks: Check[];
  evidence: Evidence[];
  /** How many hypotheses of its family were tried in its window: the search's multiplicity. */
  tried: number;
  score: number;
  /** The terms of the score, for the report. */
  scoreTerms?: { prior: number; checks: number; evidence: number; multiplicity: number };
}
