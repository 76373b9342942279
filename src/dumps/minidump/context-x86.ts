/**
 * The x86 CONTEXT (winnt.h, `dt nt!_CONTEXT` on a 32-bit target; Breakpad's
 * MDRawContextX86): 0x2cc bytes, or 0xcc without ExtendedRegisters.
 *
 * @example
 * ```ts
 * const { flags, registers } = readX86Context(reader, 0);
 * registers.eip; // 0x40429en
 * ```
 */
import type { RegisterValues } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';

/** CONTEXT_i386. */
export const CONTEXT_X86 = 0x0001_0000;
/** Bytes up to the end of SegSs: what the integer registers need. */
export const X86_CONTEXT_REGISTERS_SIZE = 0xcc;
/** With ExtendedRegisters[512]. */
export const X86_CONTEXT_SIZE = 0x2cc;

const CONTROL = 0x1;
const INTEGER = 0x2;
const SEGMENTS = 0x4;

/**
 * CONTEXT (x86) at `offset`: the registers its ContextFlags say are present
 * (CONTEXT_CONTROL: ebp, eip, cs, efl, esp, ss; CONTEXT_INTEGER: edi, esi,
 * ebx, edx, ecx, eax; CONTEXT_SEGMENTS: gs, fs, es, ds). Flags naming no
 * group at all (older Breakpad writers set only the CPU bit) mean all of
 * them, as Breakpad and rust-minidump read such contexts.
 *
 * @example
 * ```ts
 * readX86Context(reader, 0).registers.esp; // 0x12fe84n
 * ```
 */
export function readX86Context(r: ByteReader, offset: number): { flags: number; registers: RegisterValues } {
  const flags = r.u32(offset + 0x000, 'ContextFlags');
  const groups = flags & (CONTROL | INTEGER | SEGMENTS) || (CONTROL | INTEGER | SEGMENTS);
  const registers: RegisterValues = {};
  const u32 = (at: number, field: string): bigint => BigInt(r.u32(offset + at, field));
  if (groups & SEGMENTS) {
    registers.gs = u32(0x08c, 'SegGs') & 0xffffn;
    registers.fs = u32(0x090, 'SegFs') & 0xffffn;
    registers.es = u32(0x094, 'SegEs') & 0xffffn;
    registers.ds = u32(0x098, 'SegDs') & 0xffffn;
  }
  if (groups & INTEGER) {
    registers.edi = u32(0x09c, 'Edi');
    registers.esi = u32(0x0a0, 'Esi');
    registers.ebx = u32(0x0a4, 'Ebx');
    registers.edx = u32(0x0a8, 'Edx');
    registers.ecx = u32(0x0ac, 'Ecx');
    registers.eax = u32(0x0b0, 'Eax');
  }
  if (groups & CONTROL) {
    registers.ebp = u32(0x0b4, 'Ebp');
    registers.eip = u32(0x0b8, 'Eip');
    registers.cs = u32(0x0bc, 'SegCs') & 0xffffn;
    registers.efl = u32(0x0c0, 'EFlags');
    registers.esp = u32(0x0c4, 'Esp');
    registers.ss = u32(0x0c8, 'SegSs') & 0xffffn;
  }
  return { flags, registers };
}
