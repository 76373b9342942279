/**
 * Conditional branches whose condition depends on what the dump does not
 * hold. Each replay runs in lanes that fill unknown values differently; the
 * lanes can still agree on a branch by chance (`cmp esi, 2; je` with esi
 * filled 0, ffffffff and a hash: none is 2). The path after such a branch is
 * not known, though every lane took it. A lane's flags, or the register a
 * `cbz` tests, that differ from another lane's at the branch say so.
 *
 * A hardware account must not rest on such a path: replaying the program's
 * own code down the branch the lanes happened to take, a flip elsewhere can
 * re-run the real path with values it found on the way (a return flipped
 * back into the code that called `main` reads argc from the stack and runs
 * the crash again).
 *
 * @example
 * ```ts
 * unknownBranch(code, effects, replayer.runStepwise(injection).lanes);
 * // { index: 41, pc: 0x401199n, text: 'je 004011c0' }
 * ```
 */
import { pcRegister } from '../../emu/registers.ts';
import type { Effects } from '../disasm/effects.ts';
import { comparedMask } from './checks.ts';
import type { CodeReader } from './code.ts';
import type { Injection, Replayer, SteppedLane } from './replay.ts';

/** The first branch, on the path every lane took, whose condition the lanes do not agree on; undefined when none. */
export function unknownBranch(code: CodeReader, effects: Effects, lanes: SteppedLane[]): { index: number; pc: bigint; text: string } | undefined {
  if (lanes.length < 2) return undefined;
  const arch = code.dump.arch;
  const pc = pcRegister(arch);
  const length = Math.min(...lanes.map((l) => l.steps.length));
  for (let i = 0; i < length; i++) {
    const at = lanes[0]!.steps[i]!.pc;
    // Lanes that went apart already disagree on where the code goes: the replay says so itself.
    if (lanes.some((l) => l.steps[i]!.pc !== at)) return undefined;
    const insn = code.decodeAt(at);
    if (insn?.kind !== 'conditional') continue;
    for (const r of effects.of(insn.bytes, at)?.read ?? []) {
      if (r === pc) continue;
      const mask = comparedMask(arch, r);
      const values = lanes.map((l) => l.steps[i]!.before[r]);
      if (values.some((v) => v === undefined || ((v ^ values[0]!) & mask) !== 0n)) return { index: i, pc: at, text: insn.text };
    }
  }
  return undefined;
}

/** What a path check needs of a search: the window's replayer, its code, effects, and the replays it may still run. */
export interface PathContext {
  code: CodeReader;
  effects: Effects;
  window: { replayer: Replayer };
  budget: { replays: number };
}

const faithfulBranch = new WeakMap<object, ReturnType<typeof unknownBranch> | null>();
const faithfulStepped = new WeakMap<object, SteppedLane[]>();

/**
 * Every lane of the window's code as written, step by step (registers
 * before each instruction): run once per window, counted once against the
 * search's replays, shared by whatever asks (the unknown branch, the
 * search's focus, the covering check).
 */
export function faithfulLanes(ctx: PathContext): SteppedLane[] {
  let lanes = faithfulStepped.get(ctx.window);
  if (!lanes) {
    lanes = ctx.window.replayer.runStepwise().lanes;
    ctx.budget.replays -= lanes.length;
    faithfulStepped.set(ctx.window, lanes);
  }
  return lanes;
}

/**
 * The unknown branch on the path of `injection`'s replay (the code as
 * written when undefined), stepping every lane; counted against the
 * search's replays (a lane each).
 */
export function unknownBranchOf(ctx: PathContext, injection: Injection | undefined): ReturnType<typeof unknownBranch> {
  if (!injection && faithfulBranch.has(ctx.window)) return faithfulBranch.get(ctx.window) ?? undefined;
  let lanes: SteppedLane[];
  if (injection) {
    lanes = ctx.window.replayer.runStepwise(injection).lanes;
    ctx.budget.replays -= lanes.length;
  } else {
    lanes = faithfulLanes(ctx);
  }
  const found = unknownBranch(ctx.code, ctx.effects, lanes);
  if (!injection) faithfulBranch.set(ctx.window, found ?? null);
  return found;
}
