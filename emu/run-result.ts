/**
 * What a bounded emulation run ended with. Every run ends in exactly one of
 * these; nothing is thrown for things the emulated code did.
 *
 * @example
 * ```ts
 * const r = emu.run({ from: 0x1000n, until: 0x1010n });
 * if (r.kind === 'trapped') console.log(`int ${r.vector} at ${r.pc.toString(16)}`);
 * ```
 */
import type { Access } from './memory-source.ts';
import type { EmulationError } from './errors.ts';

export type RunResult =
  /** Stopped at the `until` address, or after exactly `count` instructions. */
  | { kind: 'reached'; pc: bigint; reason: 'address' | 'count'; instructions?: number }
  /**
   * The CPU trapped: `int n`, `syscall`, `svc`, `brk`, or an invalid
   * instruction. `pc` is as the CPU reports it (after `int 3` on x86).
   */
  | { kind: 'trapped'; vector: number; name: string; pc: bigint; instructions?: number }
  /** An access the memory could not satisfy. */
  | {
      kind: 'fault';
      address: bigint;
      access: Access;
      size: number;
      pc: bigint;
      /** `non-canonical`: x86-64 raised #GP on the transfer or access itself (see src/analysis/transfer-fault.ts). */
      reason: 'not-in-dump' | 'unmapped' | 'protection' | 'non-canonical';
      message: string;
      instructions?: number;
    }
  /** The instruction or wall-time budget ran out first. */
  | { kind: 'budget'; budget: 'instructions' | 'time'; pc: bigint; instructions?: number }
  /** Unicorn failed for a reason that is not the code's doing. */
  | { kind: 'error'; error: EmulationError; pc: bigint; instructions?: number };

/** One line describing a run result, WinDbg-like addresses. */
export function describeRunResult(result: RunResult, hex: (value: bigint) => string): string {
  switch (result.kind) {
    case 'reached':
      return result.reason === 'address' ? `reached ${hex(result.pc)}` : `stopped after ${result.instructions} instructions at ${hex(result.pc)}`;
    case 'trapped':
      return `trapped: ${result.name} (vector ${result.vector}), pc ${hex(result.pc)}`;
    case 'fault':
      return `${result.message} (${result.access} of ${result.size} bytes at ${hex(result.address)}, pc ${hex(result.pc)})`;
    case 'budget':
      return `${result.budget === 'time' ? 'time' : 'instruction'} budget exhausted at ${hex(result.pc)}`;
    case 'error':
      return `emulation error at ${hex(result.pc)}: ${result.error.message}`;
  }
}
