/**
 * The x64 CONTEXT (winnt.h, `dt nt!_CONTEXT` on x64; Breakpad's
 * MDRawContextAMD64): 0x4d0 bytes, more with XSTATE after it.
 *
 * @example
 * ```ts
 * readAmd64Context(reader, 0).registers.rip; // 0x7ff738721331n
 * ```
 */
import type { RegisterValues } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';

/** CONTEXT_AMD64. */
export const CONTEXT_AMD64 = 0x0010_0000;
/** Offset of ContextFlags: after P1Home…P6Home. */
export const AMD64_CONTEXT_FLAGS_OFFSET = 0x30;
/** Bytes up to the end of Rip. */
export const AMD64_CONTEXT_REGISTERS_SIZE = 0x100;
export const AMD64_CONTEXT_SIZE = 0x4d0;

const CONTROL = 0x1;
const INTEGER = 0x2;
const SEGMENTS = 0x4;

/**
 * CONTEXT (x64) at `offset`: the registers its ContextFlags say are present
 * (CONTEXT_CONTROL: cs, ss, efl, rsp, rip; CONTEXT_INTEGER: rax…r15 with
 * rbp; CONTEXT_SEGMENTS: ds, es, fs, gs). Flags naming no group at all
 * (Breakpad's macOS writer sets only CONTEXT_AMD64) mean all of them, as
 * Breakpad and rust-minidump read such contexts.
 *
 * @example
 * ```ts
 * readAmd64Context(reader, 0).flags; // 0x10001f
 * ```
 */
export function readAmd64Context(r: ByteReader, offset: number): { flags: number; registers: RegisterValues } {
  const flags = r.u32(offset + 0x030, 'ContextFlags');
  const groups = flags & (CONTROL | INTEGER | SEGMENTS) || (CONTROL | INTEGER | SEGMENTS);
  const registers: RegisterValues = {};
  const u64 = (at: number, field: string): bigint => r.u64(offset + at, field);
  const u16 = (at: number, field: string): bigint => BigInt(r.u16(offset + at, field));
  if (groups & CONTROL) {
    registers.cs = u16(0x038, 'SegCs');
    registers.ss = u16(0x042, 'SegSs');
    registers.efl = BigInt(r.u32(offset + 0x044, 'EFlags'));
    registers.rsp = u64(0x098, 'Rsp');
    registers.rip = u64(0x0f8, 'Rip');
  }
  if (groups & SEGMENTS) {
    registers.ds = u16(0x03a, 'SegDs');
    registers.es = u16(0x03c, 'SegEs');
    registers.fs = u16(0x03e, 'SegFs');
    registers.gs = u16(0x040, 'SegGs');
  }
  if (groups & INTEGER) {
    registers.rax = u64(0x078, 'Rax');
    registers.rcx = u64(0x080, 'Rcx');
    registers.rdx = u64(0x088, 'Rdx');
    registers.rbx = u64(0x090, 'Rbx');
    registers.rbp = u64(0x0a0, 'Rbp');
    registers.rsi = u64(0x0a8, 'Rsi');
    registers.rdi = u64(0x0b0, 'Rdi');
    registers.r8 = u64(0x0b8, 'R8');
    registers.r9 = u64(0x0c0, 'R9');
    registers.r10 = u64(0x0c8, 'R10');
    registers.r11 = u64(0x0d0, 'R11');
    registers.r12 = u64(0x0d8, 'R12');
    registers.r13 = u64(0x0e0, 'R13');
    registers.r14 = u64(0x0e8, 'R14');
    registers.r15 = u64(0x0f0, 'R15');
  }
  return { flags, registers };
}
