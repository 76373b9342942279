/**
 * Unicorn engines kept for reuse. Opening an engine and closing it again
 * costs milliseconds (Unicorn builds its CPU and a translation buffer on
 * first use, and frees them on close), and an analysis opens dozens per
 * dump, so a process that explains one dump after another (a `batch`
 * worker) keeps a few engines per architecture. `Emulator.dispose` returns
 * an engine here only after removing every hook it added, dropping the
 * translations of every range it mapped, unmapping them, clearing the exits
 * and restoring the CPU context the engine had when new; engines an
 * emulator left in any other state (a hook's pending error, a recorder
 * still attached, no native watchdog) are closed instead. Off unless
 * `reuseEngines` is called.
 *
 * @example
 * ```ts
 * reuseEngines(4); // keep up to 4 engines per architecture
 * const emu = Emulator.open('x64'); // a kept one when there is one
 * emu.dispose(); // reset and kept
 * reuseEngines(0); // close the kept engines
 * ```
 */
import type { Arch } from './registers.ts';

/** What stays with an engine from one emulator to the next. */
export interface EngineSlot<Owner, Parts> {
  arch: Arch;
  engine: unknown;
  /** The emulator using the engine now; the kept hooks call it. */
  owner?: Owner;
  /** Hooks, watchdog and the context the engine had when new (the emulator's own types). */
  parts: Parts;
  /** Closes the engine for good. */
  close(): void;
}

let limit = 0;
const kept = new Map<Arch, Array<EngineSlot<unknown, unknown>>>();

/** Keeps up to `count` engines per architecture from now on; 0 closes the kept ones and keeps none. */
export function reuseEngines(count: number): void {
  limit = Math.max(0, Math.floor(count));
  for (const slots of kept.values()) {
    while (slots.length > limit) slots.pop()!.close();
  }
}

/** How many engines for `arch` are kept now. */
export function keptEngines(arch: Arch): number {
  return kept.get(arch)?.length ?? 0;
}

/** A kept engine for `arch`, or undefined. */
export function takeEngine<Owner, Parts>(arch: Arch): EngineSlot<Owner, Parts> | undefined {
  return kept.get(arch)?.pop() as EngineSlot<Owner, Parts> | undefined;
}

/** True when an engine given back now would be kept. */
export function wouldKeep(arch: Arch): boolean {
  return (kept.get(arch)?.length ?? 0) < limit;
}

/** Keeps `slot` (already reset by its last owner), or closes it when the pool is full. */
export function giveBack(slot: EngineSlot<unknown, unknown>): void {
  slot.owner = undefined;
  const slots = kept.get(slot.arch) ?? [];
  kept.set(slot.arch, slots);
  if (slots.length < limit) slots.push(slot);
  else slot.close();
}
