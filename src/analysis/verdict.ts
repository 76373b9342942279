/**
 * The verdict: the best-scoring hypothesis, if its margin over the best
 * hypothesis of any other class is clear; otherwise `inconclusive`, with
 * what would decide it. A hardware verdict (cpu-fault, memory-corruption,
 * code-corruption) needs a hypothesis that explains the dump and beats
 * every software account by `HARDWARE_MARGIN`: calling a software bug
 * hardware is the worst error this tool can make.
 *
 * @example
 * ```ts
 * const verdict = decideVerdict(dump, site, hypotheses, missing);
 * verdict.class; // 'cpu-fault'
 * ```
 */
import { compareBits } from './bits.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import type { FaultSite } from './fault-site.ts';
import type { Hypothesis, HypothesisLocation } from './hypothesis.ts';

export type VerdictClass = 'cpu-fault' | 'memory-corruption' | 'code-corruption' | 'software' | 'no-fault' | 'inconclusive';

export interface Verdict {
  class: VerdictClass;
  location?: HypothesisLocation;
  bit?: number;
  direction?: '1->0' | '0->1';
  expected?: string;
  observed?: string;
  /** What the fault hit (the transfer, load, slot, code byte or skipped instruction). */
  address?: string;
  /** 0..1, from the margin. */
  confidence: number;
  confidenceLabel: 'high' | 'medium' | 'low' | 'none';
  summary: string;
  reasons: string[];
  /** The id of the hypothesis whose checks support the verdict. */
  hypothesis?: string;
  /** Its score, and how far ahead of the best hypothesis of another class it is. */
  score?: number;
  margin?: number;
  runnerUp?: string;
  /** Other hypotheses of the same class that explain the dump as well, by id. */
  alternatives?: string[];
  /** Hypotheses indistinguishable from the chosen one (the same replayed state), by id. */
  equivalent?: string[];
}

/** A hardware verdict needs this lead (log10 odds) over every other class. */
export const HARDWARE_MARGIN = 1.5;
/** And at least this score of its own. */
export const HARDWARE_MIN_SCORE = -3;

/** The classes that blame the machine. */
export const HARDWARE: ReadonlySet<string> = new Set(['cpu-fault', 'memory-corruption', 'code-corruption']);

function label(confidence: number): Verdict['confidenceLabel'] {
  return confidence >= 0.9 ? 'high' : confidence >= 0.6 ? 'medium' : confidence > 0 ? 'low' : 'none';
}

/**
 * Hypotheses that leave the replay in the same state cannot be told apart
 * by the dump. The trap counts by whether it matches: where the dump records
 * no fault address, two faulting addresses look the same to it.
 */
export function outcomeKey(h: Hypothesis): string {
  return h.checks.map((c) => `${c.what}=${c.what === 'trap' ? c.status : c.actual ?? '?'}`).join(';');
}

function confidenceOf(margin: number): number {
  return Math.round(Math.min(0.99, Math.max(0.05, 1 - 10 ** -Math.max(0, margin))) * 100) / 100;
}

export function decideVerdict(dump: Dump, site: FaultSite, hypotheses: Hypothesis[], missing: string[]): Verdict {
  const explaining = hypotheses.filter((h) => h.explains).sort((a, b) => b.score - a.score);
  const reasons: string[] = [];
  if (explaining.length === 0) {
    reasons.push('neither the code as written nor any fault tried reproduces what the dump recorded');
    if (missing.length) reasons.push(...missing.map((m) => `not known: ${m}`));
    return { class: 'inconclusive', confidence: 0, confidenceLabel: 'none', reasons, summary: `Inconclusive: nothing tried reproduces the fault${missing.length ? `; the dump lacks ${missing[0]}` : ''}.` };
  }
  const best = explaining[0]!;
  const rival = [...hypotheses].filter((h) => h.class !== best.class).sort((a, b) => b.score - a.score)[0];
  const margin = rival ? best.score - rival.score : Number.POSITIVE_INFINITY;
  const hardware = HARDWARE.has(best.class);
  if (hardware && (margin < HARDWARE_MARGIN || best.score < HARDWARE_MIN_SCORE)) {
    const software = explaining.find((h) => !HARDWARE.has(h.class));
    reasons.push(`${best.description} explains the dump (score ${best.score}), but not clearly better than ${rival?.description ?? 'the alternatives'} (score ${rival?.score ?? '-'})`);
    if (software) return conclude(dump, site, software, explaining, hypotheses, reasons);
    return {
      class: 'inconclusive', confidence: 0, confidenceLabel: 'none', reasons, hypothesis: best.id, score: best.score, margin: round(margin), runnerUp: rival?.id,
      summary: `Inconclusive: ${best.description} fits, but so might ${rival?.description ?? 'something else'}${missing.length ? `; the dump lacks ${missing[0]}` : ''}.`,
    };
  }
  return conclude(dump, site, best, explaining, hypotheses, reasons);
}

function round(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 100) / 100 : v;
}

