/**
 * Register names for the three architectures faultline emulates, and the
 * Unicorn register ids behind them (from unicorn/x86.h and unicorn/arm64.h,
 * Unicorn 2.0.1). Names are lower-case as WinDbg and gdb print them.
 *
 * @example
 * ```ts
 * const names = registersOf('x86'); // ['eax', 'ebx', …, 'eip', 'efl', …]
 * ```
 */

/** The architectures faultline can emulate. */
export type Arch = 'x86' | 'x64' | 'arm64';

export const X86_REGISTERS = [
  'eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip', 'efl',
  'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base',
] as const;

export const X64_REGISTERS = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'efl',
  'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base',
] as const;

export const ARM64_REGISTERS = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11',
  'x12', 'x13', 'x14', 'x15', 'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22',
  'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30', 'sp', 'pc', 'nzcv',
  'tpidr_el0',
] as const;

export type X86Register = (typeof X86_REGISTERS)[number];
export type X64Register = (typeof X64_REGISTERS)[number];
export type Arm64Register = (typeof ARM64_REGISTERS)[number];
/** Any register name faultline knows, in any architecture. */
export type RegisterName = X86Register | X64Register | Arm64Register;

/** A register state: name → value. Values are unsigned bigints. */
export type RegisterValues = Partial<Record<RegisterName, bigint>>;

const X86_IDS: Record<X86Register, number> = {
  eax: 19, ebx: 21, ecx: 22, edx: 24, esi: 29, edi: 23, ebp: 20, esp: 30,
  eip: 26, efl: 25, cs: 11, ss: 49, ds: 17, es: 28, fs: 32, gs: 33,
  fs_base: 250, gs_base: 251,
};

const X64_IDS: Record<X64Register, number> = {
  rax: 35, rbx: 37, rcx: 38, rdx: 40, rsi: 43, rdi: 39, rbp: 36, rsp: 44,
  r8: 106, r9: 107, r10: 108, r11: 109, r12: 110, r13: 111, r14: 112, r15: 113,
  rip: 41, efl: 25, cs: 11, ss: 49, ds: 17, es: 28, fs: 32, gs: 33,
  fs_base: 250, gs_base: 251,
};

// UC_ARM64_REG_X0 = 199 … X28 = 227; X29 (fp) = 1, X30 (lr) = 2.
const ARM64_IDS = Object.fromEntries([
  ...Array.from({ length: 29 }, (_, i) => [`x${i}`, 199 + i]),
  ['x29', 1], ['x30', 2], ['sp', 4], ['pc', 260], ['nzcv', 3], ['tpidr_el0', 262],
]) as Record<Arm64Register, number>;

/** Aliases users type (gdb's `fp`, `lr`, WinDbg's `eflags`). */
const ALIASES: Record<Arch, Record<string, RegisterName>> = {
  x86: { eflags: 'efl', pc: 'eip', sp: 'esp' },
  x64: { eflags: 'efl', rflags: 'efl', pc: 'rip', sp: 'rsp' },
  arm64: { fp: 'x29', lr: 'x30', cpsr: 'nzcv' },
};

/** The registers of `arch`, in the order traces and listings use. */
export function registersOf(arch: Arch): readonly RegisterName[] {
  switch (arch) {
    case 'x86': return X86_REGISTERS;
    case 'x64': return X64_REGISTERS;
    case 'arm64': return ARM64_REGISTERS;
  }
}

/** Unicorn's id for register `name` of `arch`, or undefined if `arch` lacks it. */
export function unicornRegisterId(arch: Arch, name: RegisterName): number | undefined {
  const table: Record<string, number> = arch === 'x86' ? X86_IDS : arch === 'x64' ? X64_IDS : ARM64_IDS;
  return table[name];
}

/**
 * The canonical register name for what a user typed (`EAX`, `eflags`, `lr`),
 * or undefined when `arch` has no such register.
 */
export function parseRegisterName(arch: Arch, text: string): RegisterName | undefined {
  const lower = text.trim().toLowerCase();
  const aliased = ALIASES[arch][lower] ?? lower;
  return (registersOf(arch) as readonly string[]).includes(aliased) ? (aliased as RegisterName) : undefined;
}

/** The program-counter register of `arch`. */
export function pcRegister(arch: Arch): RegisterName {
  return arch === 'x86' ? 'eip' : arch === 'x64' ? 'rip' : 'pc';
}

/** The stack-pointer register of `arch`. */
export function spRegister(arch: Arch): RegisterName {
  return arch === 'x86' ? 'esp' : arch === 'x64' ? 'rsp' : 'sp';
}

/** Pointer width of `arch` in bytes. */
export function pointerSize(arch: Arch): 4 | 8 {
  return arch === 'x86' ? 4 : 8;
}

/** The value mask for a register of `arch`: 32 bits on x86, 64 elsewhere. */
export function registerMask(arch: Arch): bigint {
  return arch === 'x86' ? 0xffff_ffffn : 0xffff_ffff_ffff_ffffn;
}
