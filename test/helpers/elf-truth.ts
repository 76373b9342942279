/**
 * Facts about an ELF file from tools that share no code with faultline:
 * binutils' `nm` and `readelf` for symbols and the build id, and a few
 * lines of header reading (ELF64, little-endian) for the bytes a `PT_LOAD`
 * puts at a link-time address. Tests compare faultline's readings with
 * these.
 *
 * @example
 * ```ts
 * nmFunctions('bugs-x64').get('main');      // 0x1180n (link-time)
 * elfBuildId('bugs-x64');                   // '5db33b31…'
 * elfBytesAt('bugs-x64', 0x1180n, 16);      // the 16 bytes of main
 * ```
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * `size` bytes of `bytes` at `at`, little-endian.
 *
 * @example
 * ```ts
 * le(Uint8Array.of(0x34, 0x12), 0, 2); // 0x1234n
 * ```
 */
export function le(bytes: Uint8Array, at: number, size: number): bigint {
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
  return value;
}

/**
 * `e_entry` of an ELF64 file.
 *
 * @example
 * ```ts
 * elfEntry('bugs-x64'); // 0x10c0n
 * ```
 */
export function elfEntry(path: string): bigint {
  return le(readFileSync(path), 0x18, 8);
}

/**
 * The `length` bytes an ELF64 file's `PT_LOAD` puts at link-time address `vaddr`.
 *
 * @example
 * ```ts
 * elfBytesAt('bugs-x64', 0x1180n, 4); // Uint8Array [0xf3, 0x0f, 0x1e, 0xfa]
 * ```
 */
export function elfBytesAt(path: string, vaddr: bigint, length: number): Uint8Array {
  const file = readFileSync(path);
  const phoff = Number(le(file, 0x20, 8));
  const phentsize = Number(le(file, 0x36, 2));
  const phnum = Number(le(file, 0x38, 2));
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const start = le(file, at + 0x10, 8);
    if (le(file, at, 4) === 1n && vaddr >= start && vaddr + BigInt(length) <= start + le(file, at + 0x20, 8)) {
      const offset = Number(le(file, at + 0x08, 8) + (vaddr - start));
      return Uint8Array.from(file.subarray(offset, offset + length));
    }
  }
  throw new Error(`No PT_LOAD of ${path} holds 0x${vaddr.toString(16)}+${length}`);
}

/**
 * Defined functions (types T, t, W, w; not mapping symbols) as `nm` lists them (`dynamic`:
 * `nm -D`), name → link-time address, version suffixes
 * (`abort@@GLIBC_2.17`) dropped.
 *
 * @example
 * ```ts
 * nmFunctions('/lib/x86_64-linux-gnu/libc.so.6', true).get('abort'); // 0x26f9en
 * ```
 */
export function nmFunctions(path: string, dynamic = false): Map<string, bigint> {
  const out = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', path], { encoding: 'utf8' });
  const symbols = new Map<string, bigint>();
  for (const line of out.split('\n')) {
    const match = /^([0-9a-f]+) [TtWw] (\S+)$/.exec(line.trim());
    // `$x`/`$d` are AArch64 mapping symbols, not functions.
    if (match && !match[2]!.startsWith('$')) symbols.set(match[2]!.replace(/@.*$/, ''), BigInt(`0x${match[1]}`));
  }
  return symbols;
}

/**
 * The GNU build id as `readelf -n` prints it, or undefined.
 *
 * @example
 * ```ts
 * elfBuildId('test/fixtures/dumps/lldb/elf-core/linux-x86_64.out'); // '01df54a6045e657d3f8ffb9ce111878914f8bd6d'
 * ```
 */
export function elfBuildId(path: string): string | undefined {
  return /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', path], { encoding: 'utf8' }))?.[1];
}
