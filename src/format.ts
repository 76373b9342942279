/**
 * Addresses and values as WinDbg prints them: 8 hex digits on 32-bit
 * targets, 16 with a backtick in the middle on 64-bit ones.
 *
 * @example
 * ```ts
 * formatAddress('x86', 0x8082e3e0n);          // '8082e3e0'
 * formatAddress('x64', 0xfffff8803836e110n);  // 'fffff880`3836e110'
 * ```
 */
import type { Arch } from '../emu/registers.ts';

/** An address in WinDbg style for `arch`. */
export function formatAddress(arch: Arch, value: bigint): string {
  if (arch === 'x86') return (value & 0xffff_ffffn).toString(16).padStart(8, '0');
  const digits = BigInt.asUintN(64, value).toString(16).padStart(16, '0');
  return `${digits.slice(0, 8)}\`${digits.slice(8)}`;
}

/** A value as fixed-width hex without a backtick (register dumps). */
export function formatValue(arch: Arch, value: bigint): string {
  return arch === 'x86' ? (value & 0xffff_ffffn).toString(16).padStart(8, '0') : BigInt.asUintN(64, value).toString(16).padStart(16, '0');
}

/** `0x…` lower-case hex, for JSON. */
export function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}
