/**
 * Recognises cores compressed the way systemd-coredump stores them
 * (`core.*.zst`, `.xz`, `.lz4`) and other common compressors, so opening
 * one says what to run instead of "not an ELF file".
 *
 * faultline reads cores lazily, positionally: a compressed core would have
 * to be decompressed whole first. Node 20's zlib has gzip but no zstd, xz
 * or lz4, and adding a decompressor is not worth a copy of a multi-GB core
 * in a temporary file when the user's `zstd -d` does the same, so the
 * error names the command.
 *
 * @example
 * ```ts
 * compressionOf(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)); // { name: 'zstd', command: 'zstd -d' }
 * ```
 */

/** A compressor and the command that undoes it. */
export interface Compression {
  name: string;
  command: string;
}

const SIGNATURES: { magic: number[]; compression: Compression }[] = [
  { magic: [0x28, 0xb5, 0x2f, 0xfd], compression: { name: 'zstd', command: 'zstd -d' } },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], compression: { name: 'xz', command: 'xz -d' } },
  { magic: [0x04, 0x22, 0x4d, 0x18], compression: { name: 'lz4', command: 'lz4 -d' } },
  { magic: [0x1f, 0x8b], compression: { name: 'gzip', command: 'gzip -d' } },
  { magic: [0x42, 0x5a, 0x68], compression: { name: 'bzip2', command: 'bunzip2' } },
];

/**
 * The compressor whose signature `head` (the file's first bytes) starts
 * with, or undefined.
 *
 * @example
 * ```ts
 * compressionOf(new TextEncoder().encode('\x7fELF')); // undefined
 * ```
 */
export function compressionOf(head: Uint8Array): Compression | undefined {
  return SIGNATURES.find((s) => s.magic.length <= head.length && s.magic.every((b, i) => head[i] === b))?.compression;
}
