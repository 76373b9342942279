/**
 * The file each fuzzed input is written to before it runs (the parsers
 * open paths), kept open: an input rewrites the file in place from the
 * first 64 KiB piece that differs from what it holds to the last (an
 * input of the same length often ends as the last one did), then the file
 * is cut to its length.
 * A 4 MiB input written whole (writeFileSync truncates and refills the
 * file) cost ~1.7 ms an input on average for the kernel dump target, more
 * than its parse; mutations of the same seed leave most pieces as they were.
 *
 * @example
 * ```ts
 * const file = new InputFile('/dev/shm/current.dmp', 4 * 1024 * 1024);
 * file.write(bytes); // the file now holds exactly `bytes`
 * ```
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

const PIECE = 64 * 1024;

export class InputFile {
  private readonly fd: number;
  /** What the file holds (its first `length` bytes). */
  private readonly held: Uint8Array;
  private length = 0;

  /** Opens (and empties) `path` for inputs of at most `maxBytes`. */
  constructor(readonly path: string, maxBytes: number) {
    this.fd = openSync(path, 'w');
    this.held = new Uint8Array(maxBytes);
  }

  /** Makes the file hold exactly `bytes` (at most the constructor's `maxBytes`). */
  write(bytes: Uint8Array): void {
    if (bytes.length > this.held.length) throw new RangeError(`an input of ${bytes.length} bytes, more than ${this.held.length}`);
    const same = (from: number, to: number): boolean => Buffer.compare(bytes.subarray(from, to), this.held.subarray(from, to)) === 0;
    // The pieces before the first that differs, and (same length only) after the last, stay.
    let start = 0;
    for (const common = Math.min(bytes.length, this.length); start < common && same(start, Math.min(start + PIECE, common)); ) start = Math.min(start + PIECE, common);
    let stop = bytes.length;
    if (bytes.length === this.length) while (stop > start && same(Math.max(start, stop - PIECE), stop)) stop = Math.max(start, stop - PIECE);
    for (let at = start; at < stop; ) at += writeSync(this.fd, bytes, at, stop - at, at);
    this.held.set(bytes.subarray(start, stop), start);
    if (bytes.length !== this.length) ftruncateSync(this.fd, bytes.length);
    this.length = bytes.length;
  }

  close(): void {
    closeSync(this.fd);
  }
}
