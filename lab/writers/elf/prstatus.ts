/**
 * NT_PRSTATUS: Linux's struct elf_prstatus (include/uapi/linux/elfcore.h)
 * with the architecture's register set, elf_gregset_t, at pr_reg:
 *
 * | arch   | pr_pid | pr_reg | pr_reg layout (asm/user.h, asm/ptrace.h)                   |
 * |--------|--------|--------|------------------------------------------------------------|
 * | x86-64 | 0x20   | 0x70   | struct user_regs_struct: r15 r14 … gs, 27 × u64            |
 * | i386   | 0x18   | 0x48   | struct user_regs_struct: ebx ecx … xss, 17 × u32           |
 * | arm64  | 0x20   | 0x70   | struct user_pt_regs: regs[31], sp, pc, pstate, 34 × u64    |
 *
 * pr_cursig (u16) is at 0x0c in all three. qemu-user writes the same layout
 * for its guest (target_elf_prstatus).
 *
 * @example
 * ```ts
 * const status = readPrStatus(note.desc, 'x64');
 * status.registers.rip; // 0x557dd3eac514n
 * ```
 */
import { le16, le32, le64 } from './file-bytes.ts';
import type { Registers, WriterArch } from '../crash/registers.ts';

/** What NT_PRSTATUS says about a thread. */
export interface PrStatus {
  /** pr_cursig: the signal being delivered. */
  signal: number;
  /** pr_info.si_code (qemu leaves it 0). */
  code: number;
  pid: number;
  registers: Registers;
}

const X64_GREGS = ['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'];
const X86_GREGS = ['ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'eax', 'ds', 'es', 'fs', 'gs', 'orig_eax', 'eip', 'cs', 'eflags', 'esp', 'ss'];
const ARM64_GREGS = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'pstate'];

interface Layout {
  pid: number;
  reg: number;
  names: string[];
  size: 4 | 8;
}

const LAYOUTS: Record<WriterArch, Layout> = {
  x64: { pid: 0x20, reg: 0x70, names: X64_GREGS, size: 8 },
  x86: { pid: 0x18, reg: 0x48, names: X86_GREGS, size: 4 },
  arm64: { pid: 0x20, reg: 0x70, names: ARM64_GREGS, size: 8 },
};

/**
 * Reads NT_PRSTATUS for `arch`; throws when the note is too short for its registers.
 *
 * @example
 * ```ts
 * readPrStatus(note.desc, 'x86').registers.eip; // 0x40001607n
 * ```
 */
export function readPrStatus(desc: Uint8Array, arch: WriterArch): PrStatus {
  const layout = LAYOUTS[arch];
  const need = layout.reg + layout.names.length * layout.size;
  if (desc.length < need) throw new RangeError(`NT_PRSTATUS is ${desc.length} bytes; ${arch} registers need ${need}`);
  const registers: Registers = {};
  layout.names.forEach((name, i) => {
    const at = layout.reg + i * layout.size;
    registers[name] = layout.size === 8 ? le64(desc, at) : BigInt(le32(desc, at));
  });
  return { signal: le16(desc, 0x0c), code: le32(desc, 0x08) | 0, pid: le32(desc, layout.pid), registers };
}
