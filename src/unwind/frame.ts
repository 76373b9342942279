/**
 * What a stack walk produces: frames from the innermost (the context's pc)
 * outwards, each tagged with how it was found, like rust-minidump's
 * `FrameTrust`, and the registers known in it. A register absent from
 * `registers` is unknown in that frame (a caller-saved register, or one no
 * unwind rule restores), never zero.
 *
 * @example
 * ```ts
 * const walk = await walkStack(dump, context);
 * walk.frames[1]; // { index: 1, trust: 'cfi', pc: 0x401136n, sp: 0x7ffd…n, registers: { rip, rsp, rbx, rbp, … } }
 * ```
 */
import type { Arch, RegisterName, RegisterValues } from '../../emu/registers.ts';

/**
 * How a frame was found, best first: `context` (the dump's registers),
 * `cfi` (unwind tables: DWARF CFI or PE x64 unwind codes), `frame-pointer`
 * (an ebp/rbp/x29 chain), `scan` (a stack word just after a call
 * instruction in a known module), `recorded` (a debugger's own stack
 * listing, such as a transcript's `kb`).
 */
export type FrameTrust = 'context' | 'cfi' | 'frame-pointer' | 'scan' | 'recorded';

/** One frame of a walk. */
export interface StackFrame {
  index: number;
  trust: FrameTrust;
  /** The pc in this frame: the fault's pc for frame 0, a return address for the others. */
  pc: bigint;
  /** The stack pointer in this frame (WinDbg's Child-SP). */
  sp: bigint;
  /** The canonical frame address the unwind rules computed, when CFI was used to leave this frame. */
  cfa?: bigint;
  /** Registers known in this frame (pc and sp included). */
  registers: RegisterValues;
  /** Where the caller's return address was read, when it was read from the stack. */
  returnSlot?: bigint;
  /** Which unwind information left this frame (`libc.so.6 .eh_frame`, `ntdll.dll .pdata`). */
  unwindSource?: string;
}

/** A finished walk: its frames and why it stopped. */
export interface StackWalk {
  frames: StackFrame[];
  /** Why the walk ended and what it fell back from (malformed tables, loops, limits). */
  notes: string[];
}

/** Limits that keep a walk bounded whatever the memory holds. */
export interface WalkLimits {
  /** Frames at most (default 256). */
  maxFrames: number;
  /** Stack words a scan reads for one frame at most (default 1024 for frame 0, 256 after). */
  scanWords: number;
  /** CFA instructions executed for one frame at most (default 10 000). */
  cfiInstructions: number;
}

export const DEFAULT_LIMITS: WalkLimits = { maxFrames: 256, scanWords: 1024, cfiInstructions: 10_000 };

/** The names of an architecture's pc, sp and frame pointer, its word size, and its callee-saved registers. */
export interface ArchRegisters {
  pc: RegisterName;
  sp: RegisterName;
  fp: RegisterName;
  /** x30 on AArch64. */
  lr?: RegisterName;
  wordSize: 4 | 8;
  /** Registers a callee preserves: known in the caller when no rule changes them. */
  calleeSaved: readonly RegisterName[];
  /** DWARF register number → name. */
  dwarf: readonly (RegisterName | undefined)[];
  /** The DWARF column of the return address. */
  returnColumn: number;
}

const X64: ArchRegisters = {
  pc: 'rip', sp: 'rsp', fp: 'rbp', wordSize: 8,
  calleeSaved: ['rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'],
  // System V AMD64 ABI, figure 3.36.
  dwarf: ['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'],
  returnColumn: 16,
};

const X86: ArchRegisters = {
  pc: 'eip', sp: 'esp', fp: 'ebp', wordSize: 4,
  calleeSaved: ['ebx', 'esi', 'edi', 'ebp'],
  // i386 System V ABI (gcc's numbering for .eh_frame).
  dwarf: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip'],
  returnColumn: 8,
};

const ARM64: ArchRegisters = {
  pc: 'pc', sp: 'sp', fp: 'x29', lr: 'x30', wordSize: 8,
  calleeSaved: ['x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29'],
  // DWARF for the Arm 64-bit Architecture: x0–x30 are 0–30, sp is 31.
  dwarf: [...Array.from({ length: 31 }, (_, i) => `x${i}` as RegisterName), 'sp'],
  returnColumn: 30,
};

/**
 * The register conventions of `arch`.
 *
 * @example
 * ```ts
 * archRegisters('x64').dwarf[6]; // 'rbp'
 * ```
 */
export function archRegisters(arch: Arch): ArchRegisters {
  return arch === 'x64' ? X64 : arch === 'x86' ? X86 : ARM64;
}

/** The unsigned word mask of a `wordSize`-byte machine. */
export function wordMask(wordSize: 4 | 8): bigint {
  return wordSize === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
}
