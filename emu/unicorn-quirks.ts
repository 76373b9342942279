/**
 * Instructions Unicorn 2.0.1 cannot take: translating them aborts the whole
 * process (`tcg.c:3073: tcg fatal error`) instead of raising #UD. Seen: the
 * far `call`/`jmp` through a register (`ff /3`, `ff /5` with a register
 * operand), which no x86 CPU accepts either, so a real CPU raises #UD there.
 * The emulator makes every place such an instruction could start an exit
 * (UC_CTL_UC_EXITS), so translation stops before it, and answers a run that
 * stops there with #UD, as the CPU would.
 *
 * @example
 * ```ts
 * abortsUnicorn('x86', Uint8Array.of(0xff, 0xe8)); // true: ljmp eax
 * poisonedStarts('x64', 0x1000n, Uint8Array.of(0x90, 0x66, 0xff, 0xd8)); // [0x1001n, 0x1002n]
 * ```
 */
import type { Arch } from './registers.ts';

const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

function isPrefix(arch: Arch, byte: number): boolean {
  return LEGACY_PREFIXES.has(byte) || (arch === 'x64' && (byte & 0xf0) === 0x40);
}

/** Whether `modrm` after an `ff` opcode byte is a far call or jump through a register. */
function farThroughRegister(modrm: number): boolean {
  const reg = (modrm >> 3) & 7;
  return modrm >> 6 === 3 && (reg === 3 || reg === 5);
}

/**
 * Addresses in `bytes` (written at `address`) where an instruction that makes
 * Unicorn abort could start: each such `ff` and the prefix bytes right before it.
 */
export function poisonedStarts(arch: Arch, address: bigint, bytes: Uint8Array): bigint[] {
  if (arch === 'arm64') return [];
  const starts: bigint[] = [];
  for (let i = bytes.indexOf(0xff); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0xff, i + 1)) {
    if (!farThroughRegister(bytes[i + 1]!)) continue;
    // An instruction is at most 15 bytes, so at most 14 prefixes reach the opcode.
    let first = i;
    while (first > 0 && i - first < 14 && isPrefix(arch, bytes[first - 1]!)) first--;
    for (let k = first; k <= i; k++) starts.push(address + BigInt(k));
  }
  return starts;
}

/** True when the instruction at the start of `bytes` is one that makes Unicorn abort. */
export function abortsUnicorn(arch: Arch, bytes: Uint8Array): boolean {
  if (arch === 'arm64') return false;
  let i = 0;
  while (i < bytes.length && i < 14 && LEGACY_PREFIXES.has(bytes[i]!)) i++;
  if (arch === 'x64' && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) i++;
  if (bytes[i] !== 0xff || i + 1 >= bytes.length) return false;
  return farThroughRegister(bytes[i + 1]!);
}

/**
 * The length of an XSAVE-family instruction at the start of `bytes` (`xsave`,
 * `xsaveopt`, `xrstor`: 0f ae /4 /6 /5; `xsavec`, `xsaves`, `xrstors`: 0f c7
 * /4 /5 /3, each with a memory operand), or undefined. Unicorn 2.0.1 lacks
 * them, and glibc's dynamic linker runs them on every lazy binding
 * (`_dl_runtime_resolve_xsavec`): the emulator lets them save and restore
 * nothing, which leaves the registers as a save and restore would.
 */
export function stateSaveLength(arch: Arch, bytes: Uint8Array): number | undefined {
  if (arch === 'arm64') return undefined;
  let i = 0;
  while (i < bytes.length && i < 14 && LEGACY_PREFIXES.has(bytes[i]!)) i++;
  if (arch === 'x64' && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) i++;
  if (bytes[i] !== 0x0f || i + 2 >= bytes.length) return undefined;
  const opcode = bytes[i + 1]!;
  const modrm = bytes[i + 2]!;
  const mod = modrm >> 6;
  const reg = (modrm >> 3) & 7;
  const rm = modrm & 7;
  if (mod === 3) return undefined;
  if (!(opcode === 0xae && (reg === 4 || reg === 5 || reg === 6)) && !(opcode === 0xc7 && (reg === 3 || reg === 4 || reg === 5))) return undefined;
  let length = i + 3;
  if (rm === 4) {
    if (length >= bytes.length) return undefined;
    const base = bytes[length]! & 7;
    length++;
    if (mod === 0 && base === 5) length += 4;
  } else if (mod === 0 && rm === 5) {
    length += 4;
  }
  if (mod === 1) length += 1;
  if (mod === 2) length += 4;
  return length <= bytes.length ? length : undefined;
}
