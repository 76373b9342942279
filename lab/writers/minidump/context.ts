/**
 * CONTEXT records for the crashing thread, written from Linux's registers
 * in the layouts winnt.h gives (offsets as WinDbg's `dt _CONTEXT` shows them):
 *
 * - x64: CONTEXT (AMD64), 0x4d0 bytes, ContextFlags at 0x30; CONTEXT_AMD64
 *   | CONTROL | INTEGER | SEGMENTS, and FLOATING_POINT when the core has
 *   NT_FPREGSET (its FXSAVE image is XMM_SAVE_AREA32, written to FltSave).
 * - x86: CONTEXT (i386), 0x2cc bytes; CONTEXT_i386 | CONTROL | INTEGER | SEGMENTS.
 * - arm64: ARM64_NT_CONTEXT, 0x390 bytes; CONTEXT_ARM64 | CONTROL | INTEGER.
 *
 * Segment selectors are the values the core holds (Linux's, not Windows').
 *
 * @example
 * ```ts
 * const at = writeContext(out, 'x64', crash.contextRegisters, crash.fpregs);
 * // out holds 0x4d0 bytes at `at`: Rip at at + 0xf8
 * ```
 */
import type { Registers, WriterArch } from '../crash/registers.ts';
import type { ByteWriter } from './byte-writer.ts';

export const CONTEXT_AMD64 = 0x0010_0000;
export const CONTEXT_I386 = 0x0001_0000;
export const CONTEXT_ARM64 = 0x0040_0000;
const CONTROL = 0x1;
const INTEGER = 0x2;
const SEGMENTS = 0x4;
const FLOATING_POINT_X86 = 0x8;

export const CONTEXT_SIZES: Record<WriterArch, number> = { x64: 0x4d0, x86: 0x2cc, arm64: 0x390 };

function reg(registers: Registers, name: string): bigint {
  return registers[name] ?? 0n;
}

/** CONTEXT (AMD64). */
function writeAmd64(out: ByteWriter, at: number, r: Registers, fxsave: Uint8Array | undefined): void {
  const flags = CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS | (fxsave ? FLOATING_POINT_X86 : 0);
  out.u32(at + 0x30, flags); // ContextFlags
  if (fxsave && fxsave.length >= 512) {
    out.u32(at + 0x34, new DataView(fxsave.buffer, fxsave.byteOffset).getUint32(24, true)); // MxCsr (FXSAVE.MXCSR at byte 24)
    out.set(at + 0x100, fxsave.subarray(0, 512)); // FltSave
  }
  out.u16(at + 0x38, reg(r, 'cs'));
  out.u16(at + 0x3a, reg(r, 'ds'));
  out.u16(at + 0x3c, reg(r, 'es'));
  out.u16(at + 0x3e, reg(r, 'fs'));
  out.u16(at + 0x40, reg(r, 'gs'));
  out.u16(at + 0x42, reg(r, 'ss'));
  out.u32(at + 0x44, reg(r, 'eflags'));
  const order = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'];
  order.forEach((name, i) => out.u64(at + 0x78 + 8 * i, reg(r, name))); // Rax @0x78 … Rip @0xf8
}

/** CONTEXT (i386). */
function writeI386(out: ByteWriter, at: number, r: Registers): void {
  out.u32(at + 0x00, CONTEXT_I386 | CONTROL | INTEGER | SEGMENTS); // ContextFlags
  out.u32(at + 0x8c, reg(r, 'gs'));
  out.u32(at + 0x90, reg(r, 'fs'));
  out.u32(at + 0x94, reg(r, 'es'));
  out.u32(at + 0x98, reg(r, 'ds'));
  out.u32(at + 0x9c, reg(r, 'edi'));
  out.u32(at + 0xa0, reg(r, 'esi'));
  out.u32(at + 0xa4, reg(r, 'ebx'));
  out.u32(at + 0xa8, reg(r, 'edx'));
  out.u32(at + 0xac, reg(r, 'ecx'));
  out.u32(at + 0xb0, reg(r, 'eax'));
  out.u32(at + 0xb4, reg(r, 'ebp'));
  out.u32(at + 0xb8, reg(r, 'eip'));
  out.u32(at + 0xbc, reg(r, 'cs'));
  out.u32(at + 0xc0, reg(r, 'eflags'));
  out.u32(at + 0xc4, reg(r, 'esp'));
  out.u32(at + 0xc8, reg(r, 'ss'));
}

/** ARM64_NT_CONTEXT. */
function writeArm64(out: ByteWriter, at: number, r: Registers): void {
  out.u32(at + 0x000, CONTEXT_ARM64 | CONTROL | INTEGER); // ContextFlags
  out.u32(at + 0x004, reg(r, 'pstate') & 0xffff_ffffn); // Cpsr
  for (let i = 0; i <= 28; i++) out.u64(at + 0x008 + 8 * i, reg(r, `x${i}`)); // X0 … X28
  out.u64(at + 0x0f0, reg(r, 'x29')); // Fp
  out.u64(at + 0x0f8, reg(r, 'x30')); // Lr
  out.u64(at + 0x100, reg(r, 'sp'));
  out.u64(at + 0x108, reg(r, 'pc'));
}

/**
 * Appends the CONTEXT for `arch` (16-byte aligned, as Windows keeps
 * CONTEXT records) and returns its offset.
 *
 * @example
 * ```ts
 * writeContext(out, 'arm64', { x0: 1n, sp: 0x5502821000n, pc: 0x5500000da4n, pstate: 0x80000000n }); // offset of 0x390 bytes
 * ```
 */
export function writeContext(out: ByteWriter, arch: WriterArch, registers: Registers, fxsave?: Uint8Array): number {
  const at = out.reserve(CONTEXT_SIZES[arch], 16);
  if (arch === 'x64') writeAmd64(out, at, registers, fxsave);
  else if (arch === 'x86') writeI386(out, at, registers);
  else writeArm64(out, at, registers);
  return at;
}
