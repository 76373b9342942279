/**
 * Probes the fault search runs on a window's replays before it tries a
 * model: how far an instruction moves the stack pointer (a skip then starts
 * the window that much higher), whether the condition of a branch is known
 * there, whether a register a skip keeps could have held anything as
 * written, and which register a widening load writes.
 *
 * @example
 * ```ts
 * spStep(ctx, 12); // 8n: the instruction at path index 12 is a pop
 * ```
 */
import { pcRegister, registerMask, spRegister, type RegisterName } from '../../emu/registers.ts';
import type { Effects } from '../disasm/effects.ts';
import type { Dump } from '../dumps/model.ts';
import type { Instruction } from './code.ts';
import type { SearchContext } from './families.ts';

/**
 * How far the instruction at path `index` moves the stack pointer, as the
 * code as written runs it (a `pop` +8, `add rsp, 0x28`), when it moves it
 * up and every lane agrees; undefined when it moves it down, not at all, or
 * by what the dump does not say (`leave` from an unknown frame pointer).
 */
export function spStep(ctx: SearchContext, index: number): bigint | undefined {
  const sp = spRegister(ctx.dump.arch);
  // Two replays, counted against the search's allowance like the fault replays.
  ctx.budget.replays -= 2;
  const before = ctx.window.replayer.run({ kind: 'stop', index });
  const after = ctx.window.replayer.run({ kind: 'stop', index: index + 1 });
  if (!before.injected || !after.injected || !before.knownRegisters.has(sp) || !after.knownRegisters.has(sp)) return undefined;
  const step = (after.final[sp]! - before.final[sp]!) & registerMask(ctx.dump.arch);
  const signed = step > registerMask(ctx.dump.arch) >> 1n ? step - registerMask(ctx.dump.arch) - 1n : step;
  // Only a step up (a pop, freeing a frame): a skipped push or frame allocation leaves memory as the dump shows it
  // either way, so the shifted replay could not be told from the code as written.
  return signed <= 0n || signed > 0x10000n ? undefined : signed;
}

/** x86-64 names of the 64-bit general registers. */
const X64_WIDE = /^(r[a-ds]x|r[sd]i|r[sb]p|r(8|9|1[0-5]))$/;

/**
 * The register a load writes, when it is wider than the `size` bytes the
 * load read (a sign or zero extension into a 64-bit register), and its
 * width in bits; undefined otherwise.
 */
export function widenedDestination(arch: Dump['arch'], insn: Instruction, size: number, effects: Effects): { register: RegisterName; width: number } | undefined {
  if (arch === 'x86') return undefined;
  const first = insn.operands.split(',')[0]!.trim().toLowerCase();
  const width = arch === 'arm64' ? (first.startsWith('x') ? 64 : 32) : X64_WIDE.test(first) ? 64 : 0;
  if (width <= size * 8) return undefined;
  const written = (effects.of(insn.bytes, insn.address)?.written ?? []).filter((r) => r !== 'efl' && r !== 'nzcv' && r !== spRegister(arch));
  return written.length === 1 ? { register: written[0]!, width } : undefined;
}

/**
 * Whether a skip says no more than that a register the skipped instruction
 * writes already held the value the dump recorded (explicitly kept, or
 * carried there from the window's start): the instruction, run as written,
 * leaves it unknown (it may as well have produced the recorded value), or
 * one bit from it (a flip of what it produced, which the flip models try;
 * an older value that happened to be one bit off is no likelier).
 */
export function keepsWhatCouldBe(ctx: SearchContext, index: number, written: readonly RegisterName[], keep: Partial<Record<RegisterName, bigint>>): boolean {
  const recorded = ctx.site.context?.registers ?? {};
  const sp = spRegister(ctx.dump.arch);
  const names = written.filter((r) => r !== sp && r !== pcRegister(ctx.dump.arch) && r !== 'efl' && r !== 'nzcv' && recorded[r] !== undefined);
  if (names.length === 0) return false;
  ctx.budget.replays -= 2;
  const before = ctx.window.replayer.run({ kind: 'stop', index });
  const after = ctx.window.replayer.run({ kind: 'stop', index: index + 1 });
  if (!before.injected || !after.injected) return Object.keys(keep).length > 0;
  return names.some((r) => {
    const held = keep[r] ?? (before.knownRegisters.has(r) ? before.final[r] : undefined);
    if (held === undefined || held !== recorded[r]) return false;
    if (!after.knownRegisters.has(r)) return true;
    const diff = (after.final[r]! ^ held) & registerMask(ctx.dump.arch);
    return diff !== 0n && (diff & (diff - 1n)) === 0n;
  });
}

/** Whether the registers the conditional branch at path `index` tests are unknown there (the lanes may go either way). */
export function conditionUnknown(ctx: SearchContext, index: number, insn: Instruction): boolean {
  const at = ctx.window.replayer.run({ kind: 'stop', index });
  if (!at.injected) return false;
  const pc = pcRegister(ctx.dump.arch);
  return (ctx.effects.of(insn.bytes, insn.address)?.read ?? []).some((r) => r !== pc && !at.knownRegisters.has(r));
}
