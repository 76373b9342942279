/**
 * Instructions Unicorn 2.0.1 cannot take: translating them aborts the whole
 * process (`tcg.c:3073: tcg fatal error`) instead of raising #UD. Seen: the
 * far `call`/`jmp` through a register (`ff /3`, `ff /5` with a register
 * operand), which no x86 CPU accepts either, so a real CPU raises #UD there.
 * A run that would start on one is answered without Unicorn.
 *
 * @example
 * ```ts
 * abortsUnicorn('x86', Uint8Array.of(0xff, 0xe8)); // true: ljmp eax
 * ```
 */
import type { Arch } from './registers.ts';

const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** True when the instruction at the start of `bytes` is one that makes Unicorn abort. */
export function abortsUnicorn(arch: Arch, bytes: Uint8Array): boolean {
  if (arch === 'arm64') return false;
  let i = 0;
  while (i < bytes.length && i < 14 && LEGACY_PREFIXES.has(bytes[i]!)) i++;
  if (arch === 'x64' && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) i++;
  if (bytes[i] !== 0xff || i + 1 >= bytes.length) return false;
  const modrm = bytes[i + 1]!;
  const mod = modrm >> 6;
  const reg = (modrm >> 3) & 7;
  return mod === 3 && (reg === 3 || reg === 5);
}
