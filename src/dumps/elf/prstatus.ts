/**
 * `struct elf_prstatus` (the `NT_PRSTATUS` note: one per thread) and the
 * general-purpose register set inside it, per architecture. Offsets are
 * those of the kernel's `include/linux/elfcore.h` with each ABI's type
 * sizes, and register orders those of `user_regs_struct` in
 * `arch/x86/include/asm/user_32.h`, `user_64.h` and AArch64's
 * `struct user_pt_regs` (`asm/ptrace.h`).
 *
 * | ABI     | pr_pid | pr_reg | registers   | size  |
 * |---------|--------|--------|-------------|-------|
 * | i386    | 0x18   | 0x48   | 17 × 4      | 0x90  |
 * | x32     | 0x18   | 0x48   | 27 × 8      | 0x128 |
 * | x86-64  | 0x20   | 0x70   | 27 × 8      | 0x150 |
 * | AArch64 | 0x20   | 0x70   | 34 × 8      | 0x188 |
 *
 * @example
 * ```ts
 * const layout = prstatusLayout(EM_X86_64, 64)!;
 * const status = readPrstatus(note.desc, 0, layout);
 * status.registers.rip; // 0x40011cn
 * ```
 */
import type { Arch, RegisterName, RegisterValues } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';
import { EM_386, EM_AARCH64, EM_X86_64 } from './elf-header.ts';

/** Where `elf_prstatus` keeps its fields and registers for one ABI. */
export interface PrstatusLayout {
  arch: Arch;
  /** `i386`, `x32`, `x86-64`, `AArch64`: for messages. */
  abi: string;
  pidOffset: number;
  regOffset: number;
  /** Width of one register slot in `pr_reg`. */
  regSize: 4 | 8;
  /** `pr_reg` slot names in order; null for slots faultline does not keep (`orig_ax`). */
  slots: readonly (RegisterName | 'pstate' | null)[];
  /** The smallest descriptor that holds `pr_reg`. */
  minSize: number;
}

const I386_SLOTS = [
  'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'eax', 'ds', 'es', 'fs', 'gs', null /* orig_eax */,
  'eip', 'cs', 'efl', 'esp', 'ss',
] as const;

const X86_64_SLOTS = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  null /* orig_rax */, 'rip', 'cs', 'efl', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;

const AARCH64_SLOTS = [...Array.from({ length: 31 }, (_, i) => `x${i}` as RegisterName), 'sp', 'pc', 'pstate'] as const;

const SEGMENTS = new Set<string>(['cs', 'ss', 'ds', 'es', 'fs', 'gs']);

/**
 * The layout for `e_machine`/class, or undefined for an ABI faultline does
 * not read.
 *
 * @example
 * ```ts
 * prstatusLayout(EM_386, 32)?.regOffset; // 0x48
 * ```
 */
export function prstatusLayout(machine: number, bits: 32 | 64): PrstatusLayout | undefined {
  if (machine === EM_386 && bits === 32) {
    return { arch: 'x86', abi: 'i386', pidOffset: 0x18, regOffset: 0x48, regSize: 4, slots: I386_SLOTS, minSize: 0x48 + 17 * 4 };
  }
  if (machine === EM_X86_64 && bits === 32) {
    return { arch: 'x64', abi: 'x32', pidOffset: 0x18, regOffset: 0x48, regSize: 8, slots: X86_64_SLOTS, minSize: 0x48 + 27 * 8 };
  }
  if (machine === EM_X86_64 && bits === 64) {
    return { arch: 'x64', abi: 'x86-64', pidOffset: 0x20, regOffset: 0x70, regSize: 8, slots: X86_64_SLOTS, minSize: 0x70 + 27 * 8 };
  }
  if (machine === EM_AARCH64 && bits === 64) {
    return { arch: 'arm64', abi: 'AArch64', pidOffset: 0x20, regOffset: 0x70, regSize: 8, slots: AARCH64_SLOTS, minSize: 0x70 + 34 * 8 };
  }
  return undefined;
}

/** The parts of `elf_prstatus` faultline uses. */
export interface Prstatus {
  /** `pr_info.si_signo`. */
  signal: number;
  /** `pr_info.si_code`. */
  code: number;
  /** `pr_cursig`: the signal being delivered, 0 when stopped without one. */
  currentSignal: number;
  /** `pr_pid`: the thread's id (LWP). */
  pid: number;
  ppid: number;
  registers: RegisterValues;
}

/**
 * Reads `elf_prstatus` at `offset` with `layout`. AArch64's `pstate`
 * becomes `nzcv` (bits 31–28 kept in place, as Unicorn's NZCV register
 * holds them); x86 segment selectors keep their low 16 bits.
 *
 * @example
 * ```ts
 * readPrstatus(note.desc, 0, prstatusLayout(EM_AARCH64, 64)!).registers.pc;
 * ```
 */
export function readPrstatus(reader: ByteReader, offset: number, layout: PrstatusLayout): Prstatus {
  const registers: RegisterValues = {};
  layout.slots.forEach((slot, i) => {
    if (slot === null) return;
    const at = offset + layout.regOffset + i * layout.regSize;
    const value = layout.regSize === 8 ? reader.u64(at, `pr_reg.${slot}`) : BigInt(reader.u32(at, `pr_reg.${slot}`));
    if (slot === 'pstate') registers.nzcv = value & 0xf000_0000n;
    else registers[slot] = SEGMENTS.has(slot) ? value & 0xffffn : value;
  });
  return {
    signal: reader.i32(offset + 0x00, 'pr_info.si_signo'),
    code: reader.i32(offset + 0x04, 'pr_info.si_code'),
    currentSignal: reader.u16(offset + 0x0c, 'pr_cursig'),
    pid: reader.i32(offset + layout.pidOffset, 'pr_pid'),
    ppid: reader.i32(offset + layout.pidOffset + 4, 'pr_ppid'),
    registers,
  };
}
