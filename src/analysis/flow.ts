/**
 * Static control flow around an instruction, from the code a dump holds:
 * the direct target of a branch or call, and the straight-line run of
 * instructions that must have executed just before a given one (back to the
 * nearest place another branch could jump into, an instruction that does
 * not fall through, or a call into code the dump lacks).
 *
 * @example
 * ```ts
 * directTarget(insn);                       // 0x401000n for `call 00401000`
 * straightRunBefore(code, anchor, 100);     // { instructions: [...], stoppedBy: 'branch target 00401023' }
 * ```
 */
import { formatAddress } from '../format.ts';
import type { CodeReader, Instruction } from './code.ts';
import { endsFallThrough } from './instruction-kind.ts';

/** The address a direct branch or call goes to, or undefined for an indirect one. */
export function directTarget(insn: Instruction): bigint | undefined {
  if (insn.kind !== 'call' && insn.kind !== 'jump' && insn.kind !== 'conditional') return undefined;
  const operands = insn.operands.split(',');
  // WinDbg syntax writes a branch target as 8 or 16 hex digits (a backtick in the middle on 64-bit).
  const last = operands[operands.length - 1]!.trim().replace(/.*\(([0-9a-f`]+)\)$/i, '$1').replace(/`/g, '');
  return /^[0-9a-f]{8,16}$/i.test(last) ? BigInt(`0x${last}`) : undefined;
}

/** Largest function, in bytes, swept to find branch targets. */
export const SWEEP_LIMIT = 0x4000n;

/**
 * Direct branch targets inside the function that holds `address` and before
 * it, found by decoding forward from the function's start (by the symbol
 * table). Undefined when the function's start is unknown.
 */
export function branchTargetsBefore(code: CodeReader, address: bigint): Set<bigint> | undefined {
  const location = code.dump.symbols.lookup(address);
  if (!location?.symbol || location.offset > SWEEP_LIMIT) return undefined;
  const targets = new Set<bigint>();
  const start = location.base;
  let at = start;
  // Sweep the whole function (branches after `address` can jump back before it).
  const end = start + SWEEP_LIMIT;
  while (at < end) {
    const insn = code.decodeAt(at);
    // A gap before `address` leaves branches unseen: say nothing rather than too little.
    if (!insn) return at <= address ? undefined : targets;
    const target = directTarget(insn);
    if (target !== undefined && target >= start && target <= address && insn.kind !== 'call') targets.add(target);
    at += BigInt(insn.size);
    const next = code.dump.symbols.lookup(at);
    if (next?.symbol && next.base !== start) break;
  }
  return targets;
}

/**
 * Direct jumps before `target` in its function that branch to it (forward
 * branches only: a backward one is a loop, whose earlier iteration the dump
 * says nothing about).
 */
export function forwardBranchesTo(code: CodeReader, target: bigint): Instruction[] {
  const isBranchHere = (insn: Instruction) => (insn.kind === 'jump' || insn.kind === 'conditional') && directTarget(insn) === target;
  const location = code.dump.symbols.lookup(target);
  if (location?.symbol && location.offset <= SWEEP_LIMIT) {
    const found: Instruction[] = [];
    let at = location.base;
    while (at < target) {
      const insn = code.decodeAt(at);
      if (!insn) break;
      if (isBranchHere(insn)) found.push(insn);
      at += BigInt(insn.size);
    }
    if (at === target) return found;
  }
  // A listing (a transcript's `ub`) gives boundaries where the function's start is not held.
  return code.listedBefore(target, 64).filter(isBranchHere);
}

export interface StraightRun {
  /** In execution order, ending with the anchor. */
  instructions: Instruction[];
  /** Why the run does not start earlier. */
  stoppedBy: string;
}

/**
 * The instructions that certainly ran just before `anchor` (which ends the
 * run): walking back while the previous instruction falls through into the
 * next and no branch could have entered in between, at most `max`.
 * `stopBefore` ends the walk at an instruction the caller cannot replay (a
 * call into code the dump lacks).
 */
export function straightRunBefore(
  code: CodeReader,
  anchor: Instruction,
  max: number,
  stopBefore: (insn: Instruction) => string | undefined = () => undefined,
): StraightRun {
  const arch = code.dump.arch;
  const targets = branchTargetsBefore(code, anchor.address);
  const swept = anchor.listed ? undefined : code.sweepFromSymbol(anchor);
  const run: Instruction[] = [anchor];
  // Decoding x86 backwards is a guess: without a listing or a sweep from a symbol, only the anchor is certain.
  if (!swept && !anchor.listed && arch !== 'arm64') {
    return { instructions: run, stoppedBy: `instruction boundaries before ${formatAddress(arch, anchor.address)} are not known (no symbols or listing)` };
  }
  let stoppedBy = `the limit of ${max} instructions`;
  let cursor = anchor;
  for (let i = swept ? swept.length - 2 : -1; run.length < max; i--) {
    if (targets?.has(cursor.address)) {
      stoppedBy = `${formatAddress(arch, cursor.address)} is a branch target: control may enter there from elsewhere`;
      break;
    }
    const previous = swept ? swept[i] : code.endingAt(cursor.address, (p) => p.listed || !cursor.listed);
    if (!previous) {
      stoppedBy = `no known code before ${formatAddress(arch, cursor.address)}`;
      break;
    }
    if (endsFallThrough(previous.kind)) {
      stoppedBy = `${formatAddress(arch, previous.address)} ${previous.text} does not fall through`;
      break;
    }
    const why = stopBefore(previous);
    if (why) {
      stoppedBy = why;
      break;
    }
    run.unshift(previous);
    cursor = previous;
  }
  return { instructions: run, stoppedBy };
}
