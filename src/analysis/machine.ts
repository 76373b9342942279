/**
 * Builds an emulator over a dump: the dump's memory paged in on demand and a
 * register state loaded. The one place analysis turns a `Dump` into a
 * running machine.
 *
 * @example
 * ```ts
 * const emu = machineFor(dump, dump.threads[0].contexts[0].registers);
 * const result = emu.run({ from: 0x80a5d8e6n, until: 0x80a5d8fcn });
 * ```
 */
import { Emulator } from '../../emu/emulator.ts';
import type { RegisterName, RegisterValues } from '../../emu/registers.ts';
import { writeVectorRegisters, type VectorRegisters } from '../../emu/vector-registers.ts';
import type { UnknownFill } from '../../emu/memory-source.ts';
import { memorySourceOf } from '../dumps/memory-source.ts';
import type { Dump } from '../dumps/model.ts';

/**
 * Segment selectors are compared with the dump, not loaded: Unicorn would
 * need a descriptor table to load them, and flat code does not depend on them.
 */
const NOT_LOADED = new Set<RegisterName>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);

/** The registers of `values` the emulator can load. */
export function loadableRegisters(values: RegisterValues): RegisterValues {
  return Object.fromEntries(Object.entries(values).filter(([name]) => !NOT_LOADED.has(name as RegisterName))) as RegisterValues;
}

/**
 * An emulator for `dump`'s architecture with its memory as the lazy source
 * and `registers` loaded (and `vector`, the x87/SSE/AVX state, when given). With `fill`, bytes the dump lacks in memory it
 * says was mapped read as that fill (see `UnknownFill`) instead of stopping.
 */
export function machineFor(dump: Dump, registers: RegisterValues, options: { fill?: UnknownFill; vector?: VectorRegisters } = {}): Emulator {
  const emu = Emulator.open(dump.arch);
  try {
    // Raw images hold no stack: writes there create memory. A dump's absent memory stays absent.
    emu.setMemorySource(
      memorySourceOf(dump.memory, `${dump.format} ${dump.path}`, { writesCreateMemory: dump.format === 'raw', addressMap: dump.addressMap }),
      { fill: options.fill },
    );
    emu.writeRegisters(loadableRegisters(registers));
    // x87/SSE/AVX state from the dump (a core's NT_X86_XSTATE): without it MXCSR and the xmm registers start at zero.
    if (options.vector && dump.arch !== 'arm64') writeVectorRegisters(emu, options.vector);
  } catch (error) {
    emu.dispose();
    throw error;
  }
  return emu;
}
