/**
 * Positioned, bounded reads from a file opened read-only, and little-endian
 * field reads from the bytes they return. Cores can be tens of megabytes
 * (qemu dumps every guest page), so nothing here reads a file whole.
 *
 * @example
 * ```ts
 * const file = FileBytes.open('core');
 * const header = file.read(0n, 64, 'ELF header');
 * le32(header, 0x14); // e_version
 * file.close();
 * ```
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** An error in an input file the writers read, naming the file and what was read. */
export class LabInputError extends Error {
  override name = 'LabInputError';
}

export class FileBytes {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: bigint,
  ) {
    this.fd = fd;
  }

  /**
   * Opens `path` read-only.
   *
   * @example
   * ```ts
   * FileBytes.open('/lib/x86_64-linux-gnu/libc.so.6').size; // 1922136n
   * ```
   */
  static open(path: string): FileBytes {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new LabInputError(`Cannot open ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return new FileBytes(path, fd, BigInt(fstatSync(fd).size));
  }

  /**
   * Exactly `length` bytes at `offset`; throws when they run past the end.
   *
   * @example
   * ```ts
   * file.read(0n, 4, 'magic'); // Uint8Array [0x7f, 0x45, 0x4c, 0x46]
   * ```
   */
  read(offset: bigint, length: number, what: string): Uint8Array {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new LabInputError(`Cannot read ${what} at offset 0x${offset.toString(16)} (${length} bytes): ${this.path} is ${this.size} bytes`);
    }
    return this.readUpTo(offset, length);
  }

  /**
   * Up to `length` bytes at `offset`: fewer at the end of the file, none past it.
   *
   * @example
   * ```ts
   * file.readUpTo(file.size - 2n, 16).length; // 2
   * ```
   */
  readUpTo(offset: bigint, length: number): Uint8Array {
    if (this.fd === undefined) throw new LabInputError(`${this.path} was read after close()`);
    const available = offset >= this.size ? 0 : Number(this.size - offset < BigInt(length) ? this.size - offset : BigInt(length));
    const bytes = new Uint8Array(available);
    let done = 0;
    while (done < available) {
      const n = readSync(this.fd, bytes, done, available - done, Number(offset) + done);
      if (n === 0) break;
      done += n;
    }
    return done === available ? bytes : bytes.subarray(0, done);
  }

  /** Closes the file; later reads throw. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The little-endian u16 at `offset` in `bytes`.
 *
 * @example
 * ```ts
 * le16(Uint8Array.of(0x3e, 0x00), 0); // 0x3e (EM_X86_64)
 * ```
 */
export function le16(bytes: Uint8Array, offset: number): number {
  return view(bytes).getUint16(offset, true);
}

/**
 * The little-endian u32 at `offset` in `bytes`.
 *
 * @example
 * ```ts
 * le32(Uint8Array.of(1, 0, 0, 0), 0); // 1
 * ```
 */
export function le32(bytes: Uint8Array, offset: number): number {
  return view(bytes).getUint32(offset, true);
}

/**
 * The little-endian u64 at `offset` in `bytes`, as a bigint.
 *
 * @example
 * ```ts
 * le64(new Uint8Array(8).fill(0xff), 0); // 0xffffffffffffffffn
 * ```
 */
export function le64(bytes: Uint8Array, offset: number): bigint {
  return view(bytes).getBigUint64(offset, true);
}

/**
 * A pointer-sized field: u32 in 32-bit ELF files, u64 in 64-bit ones.
 *
 * @example
 * ```ts
 * leWord(bytes, 0x18, 4); // e_entry of an ELF32 header, as a bigint
 * ```
 */
export function leWord(bytes: Uint8Array, offset: number, size: 4 | 8): bigint {
  return size === 8 ? le64(bytes, offset) : BigInt(le32(bytes, offset));
}

/**
 * The NUL-terminated string at `offset` (to the end of `bytes` when unterminated).
 *
 * @example
 * ```ts
 * cString(new TextEncoder().encode('libc.so.6\0x'), 0); // 'libc.so.6'
 * ```
 */
export function cString(bytes: Uint8Array, offset: number): string {
  let end = offset;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder('latin1').decode(bytes.subarray(offset, end));
}