function conclude(dump: Dump, site: FaultSite, chosen: Hypothesis, explaining: Hypothesis[], all: Hypothesis[], reasons: string[]): Verdict {
  const key = outcomeKey(chosen);
  const equivalent = explaining.filter((h) => h !== chosen && h.class === chosen.class && outcomeKey(h) === key && h.id !== chosen.id);
  const alternatives = explaining.filter((h) => h !== chosen && h.class === chosen.class && outcomeKey(h) !== key);
  const rival = [...all].filter((h) => h.class !== chosen.class).sort((a, b) => b.score - a.score)[0];
  const margin = rival ? chosen.score - rival.score : Number.POSITIVE_INFINITY;
  // Several bits that fit equally (no recorded fault address to pick one): the bit is not known.
  const sameSpot = equivalent.filter((h) => h.location === chosen.location && chosen.score - h.score < 0.5);
  const bitKnown = !sameSpot.some((h) => h.bit !== chosen.bit);
  reasons.push(`${chosen.description}: ${chosen.explains ? `reproduces the trap and all ${chosen.summary.match} recorded values the replay reaches (${chosen.summary.computedMatch} computed, ${chosen.summary.unknown} unknown)` : 'does not reproduce the dump'}`);
  for (const e of chosen.evidence) reasons.push(e.text);
  if (rival) reasons.push(`next best, of another class: ${rival.description} (score ${rival.score}${rival.explains ? '' : `, ${rival.summary.mismatch} mismatch${rival.summary.mismatch === 1 ? '' : 'es'}`})`);
  if (alternatives.length) reasons.push(`${alternatives.length} other ${chosen.class} account${alternatives.length === 1 ? '' : 's'} also fit${alternatives.length === 1 ? 's' : ''}: ${alternatives.slice(0, 3).map((h) => h.id).join(', ')}`);
  if (!bitKnown) reasons.push(`${sameSpot.length + 1} bits fit equally; the dump does not say which (it records no fault address)`);
  const direction = chosen.expected && chosen.observed && bitKnown && chosen.bit !== undefined
    ? compareBits(BigInt(chosen.expected), BigInt(chosen.observed), 64).direction : undefined;
  const confidence = confidenceOf(margin);
  return {
    class: chosen.class,
    location: chosen.location,
    bit: bitKnown ? chosen.bit : undefined,
    direction,
    expected: bitKnown ? chosen.expected : undefined,
    observed: bitKnown ? chosen.observed : chosen.observed,
    address: chosen.address,
    confidence,
    confidenceLabel: label(confidence),
    summary: summaryOf(dump, site, chosen, bitKnown, direction),
    reasons,
    hypothesis: chosen.id,
    score: chosen.score,
    margin: round(margin),
    runnerUp: rival?.id,
    alternatives: alternatives.length ? alternatives.map((h) => h.id) : undefined,
    equivalent: equivalent.length ? equivalent.map((h) => h.id) : undefined,
  };
}

function summaryOf(dump: Dump, site: FaultSite, h: Hypothesis, bitKnown: boolean, direction: string | undefined): string {
  const f = (v: string | undefined) => (v === undefined ? '?' : formatAddress(dump.arch, BigInt(v)));
  const bit = bitKnown && h.bit !== undefined ? `bit ${h.bit}${direction ? ` (${direction.replace('->', '→')})` : ''}` : 'a bit';
  switch (h.family) {
    case 'branch-target':
      return `The CPU flipped ${bit} of a branch target: ${h.description.replace(/^bit \d+ of the target of /, '').replace(/ flipped$/, '')} should go to ${f(h.expected)} and went to ${f(h.observed)}. Memory and code are consistent with the dump; suspect the processor.`;
    case 'loaded-value':
      return `The CPU flipped ${bit} of a loaded value: ${f(h.expected)} arrived as ${f(h.observed)} (${h.description.replace(/^bit \d+ of the /, '').replace(/ flipped in the CPU$/, '')}); the value in memory is intact. Suspect the processor.`;
    case 'register':
      return `A register lost a bit: ${h.description} (${f(h.expected)} → ${f(h.observed)}), and the code then faulted as recorded. Suspect the processor.`;
    case 'skip':
      return `The CPU did not execute one instruction: ${h.description.replace(/ not executed$/, '')}; without it the code faults as recorded. Suspect the processor.`;
    case 'data-address':
      return bitKnown
        ? `The CPU flipped ${bit} of a data address: ${h.description}; the registers point elsewhere. Suspect the processor.`
        : `The CPU flipped a bit of a data address: the registers point to ${f(h.expected)}, which is mapped and allowed, yet the access at ${formatAddress(dump.arch, site.pc)} faulted; several one-bit neighbours are unmapped and the dump records no fault address to say which. Suspect the processor.`;
    case 'memory-flip':
    case 'memory-value':
      return `The memory is corrupt: ${h.description}. The CPU followed it faithfully; suspect the memory (run a memory test).`;
    case 'code-byte':
      return `The code in memory is corrupt: ${h.description}. Suspect the memory or the storage the code came from.`;
    case 'deliberate':
      return `No fault: ${h.description}.`;
    case 'as-written': {
      const pattern = h.evidence[0]?.text;
      return `A software bug: the CPU executed the code as written and it led to ${site.summary.replace(/^signal \d+ /, '')}${pattern ? `; ${pattern}` : ''}. No hardware fault is needed to explain it.`;
    }
  }
}
