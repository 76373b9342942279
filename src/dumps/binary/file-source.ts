/**
 * Positional, bounded reads from a dump file opened read-only: the file is
 * never read whole, so a multi-GB dump opens with little memory. Every read
 * that runs past the end is a `DumpFormatError` naming what was being read.
 *
 * @example
 * ```ts
 * const file = FileSource.open('crash.dmp', 'minidump');
 * const header = file.reader(0n, 32, 'header');
 * file.close();
 * ```
 */
import { closeSync, readSync } from 'node:fs';
import { DumpFormatError } from '../errors.ts';
import { ByteReader } from './byte-reader.ts';
import { openRegularFile } from './regular-file.ts';

/** Small reads are served from cached chunks of this size (memory, code and headers are read a few bytes at a time). */
const CHUNK = 16 * 1024;
/** Chunks kept, least recently used dropped first: at most 1 MiB per open file. */
const MAX_CHUNKS = 64;

export class FileSource {
  private fd: number | undefined;
  private readonly chunks = new Map<bigint, Uint8Array>();

  private constructor(
    readonly path: string,
    readonly format: string,
    fd: number,
    readonly size: bigint,
  ) {
    this.fd = fd;
  }

  /** Opens `path` read-only; a missing or unreadable file, or one that is not a regular file, is a DumpFormatError with code 'io'. */
  static open(path: string, format: string): FileSource {
    const { fd, size } = openRegularFile(path, format);
    return new FileSource(path, format, fd, BigInt(size));
  }

  /** Exactly `length` bytes at `offset`; throws `truncated` when the file is shorter. */
  read(offset: bigint, length: number, what: string): Uint8Array {
    if (this.fd === undefined) throw new DumpFormatError(this.format, this.path, `Cannot read ${what}: the file is closed`, { code: 'io' });
    if (offset < 0n || length < 0 || offset + BigInt(length) > this.size) {
      throw new DumpFormatError(
        this.format, this.path,
        `Cannot read ${what} at offset 0x${offset.toString(16)} (${length} bytes): the file is ${this.size} bytes`,
        { offset, code: 'truncated' },
      );
    }
    const chunkStart = offset - (offset % BigInt(CHUNK));
    if (offset + BigInt(length) <= chunkStart + BigInt(CHUNK)) {
      const at = Number(offset - chunkStart);
      return this.chunk(chunkStart, what).slice(at, at + length);
    }
    return this.readDirect(offset, length, what);
  }

  /** The cached chunk at `start` (shorter at the end of the file). */
  private chunk(start: bigint, what: string): Uint8Array {
    let bytes = this.chunks.get(start);
    if (bytes) {
      this.chunks.delete(start);
    } else {
      const end = start + BigInt(CHUNK) < this.size ? start + BigInt(CHUNK) : this.size;
      bytes = this.readDirect(start, Number(end - start), what);
      if (this.chunks.size >= MAX_CHUNKS) this.chunks.delete(this.chunks.keys().next().value!);
    }
    this.chunks.set(start, bytes);
    return bytes;
  }

  private readDirect(offset: bigint, length: number, what: string): Uint8Array {
    const fd = this.fd!;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, Number(offset) + done);
      if (n <= 0) throw new DumpFormatError(this.format, this.path, `Cannot read ${what} at offset 0x${offset.toString(16)}: short read`, { offset, code: 'truncated' });
      done += n;
    }
    return out;
  }

  /** A bounds-checked reader over `length` bytes at `offset`, whose offsets are relative to `offset`. */
  reader(offset: bigint, length: number, what: string): ByteReader {
    return new ByteReader(this.read(offset, length, what), { path: this.path, format: this.format, base: offset, what });
  }

  close(): void {
    this.chunks.clear();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
