/**
 * The ARM64 CONTEXT (winnt.h ARM64_NT_CONTEXT; Breakpad's current
 * MDRawContextARM64 has the same layout): 0x390 bytes. Breakpad's older
 * layout (CPU type 0x80000000, u64 flags) is not read.
 *
 * @example
 * ```ts
 * readArm64Context(reader, 0).registers.pc; // 0x102a68cd4n
 * ```
 */
import type { RegisterValues } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';

/** CONTEXT_ARM64. */
export const CONTEXT_ARM64 = 0x0040_0000;
/** Bytes up to the end of Pc. */
export const ARM64_CONTEXT_REGISTERS_SIZE = 0x110;
export const ARM64_CONTEXT_SIZE = 0x390;

const CONTROL = 0x1;
const INTEGER = 0x2;

/**
 * CONTEXT (ARM64) at `offset`: CONTEXT_CONTROL gives fp (x29), lr (x30),
 * sp, pc and the NZCV bits of Cpsr; CONTEXT_INTEGER gives x0…x28. Flags
 * naming neither mean both.
 *
 * @example
 * ```ts
 * readArm64Context(reader, 0).registers.sp; // 0x16f5c2e30n
 * ```
 */
export function readArm64Context(r: ByteReader, offset: number): { flags: number; registers: RegisterValues } {
  const flags = r.u32(offset + 0x000, 'ContextFlags');
  const groups = flags & (CONTROL | INTEGER) || (CONTROL | INTEGER);
  const registers: RegisterValues = {};
  if (groups & INTEGER) {
    for (let i = 0; i <= 28; i++) registers[`x${i}` as 'x0'] = r.u64(offset + 0x008 + 8 * i, `X${i}`);
  }
  if (groups & CONTROL) {
    registers.nzcv = BigInt(r.u32(offset + 0x004, 'Cpsr')) & 0xf000_0000n;
    registers.x29 = r.u64(offset + 0x0f0, 'Fp');
    registers.x30 = r.u64(offset + 0x0f8, 'Lr');
    registers.sp = r.u64(offset + 0x100, 'Sp');
    registers.pc = r.u64(offset + 0x108, 'Pc');
  }
  return { flags, registers };
}
