/**
 * A debugger's own stack listing (a transcript's `kb`) as frames tagged
 * `recorded`, and how a walk compares with it: frame i ≥ 1 of both is at
 * the return address of frame i − 1.
 *
 * @example
 * ```ts
 * const frames = recordedFrames(dump.threads[0].recordedStacks[0], pc);
 * compareWithRecorded(walk, frames); // { compared: 5, agreeing: 5 }
 * ```
 */
import type { RecordedStack } from '../dumps/model.ts';
import type { StackFrame, StackWalk } from './frame.ts';

/**
 * The frames of a recorded listing. Frame 0's pc is the context's (`pc`)
 * when given; the listing itself names only return addresses.
 */
export function recordedFrames(stack: RecordedStack, pc?: bigint): StackFrame[] {
  return stack.frames.map((frame, i) => ({
    index: i,
    trust: 'recorded',
    pc: i === 0 ? pc ?? 0n : stack.frames[i - 1]!.returnAddress,
    sp: frame.frameAddress,
    registers: {},
  }));
}

/** How a walk agrees with a recorded listing. */
export interface RecordedComparison {
  /** Frames both have, past frame 0. */
  compared: number;
  /** Of those, how many are at the same pc. */
  agreeing: number;
  /** The first frame where the pcs differ. */
  firstDifference?: { index: number; walked: bigint; recorded: bigint };
}

/**
 * Compares the pcs of `walk`'s frames with `recorded`'s, past frame 0.
 *
 * @example
 * ```ts
 * compareWithRecorded(walk, recordedFrames(stack)).firstDifference; // { index: 3, walked: 0x7f…n, recorded: 0x7f…n }
 * ```
 */
export function compareWithRecorded(walk: StackWalk, recorded: StackFrame[]): RecordedComparison {
  const count = Math.min(walk.frames.length, recorded.length);
  const result: RecordedComparison = { compared: Math.max(0, count - 1), agreeing: 0 };
  for (let i = 1; i < count; i++) {
    const walked = walk.frames[i]!.pc;
    const said = recorded[i]!.pc;
    if (walked === said) result.agreeing++;
    else result.firstDifference ??= { index: i, walked, recorded: said };
  }
  return result;
}
