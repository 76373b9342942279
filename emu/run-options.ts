/**
 * What a caller asks of one run (bounds, stop conditions) and the observer
 * a recorder attaches to count instructions and enforce the budget; the
 * default budgets. The running itself is emu/emulator.ts's `run`.
 *
 * @example
 * ```ts
 * const options: RunOptions = { from: 0x401000n, count: 100, timeoutMs: 1000 };
 * emu.run(options); // { kind: 'reached', reason: 'count', … }
 * ```
 */
import type { RunResult } from './run-result.ts';

/** Bounds and stop conditions of one run. */
export interface RunOptions {
  /** Start address; the current pc when absent. */
  from?: bigint;
  /** Stop when the pc reaches this address (before executing it). */
  until?: bigint;
  /** Stop after exactly this many instructions (a goal, reported as `reached`). */
  count?: number;
  /** Instruction budget (default 10 000 000); 0 means none (then `until` or a timeout must bound the run). */
  maxInstructions?: number;
  /** Wall-time budget in milliseconds (default 10 000). */
  timeoutMs?: number;
}

/** Something that counts instructions during a run and can enforce a limit (the recorder). */
export interface RunObserver {
  begin(limit: number): void;
  finish(): void;
  executed(): number;
  stoppedByLimit(): boolean;
  /**
   * Instructions still owed when the observer stopped before a block that
   * would pass the limit (the block recorder): the run goes on that many,
   * counted exactly by Unicorn.
   */
  takeOwed?(): number;
  /** Where the observer stopped the run before a block for its limit (Unicorn's pc may lag there). */
  limitStopPc?(): bigint | undefined;
  /** Told how the run ended before `finish`, so it can settle a block cut short. */
  settle?(result: RunResult): void;
}

/** The instruction budget of a run that gives none. */
export const DEFAULT_MAX_INSTRUCTIONS = 10_000_000;
/** The wall-time budget of a run that gives none, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;
