/**
 * Which memory a minidump keeps:
 *
 * - `full`: every byte the writers know (the core's, plus code filled from
 *   files), as a full-memory dump (MiniDumpWithFullMemory) keeps all of it.
 * - `small`: what a default minidump keeps: the thread's stack from a
 *   little below sp (0x100 bytes, the red zone) up to 64 KiB above it, and
 *   256 bytes around the pc and around each return address on the stack.
 *
 * Ranges come back sorted, merged and cut to bytes that are known.
 *
 * @example
 * ```ts
 * const plan = planMemory(crash, 'small');
 * plan.ranges; // [{ start: pc - 0x80n, end: pc + 0x80n }, …, { start: sp - 0x100n, end: sp + 0x10000n }]
 * plan.stack;  // the stack part, for the thread's Stack descriptor
 * ```
 */
import type { CrashMemory } from '../crash/memory.ts';
import { pcOf, spOf, type Registers, type WriterArch } from '../crash/registers.ts';
import type { ReturnAddress } from '../crash/stack-scan.ts';

/** A range of known bytes. */
export interface Range {
  start: bigint;
  /** Exclusive. */
  end: bigint;
}

/** What `planMemory` needs of a crash. */
export interface PlanInput {
  arch: WriterArch;
  contextRegisters: Registers;
  memory: CrashMemory;
  returnAddresses: ReturnAddress[];
}

const RED_ZONE = 0x100n;
const STACK_SPAN = 0x10000n;
const AROUND = 0x80n;

/**
 * Sorts `ranges` and merges the ones that overlap or touch.
 *
 * @example
 * ```ts
 * mergeRanges([{ start: 5n, end: 9n }, { start: 0n, end: 5n }]); // [{ start: 0n, end: 9n }]
 * ```
 */
export function mergeRanges(ranges: Range[]): Range[] {
  const sorted = ranges.filter((r) => r.end > r.start).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.start <= last.end) {
      if (range.end > last.end) last.end = range.end;
    } else out.push({ ...range });
  }
  return out;
}

/** The parts of [start, end) whose bytes `memory` knows. */
function known(memory: CrashMemory, start: bigint, end: bigint): Range[] {
  const out: Range[] = [];
  for (const region of memory.regions) {
    const s = region.start > start ? region.start : start;
    const e = region.end < end ? region.end : end;
    if (s < e) out.push({ start: s, end: e });
  }
  return out;
}

/**
 * The thread's stack: the known bytes around sp, contiguous, from up to
 * 0x100 below it to up to 64 KiB above it (empty when sp's bytes are unknown).
 *
 * @example
 * ```ts
 * stackRange(crash); // { start: sp - 0x100n, end: top of the stack mapping }
 * ```
 */
export function stackRange(input: PlanInput): Range {
  const sp = spOf(input.arch, input.contextRegisters);
  const pieces = mergeRanges(known(input.memory, sp > RED_ZONE ? sp - RED_ZONE : 0n, sp + STACK_SPAN));
  const holding = pieces.find((p) => sp >= p.start && sp < p.end);
  return holding ?? { start: sp, end: sp };
}

/**
 * The ranges a dump of kind `memory` keeps, and the stack among them.
 *
 * @example
 * ```ts
 * planMemory(crash, 'full').ranges.length; // one per contiguous run of known memory
 * ```
 */
export function planMemory(input: PlanInput, memory: 'full' | 'small'): { ranges: Range[]; stack: Range } {
  const stack = stackRange(input);
  if (memory === 'full') return { ranges: mergeRanges(input.memory.regions.map((r) => ({ start: r.start, end: r.end }))), stack };
  const wanted: Range[] = [stack];
  const around = (address: bigint) => known(input.memory, address > AROUND ? address - AROUND : 0n, address + AROUND);
  wanted.push(...around(pcOf(input.arch, input.contextRegisters)));
  for (const r of input.returnAddresses) wanted.push(...around(r.address));
  return { ranges: mergeRanges(wanted), stack };
}
