/**
 * What an x86 CPU refuses at user level (CPL 3, IOPL 0, as Linux and Windows
 * run processes) that Unicorn, which runs everything at CPL 0, executes:
 * privileged instructions (`hlt`, `cli`, `in`/`out`, `rdmsr`, moves to
 * control registers, …) raise #GP; a far return (`retf`, `iret`) raises #GP
 * when the selector it pops is not a code segment the process may use. A
 * flipped bit in code makes such bytes out of ordinary ones (`ret` c3 →
 * `retf` cb, `jl` 7c → `insb` 6c), so a replay of corrupt code must trap
 * where the CPU did.
 *
 * @example
 * ```ts
 * userLevelRefusal('x86', Uint8Array.of(0xf4));       // { kind: 'privileged', name: 'hlt' }
 * userLevelRefusal('x64', Uint8Array.of(0x48, 0xcb)); // { kind: 'far-return', name: 'retf', operandSize: 8, popped: 0 }
 * userLevelRefusal('x64', Uint8Array.of(0xc3));       // undefined
 * ```
 */
import type { Arch } from './registers.ts';

export type UserLevelRefusal =
  /** Always #GP at CPL 3. */
  | { kind: 'privileged'; name: string }
  /** #GP unless the selector it pops (at sp + operandSize) is a usable code segment; `popped` is retf's imm16. */
  | { kind: 'far-return'; name: 'retf' | 'iret'; operandSize: number; popped: number };

const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** One-byte opcodes that are privileged at CPL 3 with IOPL 0. */
const ONE_BYTE: ReadonlyMap<number, string> = new Map([
  [0xf4, 'hlt'], [0xfa, 'cli'], [0xfb, 'sti'],
  [0xe4, 'in'], [0xe5, 'in'], [0xec, 'in'], [0xed, 'in'],
  [0xe6, 'out'], [0xe7, 'out'], [0xee, 'out'], [0xef, 'out'],
  [0x6c, 'insb'], [0x6d, 'insd'], [0x6e, 'outsb'], [0x6f, 'outsd'],
]);

/** Two-byte opcodes (after 0f) that are privileged at CPL 3 whatever their operands. */
const TWO_BYTE: ReadonlyMap<number, string> = new Map([
  [0x06, 'clts'], [0x08, 'invd'], [0x09, 'wbinvd'], [0x30, 'wrmsr'], [0x32, 'rdmsr'], [0x35, 'sysexit'],
  [0x20, 'mov from cr'], [0x21, 'mov from dr'], [0x22, 'mov to cr'], [0x23, 'mov to dr'],
]);

/** The refusal of the instruction at the start of `bytes` at user level, or undefined when the CPU runs it there. */
export function userLevelRefusal(arch: Arch, bytes: Uint8Array): UserLevelRefusal | undefined {
  if (arch === 'arm64') return undefined;
  let i = 0;
  let operand16 = false;
  while (i < bytes.length && i < 14 && LEGACY_PREFIXES.has(bytes[i]!)) operand16 ||= bytes[i++] === 0x66;
  let wide = false;
  if (arch === 'x64' && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) wide = (bytes[i++]! & 0x08) !== 0;
  if (i >= bytes.length) return undefined;
  const opcode = bytes[i]!;
  const operandSize = wide ? 8 : operand16 ? 2 : 4;
  const named = ONE_BYTE.get(opcode);
  if (named) return { kind: 'privileged', name: named };
  if (opcode === 0xcb) return { kind: 'far-return', name: 'retf', operandSize, popped: 0 };
  if (opcode === 0xca && i + 2 < bytes.length) return { kind: 'far-return', name: 'retf', operandSize, popped: bytes[i + 1]! | (bytes[i + 2]! << 8) };
  if (opcode === 0xcf) return { kind: 'far-return', name: 'iret', operandSize, popped: 0 };
  if (opcode !== 0x0f || i + 1 >= bytes.length) return undefined;
  const second = bytes[i + 1]!;
  const twoByte = TWO_BYTE.get(second);
  if (twoByte) return { kind: 'privileged', name: twoByte };
  const modrm = bytes[i + 2];
  if (modrm === undefined) return undefined;
  const reg = (modrm >> 3) & 7;
  const memory = modrm >> 6 !== 3;
  // 0f 00 /2 lldt, /3 ltr; 0f 01 /6 lmsw; 0f 01 /2 lgdt, /3 lidt, /7 invlpg in their memory forms (the register
  // forms are other instructions: vmcall, monitor, rdtscp, …), and swapgs.
  if (second === 0x00 && (reg === 2 || reg === 3)) return { kind: 'privileged', name: reg === 2 ? 'lldt' : 'ltr' };
  if (second === 0x01 && reg === 6) return { kind: 'privileged', name: 'lmsw' };
  if (second === 0x01 && memory && (reg === 2 || reg === 3 || reg === 7)) return { kind: 'privileged', name: reg === 2 ? 'lgdt' : reg === 3 ? 'lidt' : 'invlpg' };
  if (second === 0x01 && arch === 'x64' && modrm === 0xf8) return { kind: 'privileged', name: 'swapgs' };
  return undefined;
}
