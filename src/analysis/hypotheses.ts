/**
 * Fault models, each tested by replaying the window with the fault
 * injected and comparing with the dump: a bit flip in the transfer target,
 * in any register before any instruction, or in any value an instruction
 * loads (searched exhaustively). Each hypothesis carries its checks.
 *
 * @example
 * ```ts
 * const tested = searchSingleBitFlips(replayer, site, faithfulTrace);
 * const explaining = tested.filter((h) => h.explains);
 * ```
 */
import { pointerSize, type RegisterName } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress, hex } from '../format.ts';
import { compareOutcome, registersMismatch, summarize, type Check, type CheckContext, type CheckSummary } from './checks.ts';
import type { FaultSite } from './fault-site.ts';
import type { Injection, ReplayOutcome, Replayer } from './replay.ts';

export type HypothesisClass = 'cpu-fault' | 'memory-corruption' | 'code-corruption' | 'software' | 'no-fault';
export type HypothesisLocation = 'branch-target' | 'loaded-value' | 'register' | 'memory' | 'code' | 'none';

export interface Hypothesis {
  id: string;
  class: HypothesisClass;
  location: HypothesisLocation;
  description: string;
  injection?: Injection;
  bit?: number;
  /** The value before and after the flip, as the replay saw it (hex). */
  expected?: string;
  observed?: string;
  /** Reproduces the trap with no mismatching check. */
  explains: boolean;
  summary: CheckSummary;
  checks: Check[];
}

/** One memory read of the faithful window: which instruction, where, how wide. */
export interface WindowRead {
  index: number;
  pc: bigint;
  address: bigint;
  size: number;
}

export function evaluate(
  replayer: Replayer,
  site: FaultSite,
  context: CheckContext,
  base: Omit<Hypothesis, 'explains' | 'summary' | 'checks'>,
): Hypothesis {
  return judge(replayer, site, context, base, replayer.run(base.injection));
}

function judge(
  replayer: Replayer,
  site: FaultSite,
  context: CheckContext,
  base: Omit<Hypothesis, 'explains' | 'summary' | 'checks'>,
  outcome: ReplayOutcome,
): Hypothesis {
  const checks = compareOutcome(replayer.dump, site, outcome, context);
  const summary = summarize(checks);
  const trap = checks[0]!;
  const values = outcome.flipped ? { expected: hex(outcome.flipped.from), observed: hex(outcome.flipped.to) } : {};
  const explains = (!base.injection || outcome.injected) && trap.status === 'match' && summary.mismatch === 0;
  return { ...base, ...values, explains, summary, checks };
}

/** Like `evaluate`, but undefined without building checks when a register already mismatches. */
function evaluateIfPlausible(
  replayer: Replayer,
  site: FaultSite,
  context: CheckContext,
  base: Omit<Hypothesis, 'explains' | 'summary' | 'checks'>,
): Hypothesis | undefined {
  const outcome = replayer.run(base.injection);
  if (registersMismatch(replayer.dump, site, outcome, context)) return undefined;
  return judge(replayer, site, context, base, outcome);
}

/** Registers searched for flips: general registers and flags (not the pc: a pc flip is a target flip). */
function searchedRegisters(dump: Dump): RegisterName[] {
  switch (dump.arch) {
    case 'x86': return ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'efl'];
    case 'x64': return ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'efl'];
    case 'arm64': return [...Array.from({ length: 31 }, (_, i) => `x${i}` as RegisterName), 'sp', 'nzcv'];
  }
}

const X86_FLAG_BITS = [0, 2, 4, 6, 7, 10, 11];

/**
 * Every single-bit flip in a register before each of the window's
 * `instructions` instructions, and in every value it loads; returns only
 * the flips that explain the dump (the rest are counted).
 */
export function searchSingleBitFlips(
  replayer: Replayer,
  site: FaultSite,
  context: CheckContext,
  instructions: number,
  reads: WindowRead[],
  budgetMs = 60_000,
): { explaining: Hypothesis[]; tried: number; total: number; complete: boolean } {
  const dump = replayer.dump;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const width = pointerSize(dump.arch) * 8;
  const explaining: Hypothesis[] = [];
  let tried = 0;
  const registers = searchedRegisters(dump);
  const bitsOf = (register: RegisterName) => (register === 'efl' ? X86_FLAG_BITS.length : register === 'nzcv' ? 4 : width);
  const total = instructions * registers.reduce((n, r) => n + bitsOf(r), 0) + reads.reduce((n, r) => n + r.size * 8, 0);
  // The search as a whole is bounded too: every run is, but a huge window times every bit is not.
  const deadline = performance.now() + budgetMs;
  const outOfTime = () => performance.now() >= deadline;
  for (let index = 0; index < instructions; index++) {
    if (outOfTime()) return { explaining, tried, total, complete: false };
    for (const register of searchedRegisters(dump)) {
      const bits = register === 'efl' ? X86_FLAG_BITS : register === 'nzcv' ? [28, 29, 30, 31] : Array.from({ length: width }, (_, b) => b);
      for (const bit of bits) {
        tried++;
        const h = evaluateIfPlausible(replayer, site, context, {
          id: `bitflip:register@${index}:${register}:${bit}`,
          class: 'cpu-fault',
          location: 'register',
          description: `bit ${bit} of ${register} flipped before instruction ${index + 1} of the window`,
          injection: { kind: 'register-bit', index, register, bit },
          bit,
        });
        if (h?.explains) explaining.push(h);
      }
    }
  }
  for (const read of reads) {
    if (outOfTime()) return { explaining, tried, total, complete: false };
    for (let bit = 0; bit < read.size * 8; bit++) {
      tried++;
      const h = evaluateIfPlausible(replayer, site, context, {
        id: `bitflip:load@${read.pc.toString(16)}:${bit}`,
        class: 'cpu-fault',
        location: 'loaded-value',
        description: `bit ${bit} of the ${read.size}-byte value loaded from [${f(read.address)}] by ${f(read.pc)} flipped`,
        injection: { kind: 'load-bit', index: read.index, address: read.address, size: read.size, bit },
        bit,
      });
      if (h?.explains) explaining.push(h);
    }
  }
  return { explaining, tried, total, complete: true };
}

/**
 * The registers whose start value passes straight through the window: a
 * one-bit change at the start shows up unchanged at the end. Their matches
 * are not evidence; everything else the window computed or overwrote.
 */
export function carriedRegisters(replayer: Replayer, faithful: ReplayOutcome): Set<RegisterName> {
  const carried = new Set<RegisterName>();
  for (const register of searchedRegisters(replayer.dump)) {
    const bit = register === 'efl' ? 6 : register === 'nzcv' ? 30 : 3;
    const perturbed = replayer.run({ kind: 'register-bit', index: 0, register, bit });
    const before = faithful.final[register];
    const after = perturbed.final[register];
    if (before !== undefined && after !== undefined && (before ^ after) === 1n << BigInt(bit)) carried.add(register);
  }
  return carried;
}
