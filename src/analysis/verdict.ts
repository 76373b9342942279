/**
 * The verdict: which class of cause the evidence supports (CPU fault, memory
 * corruption, software bug, no fault, or inconclusive), where, which bit,
 * how sure, and the reasons in an engineer's words. A hardware verdict needs
 * a single-bit fault model that reproduces every recorded value while the
 * faithful replay does not; anything less is not called hardware.
 *
 * @example
 * ```ts
 * const verdict = decideVerdict({ dump, site, transfer, faithful, explaining, pointer });
 * ```
 */
import { pointerSize, spRegister } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import { compareBits } from './bits.ts';
import type { FaultSite } from './fault-site.ts';
import type { Hypothesis, HypothesisLocation } from './hypotheses.ts';
import { isPoison, type PointerEvidence } from './pointer-evidence.ts';
import type { Transfer } from './transfers.ts';

export type VerdictClass = 'cpu-fault' | 'memory-corruption' | 'code-corruption' | 'software' | 'no-fault' | 'inconclusive';

export interface Verdict {
  class: VerdictClass;
  location?: HypothesisLocation;
  bit?: number;
  direction?: '1->0' | '0->1';
  expected?: string;
  observed?: string;
  /** 0..1. */
  confidence: number;
  confidenceLabel: 'high' | 'medium' | 'low' | 'none';
  summary: string;
  reasons: string[];
  /** The id of the hypothesis whose checks support the verdict. */
  hypothesis?: string;
  /** Other hypotheses that explain the dump as well, by id. */
  alternatives?: string[];
  /** Hypotheses indistinguishable from the chosen one (same replayed state), by id. */
  equivalent?: string[];
}

const PRIORITY: Record<string, number> = { 'branch-target': 0, 'loaded-value': 1, register: 2 };

function label(confidence: number): Verdict['confidenceLabel'] {
  return confidence >= 0.8 ? 'high' : confidence >= 0.5 ? 'medium' : confidence > 0 ? 'low' : 'none';
}

function clamp(value: number): number {
  return Math.round(Math.min(0.99, Math.max(0.05, value)) * 100) / 100;
}

/** Hypotheses that leave the replay in the same state cannot be told apart by the dump. */
export function outcomeKey(h: Hypothesis): string {
  return h.checks.map((c) => `${c.what}=${c.actual ?? '?'}`).join(';');
}

export interface VerdictInput {
  dump: Dump;
  site: FaultSite;
  transfer?: Transfer;
  faithful?: Hypothesis;
  explaining: Hypothesis[];
  pointer?: PointerEvidence;
}

export function decideVerdict(input: VerdictInput): Verdict {
  const verdict = decide(input);
  return { ...verdict, confidenceLabel: label(verdict.confidence) };
}

