/**
 * The x86 state of a WoW64 thread, for an x86 process dumped by a 64-bit
 * tool: such a dump's SystemInfo says AMD64 and its thread contexts are the
 * 64-bit WoW64 layer's. The x86 CONTEXT the process was running is kept in
 * the thread's 64-bit TEB: TlsSlots[1] (WOW64_TLS_CPURESERVED, TEB64 offset
 * 0x1488) points at a WOW64_CPURESERVED whose CONTEXT starts 4 bytes in
 * (after USHORT Flags and USHORT Machine). lldb reads it the same way.
 *
 * @example
 * ```ts
 * const context = readWow64Context(dump.memory, thread.teb, 'crash.dmp');
 * context?.registers.eip; // 0x00401000n
 * ```
 */
import type { RegisterValues } from '../../../emu/registers.ts';
import { ByteReader } from '../binary/byte-reader.ts';
import type { MemoryView, Provenance } from '../model.ts';
import { CONTEXT_X86, X86_CONTEXT_REGISTERS_SIZE, readX86Context } from './context-x86.ts';

/** TEB64.TlsSlots (0x1480) + 8: slot 1, WOW64_TLS_CPURESERVED. */
export const TEB64_WOW64_CPURESERVED = 0x1488n;
/** Offset of the CONTEXT in WOW64_CPURESERVED. */
export const CPURESERVED_CONTEXT = 4n;

/** An x86 context found through a thread's TEB. */
export interface Wow64Context {
  registers: RegisterValues;
  /** Address of the x86 CONTEXT. */
  address: bigint;
  provenance: Provenance;
}

/**
 * The x86 context of the WoW64 thread whose 64-bit TEB is at `teb`, or
 * undefined when the dump lacks the TEB or the context, or the bytes there
 * are not an x86 CONTEXT.
 *
 * @example
 * ```ts
 * readWow64Context(memory, 0x7ffdf000n, 'app.dmp')?.address; // TlsSlots[1] + 4
 * ```
 */
export function readWow64Context(memory: MemoryView, teb: bigint, path: string): Wow64Context | undefined {
  if (teb === 0n) return undefined;
  const slot = memory.read(teb + TEB64_WOW64_CPURESERVED, 8);
  if (!slot) return undefined;
  const cpuReserved = new DataView(slot.buffer, slot.byteOffset, 8).getBigUint64(0, true);
  if (cpuReserved === 0n) return undefined;
  const address = cpuReserved + CPURESERVED_CONTEXT;
  const bytes = memory.read(address, X86_CONTEXT_REGISTERS_SIZE);
  const provenance = memory.provenanceOf(address);
  if (!bytes || !provenance) return undefined;
  const reader = new ByteReader(bytes, { path, format: 'minidump', base: provenance.offset ?? 0n, what: 'WOW64 CONTEXT' });
  const { flags, registers } = readX86Context(reader, 0);
  if ((flags & 0x00ff_0000) !== CONTEXT_X86) return undefined;
  return { registers, address, provenance };
}
