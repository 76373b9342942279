/**
 * The crashing thread's registers, by the names Linux gives them (the
 * fields of user_regs_struct / user_pt_regs), and the few facts every
 * writer needs from them: the pc, the stack pointer, the pointer size.
 *
 * @example
 * ```ts
 * pcOf('x64', { rip: 0x401000n, rsp: 0x7ffe0000n }); // 0x401000n
 * ```
 */

/** The architectures the lab writes dumps for. */
export type WriterArch = 'x64' | 'x86' | 'arm64';

/** Register values by Linux name: rax…r15, rip, eflags, cs…gs, fs_base (x64); eax…eip, eflags (x86); x0…x30, sp, pc, pstate (arm64). */
export type Registers = Record<string, bigint>;

/**
 * Bytes in a pointer.
 *
 * @example
 * ```ts
 * pointerSize('x86'); // 4
 * ```
 */
export function pointerSize(arch: WriterArch): 4 | 8 {
  return arch === 'x86' ? 4 : 8;
}

/**
 * The name of the program counter.
 *
 * @example
 * ```ts
 * pcName('arm64'); // 'pc'
 * ```
 */
export function pcName(arch: WriterArch): string {
  return arch === 'x64' ? 'rip' : arch === 'x86' ? 'eip' : 'pc';
}

/**
 * The name of the stack pointer.
 *
 * @example
 * ```ts
 * spName('x86'); // 'esp'
 * ```
 */
export function spName(arch: WriterArch): string {
  return arch === 'x64' ? 'rsp' : arch === 'x86' ? 'esp' : 'sp';
}

function required(registers: Registers, name: string): bigint {
  const value = registers[name];
  if (value === undefined) throw new RangeError(`Register ${name} is missing`);
  return value;
}

/**
 * The program counter's value.
 *
 * @example
 * ```ts
 * pcOf('x86', { eip: 0x8048000n }); // 0x8048000n
 * ```
 */
export function pcOf(arch: WriterArch, registers: Registers): bigint {
  return required(registers, pcName(arch));
}

/**
 * The stack pointer's value.
 *
 * @example
 * ```ts
 * spOf('arm64', { sp: 0x55028215d0n }); // 0x55028215d0n
 * ```
 */
export function spOf(arch: WriterArch, registers: Registers): bigint {
  return required(registers, spName(arch));
}

/**
 * The general registers in the order a debugger lists them, for picking
 * ones that point at data.
 *
 * @example
 * ```ts
 * generalRegisters('x86'); // ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp']
 * ```
 */
export function generalRegisters(arch: WriterArch): string[] {
  if (arch === 'x86') return ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp'];
  if (arch === 'x64') return ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
  return Array.from({ length: 31 }, (_, i) => `x${i}`);
}
