/**
 * How a run ended, as a `RunResult`, from what the emulator knows once
 * Unicorn returned: its status, the pc, a stop a hook asked for, which exit
 * the pc is at, whether the time budget ran out, and whether an observer
 * stopped the run for its limit. One decision, kept apart from the running.
 *
 * @example
 * ```ts
 * runOutcome({ status: 0, pc: 0x401000n, goal: true, limit: 100, timedOut: false, ... });
 * // { kind: 'reached', pc: 0x401000n, reason: 'count', instructions: 100 }
 * ```
 */
import { ucErrorText } from './ffi.ts';
import { UC_ERR_OK } from './constants.ts';
import { EmulationError } from './errors.ts';
import { faultOf } from './emulator-helpers.ts';
import type { RunResult } from './run-result.ts';

/** What is known about a run when Unicorn returned. */
export interface RunEnd {
  /** Unicorn's status from the last uc_emu_start. */
  status: number;
  pc: bigint;
  /** Instructions an observer counted; undefined without one. */
  instructions: number | undefined;
  /** A stop a hook asked for (a trap, a page the dump lacks); it wins over everything else. */
  stop: RunResult | undefined;
  /** The run's end address, if it had one. */
  until: bigint | undefined;
  /** The exit the pc is at: a poisoned start or a stop address (run-exits.ts). */
  exit: 'poison' | 'stop' | undefined;
  timedOut: boolean;
  /** An observer was attached and did not stop the run for its limit: something else called uc_emu_stop. */
  stoppedOnItsOwn: boolean;
  /** The count was a goal (reported as reached), not a budget. */
  goal: boolean;
  limit: number;
  /** True when `pc` is on a page the memory source lacks (a fetch fault there is `not-in-dump`). */
  unknownPage(pc: bigint): boolean;
}

export function runOutcome(end: RunEnd): RunResult {
  const { pc, instructions, status } = end;
  if (end.stop) return { ...end.stop, instructions };
  if (status !== UC_ERR_OK) {
    const text = ucErrorText(status);
    const fault = faultOf(status);
    if (fault && fault.access === 'fetch' && end.unknownPage(pc)) {
      return { kind: 'fault', address: pc, access: 'fetch', size: 0, pc, reason: 'not-in-dump', message: `code at 0x${pc.toString(16)} is not in the dump`, instructions };
    }
    if (fault) return { kind: 'fault', address: pc, access: fault.access, size: 0, pc, reason: fault.reason, message: text, instructions };
    const error = new EmulationError('uc_emu_start', `uc_emu_start failed at 0x${pc.toString(16)}: ${text}`, { code: status, ucError: text, address: pc });
    return { kind: 'error', error, pc, instructions };
  }
  if (end.until !== undefined && pc === end.until) return { kind: 'reached', pc, reason: 'address', instructions };
  if (end.exit === 'poison') return { kind: 'trapped', vector: 6, name: 'invalid instruction', pc, instructions };
  if (end.exit === 'stop') return { kind: 'reached', pc, reason: 'address', instructions };
  if (end.timedOut) return { kind: 'budget', budget: 'time', pc, instructions };
  // Unicorn stopped on its own (uc_emu_stop from a hook we do not own).
  if (end.stoppedOnItsOwn) return { kind: 'reached', pc, reason: 'count', instructions };
  if (end.goal) return { kind: 'reached', pc, reason: 'count', instructions: instructions ?? end.limit };
  return { kind: 'budget', budget: 'instructions', pc, instructions: instructions ?? end.limit };
}