function decide({ dump, site, transfer, faithful, explaining, pointer }: VerdictInput): Verdict {
  const arch = dump.arch;
  const f = (v: bigint) => formatAddress(arch, v);
  const observed = site.pc;
  const reasons: string[] = [];
  const poison = isPoison(observed, arch);
  if (transfer) {
    const where = transfer.slot === undefined ? 'in the link register (x30)' : `on the stack at ${f(transfer.slot)}`;
    reasons.push(`${f(transfer.returnAddress)} (${dump.symbols.format(transfer.returnAddress)}) ${where} returns from ${f(transfer.call.address)} ${transfer.call.text}`);
    if (transfer.expected !== undefined) {
      const cmp = compareBits(transfer.expected, observed, pointerSize(arch) * 8);
      const how = cmp.relation === 'equal' ? 'the same address'
        : cmp.relation === 'one-bit' ? `one bit apart (bit ${cmp.bit}, ${cmp.direction?.replace('->', '→')})`
        : `${cmp.hamming} bits apart`;
      reasons.push(`that call goes to ${f(transfer.expected)}; the CPU trapped at ${f(observed)}: ${how}`);
    } else if (transfer.unknownReason) {
      reasons.push(`where that call goes is unknown: ${transfer.unknownReason}`);
    }
  }
  if (pointer) reasons.push(...pointer.reasons);
  if (faithful) {
    reasons.push(faithful.explains
      ? `replaying the window as written reproduces the trap and all ${faithful.summary.match} recorded values (${faithful.summary.computedMatch} computed)`
      : `replaying the window as written does not reproduce the dump (${faithful.summary.mismatch} mismatch${faithful.summary.mismatch === 1 ? '' : 'es'}${faithful.checks[0]?.status === 'mismatch' ? `; it ends with ${faithful.checks[0].actual}` : ''})`);
  }
  const base = { observed: hex(observed), reasons };

  // Executing the stack: no call leads there, and the pc sits beside sp (DEP stopped it).
  const sp = site.context?.registers[spRegister(arch)];
  if (!transfer && site.access === 'execute' && sp !== undefined && observed + 0x10000n >= sp && observed < sp + 0x100000n) {
    reasons.push(`${f(observed)} is ${observed >= sp ? `${f(observed - sp)} above` : `${f(sp - observed)} below`} the stack pointer ${f(sp)}: the CPU was executing the stack`);
    return {
      ...base, class: 'software', location: 'none', confidence: 0.8, confidenceLabel: 'none',
      summary: `A software bug: execution reached ${f(observed)}, on the stack, and the non-executable stack stopped it (a smashed return address or a jump through stack data). No single-bit fault explains jumping to the stack.`,
    };
  }

  if (faithful?.explains) {
    if (pointer?.state === 'one-bit-from-function') {
      return {
        ...base, class: 'memory-corruption', location: 'memory', bit: pointer.bit, expected: pointer.intended, observed: pointer.value,
        direction: pointer.intended ? compareBits(BigInt(pointer.intended), BigInt(pointer.value), pointerSize(arch) * 8).direction : undefined,
        confidence: clamp(0.6 + (pointer.intendedSymbol ? 0.15 : 0) + 0.04 * Math.min(faithful.summary.computedMatch, 4)),
        confidenceLabel: 'none', hypothesis: faithful.id,
        summary: `The pointer in memory is corrupt: ${pointer.source} holds ${pointer.value.slice(2)}, one bit (bit ${pointer.bit}) from ${pointer.intendedSymbol ?? pointer.intended}; the CPU followed it faithfully.`,
      };
    }
    if (poison || pointer?.state === 'null' || pointer?.state === 'poison') {
      return {
        ...base, class: 'software', location: 'memory', expected: transfer?.expected === undefined ? undefined : hex(transfer.expected),
        confidence: clamp(0.7 + 0.04 * Math.min(faithful.summary.computedMatch, 4)), confidenceLabel: 'none', hypothesis: faithful.id,
        summary: `A software bug: the code called through a ${pointer?.state === 'null' || poison === 'null' ? 'null' : 'poisoned'} pointer (${f(transfer?.expected ?? observed)}), and the CPU did exactly that.`,
      };
    }
    return {
      ...base, class: 'no-fault', location: 'none', expected: transfer?.expected === undefined ? undefined : hex(transfer.expected),
      confidence: clamp(0.55 + 0.05 * Math.min(faithful.summary.computedMatch, 6)), confidenceLabel: 'none', hypothesis: faithful.id,
      summary: `No hardware fault: the code as written leads to the trap at ${f(observed)}; its cause is in the software, not the CPU or memory.`,
    };
  }

  const ranked = [...explaining].sort((a, b) =>
    (PRIORITY[a.location] ?? 9) - (PRIORITY[b.location] ?? 9)
    || b.summary.computedMatch - a.summary.computedMatch
    || a.summary.unknown - b.summary.unknown);
  const best = ranked[0];
  if (best && transfer?.expected !== undefined && !poison) {
    const key = outcomeKey(best);
    const equivalent = ranked.filter((h) => h !== best && outcomeKey(h) === key).map((h) => h.id);
    const groups = new Set(ranked.map(outcomeKey));
    const alternatives = ranked.filter((h) => outcomeKey(h) !== key).map((h) => h.id);
    const cmp = compareBits(transfer.expected, observed, pointerSize(arch) * 8);
    reasons.push(`with ${best.description}, the replay reproduces the trap and all ${best.summary.match} recorded values (${best.summary.computedMatch} computed, ${best.summary.unknown} unknown)`);
    if (pointer?.state === 'intact') reasons.push(`the pointer in memory is intact, so the flip happened in the CPU, not in memory`);
    if (groups.size > 1) reasons.push(`${groups.size - 1} other single-bit fault${groups.size > 2 ? 's' : ''} also fit${groups.size > 2 ? '' : 's'}: ${alternatives.slice(0, 3).join(', ')}`);
    const confidence = clamp(0.5 + 0.08 * Math.min(best.summary.computedMatch, 5) + (pointer?.state === 'intact' ? 0.1 : 0) - 0.15 * (groups.size - 1) - 0.02 * best.summary.unknown);
    const flippedCmp = best.expected && best.observed ? compareBits(BigInt(best.expected), BigInt(best.observed), 64) : cmp;
    return {
      ...base, class: 'cpu-fault', location: best.location, bit: best.bit,
      direction: flippedCmp.direction,
      expected: best.expected ?? hex(transfer.expected), observed: best.observed ?? hex(observed), confidence, confidenceLabel: 'none', hypothesis: best.id,
      alternatives: alternatives.length ? alternatives : undefined, equivalent: equivalent.length ? equivalent : undefined,
      summary: cpuSummary(dump, best, transfer, flippedCmp.direction),
    };
  }
  if (poison) {
    return {
      ...base, class: 'software', location: 'memory', expected: transfer?.expected === undefined ? undefined : hex(transfer.expected),
      confidence: clamp(0.6), confidenceLabel: 'none',
      summary: `A software bug: execution went to ${f(observed)}, a ${poison === 'null' ? 'null' : 'poison'} address; no single-bit fault explains it.`,
    };
  }
  if (transfer?.expected !== undefined && faithful) {
    const cmp = compareBits(transfer.expected, observed, pointerSize(arch) * 8);
    if (cmp.relation === 'unrelated') {
      return {
        ...base, class: 'software', location: 'branch-target', expected: hex(transfer.expected), confidence: clamp(0.45), confidenceLabel: 'none',
        summary: `Likely a software bug (a wild pointer or a stale return path): ${f(observed)} is ${cmp.hamming} bits from where the call goes, and no single-bit fault reproduces the dump.`,
      };
    }
  }
  return {
    ...base, class: 'inconclusive', confidence: 0, confidenceLabel: 'none', expected: transfer?.expected === undefined ? undefined : hex(transfer.expected),
    summary: 'Inconclusive: neither the code as written nor any single-bit fault reproduces what the dump recorded.',
  };
}

function cpuSummary(dump: Dump, best: Hypothesis, transfer: Transfer, direction: string | undefined): string {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const from = best.expected ? f(BigInt(best.expected)) : '?';
  const to = best.observed ? f(BigInt(best.observed)) : '?';
  const bit = `bit ${best.bit}${direction ? ` (${direction.replace('->', '→')})` : ''}`;
  const call = `${f(transfer.call.address)} ${transfer.call.text.replace(/\s+/g, ' ')}`;
  switch (best.location) {
    case 'branch-target':
      return `The CPU flipped ${bit} of the call target: ${call} should go to ${from} and went to ${to}. The pointer in memory and the code before the call are consistent with the dump; suspect the processor.`;
    case 'loaded-value':
      return `The CPU flipped ${bit} of a loaded value: ${best.description.replace(/ flipped$/, '')} arrived as ${to} instead of ${from}, and ${call} followed it. Memory is intact; suspect the processor.`;
    default:
      return `A register lost its value: ${best.description} (${from} → ${to}) makes ${call} land where the CPU trapped. Memory is intact; suspect the processor.`;
  }
}
