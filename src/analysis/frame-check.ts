/**
 * Whether the stack pointer at the fault is where the faulting function's
 * own code leaves it. Inside a function the distance from the stack
 * pointer to the return address is fixed by the code (the unwind
 * information records it per instruction): the code as written cannot
 * leave the stack pointer anywhere else. When the slot the unwind rule
 * names holds no return address, but a slot a few words away holds the
 * return address of the very call that entered this function, the stack
 * pointer is off by that distance: a push or a pop that did not happen, or
 * one too many. Every account in which the code before the fault ran as
 * written is then contradicted, whatever the fault itself looks like.
 *
 * Only rules that compute the frame from the stack pointer are used (a
 * frame-pointer rule says nothing of the stack pointer), and only a return
 * address of a call whose target is this function's start counts: a slot
 * overwritten by a software bug is not "found" nearby by chance.
 *
 * @example
 * ```ts
 * const check = frameCheck(dump, walker, site, candidates);
 * check?.status; // 'mismatch': sp is 4 bytes above where the code leaves it
 * ```
 */
import { pcRegister, pointerSize, registerMask, spRegister, type RegisterName } from '../../emu/registers.ts';
import type { Dump } from '../dumps/model.ts';
import { formatAddress } from '../format.ts';
import type { StackWalker } from '../unwind/walk.ts';
import type { Candidate } from './candidates.ts';
import type { Check } from './checks.ts';
import type { FaultSite } from './fault-site.ts';

/** How far (in words) from the rule's slot the entering call's return address is looked for. */
const NEAR_WORDS = 16n;

/** The fault's own frame: the dump's registers at the faulting pc. */
export function frameCheck(dump: Dump, walker: StackWalker, site: FaultSite, candidates: readonly Candidate[]): Check | undefined {
  const context = site.context;
  if (!context) return undefined;
  const unknown = new Set<RegisterName>(context.unknown ?? []);
  const pc = context.registers[pcRegister(dump.arch)];
  const sp = context.registers[spRegister(dump.arch)];
  if (pc === undefined || sp === undefined || unknown.has(spRegister(dump.arch))) return undefined;
  return frameAt(dump, walker, pc, sp, candidates, 'here');
}

/**
 * The frame at `pc` with stack pointer `sp`: a mismatch when the unwind rule
 * there says the code as written cannot have the stack pointer at `sp`
 * (see the module comment), else undefined. `where` ends the note ("here",
 * "at the start of window w1").
 */
export function frameAt(dump: Dump, walker: StackWalker, pc: bigint, sp: bigint, candidates: readonly Candidate[], where: string): Check | undefined {
  const rule = walker.frameRule({ [pcRegister(dump.arch)]: pc, [spRegister(dump.arch)]: sp });
  if (!rule?.fromSp) return undefined;
  const calls = candidates.filter((c): c is Candidate & { slot: bigint } => c.kind === 'call' && c.slot !== undefined);
  // The slot holds the return address of a call that may have entered this function: the frame is as the code leaves
  // it. A stale return address of a call to another function (an earlier, deeper call's) proves nothing.
  if (calls.some((c) => c.slot === rule.returnSlot && (c.expected === undefined || c.expected === rule.functionStart))) return undefined;
  const word = BigInt(pointerSize(dump.arch));
  const held = dump.memory.read(rule.returnSlot, Number(word));
  if (!held) return undefined; // the dump does not hold the slot: nothing to compare
  const entering = calls.find((c) => c.expected === rule.functionStart && c.slot !== rule.returnSlot
    && (c.slot > rule.returnSlot ? c.slot - rule.returnSlot : rule.returnSlot - c.slot) <= NEAR_WORDS * word);
  if (!entering) return undefined;
  const f = (v: bigint) => formatAddress(dump.arch, v);
  const mask = registerMask(dump.arch);
  const offset = (rule.returnSlot - sp) & mask; // the return slot's distance above sp, by the rule
  const asWritten = (entering.slot - offset) & mask;
  const by = sp > asWritten ? sp - asWritten : asWritten - sp;
  let value = 0n;
  for (let k = held.length - 1; k >= 0; k--) value = (value << 8n) | BigInt(held[k]!);
  const fn = dump.symbols.format(rule.functionStart);
  const spName = spRegister(dump.arch);
  return {
    what: 'frame',
    expected: f(sp),
    actual: f(asWritten),
    status: 'mismatch',
    basis: 'computed',
    note: `at ${f(pc)} the unwind information of ${fn} (${rule.source}) puts its return address at [${spName}+${offset.toString(16)}] = [${f(rule.returnSlot)}], which holds ${f(value)}; `
      + `${f(entering.instruction.address)} ${entering.instruction.text} that entered it left its return address at [${f(entering.slot)}]: `
      + `${spName} ${f(sp)} is ${by} bytes ${sp > asWritten ? 'above' : 'below'} where the code as written leaves it ${where}`,
  };
}
