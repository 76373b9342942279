/**
 * Hex text as dump formats print it: addresses with WinDbg's backtick
 * (`fffff880`3836e110`), contiguous instruction bytes (`ff1520b0a580`),
 * unreadable values (`????????`), and little-endian byte order.
 *
 * These helpers return `undefined` for text that is not hex rather than
 * throwing: a parser tries a token and decides what the line is, then throws
 * its own `DumpFormatError` naming the file and line. (`src/parse.ts` serves
 * the command line and throws `InputError` instead.)
 *
 * @example
 * ```ts
 * parseHex('fffff880`3836e110'); // 0xfffff8803836e110n
 * parseHexBytes('ff1520b0a580'); // Uint8Array [0xff, 0x15, 0x20, 0xb0, 0xa5, 0x80]
 * littleEndian(0x8082e3e4n, 4);  // Uint8Array [0xe4, 0xe3, 0x82, 0x80]
 * ```
 */
import { formatAddress } from '../format.ts';

const HEX = /^(?:0x)?([0-9a-f]{1,8}`[0-9a-f]{8}|[0-9a-f]{1,16})$/i;

/**
 * A hex number of at most 64 bits: `0x` optional, one backtick allowed
 * between the high and low 32 bits. Undefined for anything else.
 *
 * @example
 * ```ts
 * parseHex('80a5b020');          // 0x80a5b020n
 * parseHex('00000000`0000000a'); // 0xan
 * parseHex('int');               // undefined
 * ```
 */
export function parseHex(token: string): bigint | undefined {
  const match = HEX.exec(token);
  return match ? BigInt(`0x${match[1]!.replace('`', '')}`) : undefined;
}

/**
 * How many hex digits `token` shows, without `0x` and the backtick: tells a
 * 32-bit value (8) from a 64-bit one (16).
 *
 * @example
 * ```ts
 * hexWidth('fffff880`3836e110'); // 16
 * hexWidth('0x80a5b020');        // 8
 * ```
 */
export function hexWidth(token: string): number {
  return token.replace(/^0x/i, '').replace('`', '').length;
}

/**
 * True for WinDbg's placeholder for memory it could not read: `??`,
 * `????????`, `????????`????????`.
 *
 * @example
 * ```ts
 * isUnreadable('????????'); // true
 * isUnreadable('8082e3e4'); // false
 * ```
 */
export function isUnreadable(token: string): boolean {
  return /^\?+(?:`\?+)?$/.test(token);
}

/**
 * Bytes written as contiguous hex pairs, or undefined when `text` is not an
 * even number of hex digits.
 *
 * @example
 * ```ts
 * parseHexBytes('0ac0'); // Uint8Array [0x0a, 0xc0]
 * parseHexBytes('0ac');  // undefined
 * ```
 */
export function parseHexBytes(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(text)) return undefined;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * The `size` low bytes of `value`, least significant first (x86, x64 and
 * arm64 are little-endian).
 *
 * @example
 * ```ts
 * littleEndian(0xe3e4n, 2); // Uint8Array [0xe4, 0xe3]
 * ```
 */
export function littleEndian(value: bigint, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return bytes;
}

/**
 * Bytes as spaced hex pairs, for messages.
 *
 * @example
 * ```ts
 * formatBytes(new Uint8Array([0xff, 0x15])); // 'ff 15'
 * ```
 */
export function formatBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * An address in WinDbg style when the architecture is not known yet: 8 digits
 * when it fits in 32 bits, 16 with a backtick otherwise.
 *
 * @example
 * ```ts
 * showAddress(0x80a5b020n);         // '80a5b020'
 * showAddress(0xfffff8803836e110n); // 'fffff880`3836e110'
 * ```
 */
export function showAddress(address: bigint): string {
  return formatAddress(address > 0xffff_ffffn ? 'x64' : 'x86', address);
}
