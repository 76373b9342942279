/**
 * Numbers as WinDbg prints them: addresses at pointer width (8 hex digits
 * on x86; 16 on x64 and ARM64, split by a backtick: 00007ff6`1bcfa9a3),
 * plain fixed-width hex for register and memory values, and MASM-style
 * immediates in x86 disassembly (0Ch, 0FFFFFFF8h; 0 to 9 in decimal).
 *
 * @example
 * ```ts
 * windbgAddress('x64', 0x7ff61bcfa9a3n); // '00007ff6`1bcfa9a3'
 * windbgAddress('x86', 0x401000n);        // '00401000'
 * masmHex(12n);                            // '0Ch'
 * ```
 */
import { pointerSize, type WriterArch } from '../crash/registers.ts';

/**
 * `value` as `digits` lower-case hex digits.
 *
 * @example
 * ```ts
 * hex(0x2bn, 4); // '002b'
 * ```
 */
export function hex(value: bigint, digits: number): string {
  return BigInt.asUintN(digits * 4, value).toString(16).padStart(digits, '0');
}

/**
 * An address as WinDbg prints it for `arch`.
 *
 * @example
 * ```ts
 * windbgAddress('arm64', 0x5500000da4n); // '00000055`00000da4'
 * ```
 */
export function windbgAddress(arch: WriterArch, value: bigint): string {
  if (pointerSize(arch) === 4) return hex(value, 8);
  const digits = hex(value, 16);
  return `${digits.slice(0, 8)}\`${digits.slice(8)}`;
}

/**
 * A pointer-sized value without the backtick (register blocks, `.exr`).
 *
 * @example
 * ```ts
 * plainPointer('x64', 8n); // '0000000000000008'
 * ```
 */
export function plainPointer(arch: WriterArch, value: bigint): string {
  return hex(value, pointerSize(arch) * 2);
}

/**
 * `?` digits for an unreadable value of `bytes` bytes, split like an address when 8 bytes wide.
 *
 * @example
 * ```ts
 * unreadable(8, true); // '????????`????????'
 * ```
 */
export function unreadable(bytes: number, backtick = false): string {
  if (bytes === 8 && backtick) return '????????`????????';
  return '?'.repeat(bytes * 2);
}

/**
 * A number as MASM hex the way WinDbg's x86 disassembler prints immediates.
 *
 * @example
 * ```ts
 * masmHex(0xa0n); // '0A0h'
 * masmHex(7n);    // '7'
 * ```
 */
export function masmHex(value: bigint): string {
  if (value < 10n) return value.toString();
  const digits = value.toString(16).toUpperCase();
  return `${/^[A-F]/.test(digits) ? '0' : ''}${digits}h`;
}
