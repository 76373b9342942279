/**
 * How the lanes of a replay (one run per fill of the unknown values) make
 * one outcome: what the first lane ended with, and which of its results
 * every lane agrees on (those do not depend on what the dump lacks).
 *
 * @example
 * ```ts
 * const outcome = merge(injection, lanes.map((lane) => lane.run(injection, names)), lanes[0].steppedOver);
 * outcome.resultKnown; // every lane ended the same way
 * sameOutcome(outcome, faithful.outcome); // the fault left no trace the replay can see
 * ```
 */
import type { RegisterName } from '../../emu/registers.ts';
import type { RunResult } from '../../emu/run-result.ts';
import type { Injection, ReplayOutcome, RunOutcome } from './replay-types.ts';

/** Whether two replays end the same way with the same registers and memory in every lane both ran: a fault
 * that leaves no trace the replay can see. */
export function sameOutcome(a: ReplayOutcome, b: ReplayOutcome): boolean {
  const lanes = Math.min(a.runs.length, b.runs.length);
  for (let i = 0; i < lanes; i++) {
    const x = a.runs[i]!;
    const y = b.runs[i]!;
    if (!sameEnd(x.result, y.result) || x.written.size !== y.written.size) return false;
    for (const [r, v] of Object.entries(x.final)) if (y.final[r as RegisterName] !== v) return false;
    for (const [address, byte] of x.written) if (y.written.get(address) !== byte) return false;
  }
  return lanes > 0;
}

function sameEnd(a: RunResult, b: RunResult): boolean {
  if (a.kind !== b.kind || a.pc !== b.pc) return false;
  if (a.kind === 'trapped' && b.kind === 'trapped') return a.name === b.name;
  if (a.kind === 'fault' && b.kind === 'fault') return a.address === b.address && a.access === b.access && a.reason === b.reason;
  if (a.kind === 'reached' && b.kind === 'reached') return a.reason === b.reason;
  if (a.kind === 'budget' && b.kind === 'budget') return a.budget === b.budget;
  return true;
}

/**
 * The outcome of `runs`, one per lane in lane order, of the same replay;
 * `undefinedFlags` when the first lane's path was decoded (a traced run).
 */
export function merge(injection: Injection | undefined, runs: RunOutcome[], steppedOver: bigint[], undefinedFlags?: bigint): ReplayOutcome {
  const first = runs[0]!;
  const knownRegisters = new Set<RegisterName>();
  for (const [name, value] of Object.entries(first.final) as Array<[RegisterName, bigint]>) {
    if (runs.every((r) => r.final[name] === value)) knownRegisters.add(name);
  }
  const knownWritten = new Set<bigint>();
  for (const [address, value] of first.written) {
    if (runs.every((r) => r.written.get(address) === value)) knownWritten.add(address);
  }
  const flipped = first.flipped ? { ...first.flipped, known: runs.every((r) => r.flipped?.from === first.flipped!.from) } : undefined;
  return {
    injection,
    runs,
    result: first.result,
    resultKnown: runs.every((r) => sameEnd(r.result, first.result)),
    final: first.final,
    knownRegisters,
    written: first.written,
    knownWritten,
    injected: runs.every((r) => r.injected),
    flipped,
    passedFault: runs.every((r) => r.passedFault === true),
    steppedOver,
    ...(undefinedFlags === undefined ? {} : { undefinedFlags }),
  };
}
