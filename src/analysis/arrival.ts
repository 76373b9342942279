/**
 * Can the start of a replay window be reached at all? A window explains a
 * fault only if the code could get to where it starts. A window that starts
 * at the fault itself, in filler after the end of a function (the previous
 * instruction does not fall through, no branch targets it, no function
 * starts there), or in a function the innermost call on the stack did not
 * enter, explains the trap but not how the CPU got there: its `arrival`
 * check is a mismatch, and every hypothesis of the window fails with it.
 *
 * @example
 * ```ts
 * arrivalCheck(ctx, candidates); // { what: 'arrival', status: 'mismatch', note: '8082e3e0 is int 3 filler after …' }
 * ```
 */
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import { indirectJumpsIn, type Candidate } from './candidates.ts';
import type { Check } from './checks.ts';
import type { CodeReader, Instruction } from './code.ts';
import { branchTargetsBefore, SWEEP_LIMIT } from './flow.ts';
import { endsFallThrough, isPadding } from './instruction-kind.ts';
import type { Window } from './window.ts';

/** Bytes compilers pad between functions with. */
const PADDING = new Set([0xcc, 0x90]);

function functionOf(dump: Dump, address: bigint): bigint | undefined {
  const location = dump.symbols.lookup(address);
  return location?.symbol ? location.base : undefined;
}

/**
 * The instruction that straddles `address` when decoding its function from
 * the symbol's start runs past it (so no instruction starts there), or
 * undefined when one does start there or the function is not known.
 */
function containingInstruction(code: CodeReader, address: bigint): Instruction | undefined {
  if (code.dump.arch === 'arm64') return undefined;
  const location = code.dump.symbols.lookup(address);
  if (!location?.symbol || location.offset > 0x4000n) return undefined;
  let at = location.base;
  while (at < address) {
    const insn = code.decodeAt(at);
    if (!insn) return undefined;
    if (at + BigInt(insn.size) > address) return insn;
    at += BigInt(insn.size);
  }
  return undefined;
}

/** Bytes of padding looked through between the end of a function and the next one. */
const MAX_PADDING = 64n;

/**
 * When `address` is in the padding after a function (past its symbol's
 * size, which ends in an instruction that does not fall through, and before
 * the next function, in bytes that decode as padding from the one to the
 * other), that function and its last instruction: the code never runs
 * there. Undefined when symbols do not say so.
 */
function paddingAfter(code: CodeReader, address: bigint): { name: string; last: Instruction } | undefined {
  const symbols = code.dump.symbols;
  if (symbols.lookup(address)?.symbol) return undefined;
  let end: bigint | undefined;
  let before: ReturnType<typeof symbols.lookup>;
  for (let k = 1n; k <= MAX_PADDING && end === undefined; k++) {
    const location = symbols.lookup(address - k);
    if (location?.symbol) [end, before] = [address - k + 1n, location];
  }
  if (end === undefined || !before || end - before.base > SWEEP_LIMIT) return undefined;
  let last: Instruction | undefined;
  for (let at = before.base; at < end; at += BigInt(last.size)) {
    last = code.decodeAt(at);
    if (!last) return undefined;
  }
  if (!last || last.address + BigInt(last.size) !== end || !endsFallThrough(last.kind)) return undefined;
  for (let at = end; at < end + MAX_PADDING;) {
    const next = symbols.lookup(at);
    if (next?.symbol) return next.offset === 0n && at > address ? { name: symbols.format(before.base), last } : undefined;
    const insn = code.decodeAt(at);
    if (!insn || !isPadding(insn)) return undefined;
    at += BigInt(insn.size);
  }
  return undefined;
}

/** The arrival check of `window`, or undefined when nothing speaks against reaching its start. */
export function arrivalCheck(dump: Dump, code: CodeReader, window: Window, candidates: Candidate[]): Check | undefined {
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const start = window.start;
  const mismatch = (note: string): Check => ({ what: 'arrival', expected: `code that reaches ${f(start)}`, status: 'mismatch', basis: 'computed', note });
  const padding = paddingAfter(code, start);
  if (padding) {
    return mismatch(`${f(start)} is in the padding after ${padding.name}, whose last instruction, ${f(padding.last.address)} ${padding.last.text}, does not fall through: the code never runs there`);
  }
  const inside = containingInstruction(code, start);
  if (inside) return mismatch(`${f(start)} is inside ${f(inside.address)} ${inside.text}: the code never runs an instruction starting there`);
  const previous = code.endingAt(start);
  const startsFunction = dump.symbols.lookup(start)?.offset === 0n;
  if (previous && endsFallThrough(previous.kind) && !startsFunction) {
    const first = code.knownBytes(start, 1)[0];
    // A function with an indirect jump (a switch's table) may enter anywhere: only padding bytes say filler there.
    const holder = dump.symbols.lookup(start);
    const enteredAnywhere = !holder?.symbol || indirectJumpsIn(code, holder.base).length > 0;
    const targets = enteredAnywhere ? undefined : branchTargetsBefore(code, start);
    if ((first !== undefined && PADDING.has(first) && PADDING.has(code.knownBytes(start - 1n, 1)[0] ?? -1)) || (targets !== undefined && !targets.has(start))) {
      return mismatch(`${f(start)} follows ${f(previous.address)} ${previous.text}, which does not fall through, and nothing branches there: filler the code never runs`);
    }
  }
  if (window.anchor.kind !== 'fault') return undefined;
  // The function the fault is in should be one a call on the stack entered (or jumped on to from there). Stale
  // return addresses sit in frames too, so any call will do; a call whose target is unknown leaves it open.
  const here = functionOf(dump, window.anchor.instruction.address);
  const calls = candidates.filter((c) => c.kind === 'link-register' || c.kind === 'call');
  if (here === undefined || calls.length === 0 || calls.some((c) => c.expected === undefined)) return undefined;
  for (const call of calls) {
    const entered = functionOf(dump, call.expected!);
    if (entered === undefined || entered === here) return undefined;
    // A tail call or jump out of the entered function also leads here.
    for (let at = call.expected!, n = 0; n < 512; n++) {
      const insn = code.decodeAt(at);
      // An entered function whose code the dump lacks may jump anywhere: nothing speaks against arriving.
      if (!insn && at === call.expected) return undefined;
      if (!insn || functionOf(dump, at) !== entered) break;
      if (insn.kind === 'jump' || insn.kind === 'call') return undefined;
      at += BigInt(insn.size);
    }
  }
  return mismatch(`no call on the stack entered ${dump.symbols.format(here)}, and nothing they entered jumps on to it`);
}
