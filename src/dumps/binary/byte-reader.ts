/**
 * Bounds-checked little-endian reads over one `DataView`, for parsing binary
 * structs as plain code: one `readX(reader, offset)` per struct, offsets
 * written in hex as the format's documentation gives them. An out-of-range
 * read is a `DumpFormatError` naming the struct, the field and the file
 * offset.
 *
 * @example
 * ```ts
 * const r = file.reader(0n, 32, 'MINIDUMP_HEADER');
 * const streams = r.u32(0x08, 'NumberOfStreams');
 * ```
 */
import { DumpFormatError } from '../errors.ts';

export interface ReaderOrigin {
  path: string;
  format: string;
  /** File offset of byte 0 of this reader. */
  base: bigint;
  /** What the bytes are (a struct name), for error messages. */
  what: string;
}

export class ByteReader {
  readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly origin: ReaderOrigin,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  private check(offset: number, size: number, field: string): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      const at = this.origin.base + BigInt(Math.max(0, offset));
      throw new DumpFormatError(
        this.origin.format, this.origin.path,
        `${this.origin.what}.${field} at offset 0x${at.toString(16)} runs past the end of its ${this.bytes.length} bytes`,
        { offset: at, code: 'truncated' },
      );
    }
  }

  u8(offset: number, field: string): number {
    this.check(offset, 1, field);
    return this.view.getUint8(offset);
  }

  u16(offset: number, field: string): number {
    this.check(offset, 2, field);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getUint32(offset, true);
  }

  i32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getInt32(offset, true);
  }

  u64(offset: number, field: string): bigint {
    this.check(offset, 8, field);
    return this.view.getBigUint64(offset, true);
  }

  /** `length` bytes (a view, not a copy). */
  slice(offset: number, length: number, field: string): Uint8Array {
    this.check(offset, length, field);
    return this.bytes.subarray(offset, offset + length);
  }

  /** A sub-reader over `length` bytes at `offset`, for a nested struct. */
  sub(offset: number, length: number, what: string): ByteReader {
    this.check(offset, length, what);
    return new ByteReader(this.bytes.subarray(offset, offset + length), { ...this.origin, base: this.origin.base + BigInt(offset), what });
  }

  /** A NUL-terminated ASCII/UTF-8 string of at most `max` bytes. */
  cString(offset: number, max: number, field: string): string {
    const end = Math.min(this.bytes.length, offset + max);
    this.check(offset, 0, field);
    let stop = offset;
    while (stop < end && this.bytes[stop] !== 0) stop++;
    return new TextDecoder().decode(this.bytes.subarray(offset, stop));
  }

  /** A DumpFormatError at `offset` (relative) about `field`, for values that are present but wrong. */
  error(offset: number, message: string, code: 'bad-field' | 'bad-magic' | 'unsupported' = 'bad-field'): DumpFormatError {
    const at = this.origin.base + BigInt(offset);
    return new DumpFormatError(this.origin.format, this.origin.path, `${message} (${this.origin.what} at offset 0x${at.toString(16)})`, { offset: at, code });
  }
}
