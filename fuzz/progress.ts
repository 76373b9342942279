/**
 * What the fuzzer's main thread and its worker share: the worker's input,
 * and the slots of the `Float64Array` over a SharedArrayBuffer through
 * which the main thread watches each input's start time (to stop a hang).
 *
 * @example
 * ```ts
 * const slots = new Float64Array(new SharedArrayBuffer(8 * 8));
 * slots[SLOT.execs]; // inputs run so far
 * ```
 */
import type { Seed } from './targets.ts';

/**
 * Slots of the shared progress array: `started` is the input's start (ms
 * since the epoch), `startedCpu` the process's CPU time then (ms, user and
 * system: process.cpuUsage() counts every thread), `slowest` the longest
 * input in wall time and `mostCpu` in the process's CPU time.
 */
export const SLOT = { execs: 0, started: 1, running: 2, slowest: 3, stop: 4, startedCpu: 5, mostCpu: 6 } as const;

/** The process's CPU time so far in ms (user and system, every thread). */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** What the worker is given. */
export interface WorkerInput {
  target: string;
  seeds: Seed[];
  /** Where each input is written before it runs. */
  current: string;
  /** Where crashing inputs are saved. */
  corpus: string;
  seed: number;
  execs: number;
  progress: SharedArrayBuffer;
}
