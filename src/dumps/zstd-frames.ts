/**
 * Walks the frames and block headers of a zstd file (RFC 8878, sections
 * 3.1.1 and 3.1.1.2) without decompressing anything: every frame's window
 * is checked against a limit before any decoder sees it (a header may claim
 * gigabytes), a damaged block header is reported at its offset, and the
 * walk gives an upper bound on the decompressed size. Only the entropy-coded
 * contents of compressed blocks are left for the decoder to check.
 *
 * @example
 * ```ts
 * const walk = walkZstdFrames(FileSource.open('core.zst', 'zstd'), ZSTD_WINDOW_LIMIT);
 * walk.frames;        // 1
 * walk.outputBound;   // at most this many bytes once decompressed
 * ```
 */
import { DumpFormatError } from './errors.ts';
import type { FileSource } from './binary/file-source.ts';

/** 128 MiB: zstd's own default decompression limit (window log 27); systemd-coredump's cores stay below it. */
export const ZSTD_WINDOW_LIMIT = 128 * 1024 * 1024;

const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK = 128 * 1024;

/** What the walk found. */
export interface ZstdWalk {
  frames: number;
  blocks: number;
  /** The decompressed size cannot exceed this (a compressed block regenerates at most 128 KiB). */
  outputBound: bigint;
  /** The largest window any frame asks for. */
  window: number;
}

function u32(bytes: Uint8Array, at = 0): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function fail(file: FileSource, message: string, offset: bigint): never {
  throw new DumpFormatError('zstd', file.path, `Corrupt zstd stream at offset 0x${offset.toString(16)}: ${message}`, { offset, code: 'bad-field' });
}

function mib(bytes: number | bigint): string {
  return `${(Number(bytes) / (1024 * 1024)).toFixed(Number(bytes) < 1024 * 1024 ? 3 : 0)} MiB`;
}

/**
 * Walks every frame of `file` and returns what the walk found; throws
 * `DumpFormatError` ("Corrupt zstd stream at offset 0x…") for a bad magic,
 * a reserved bit or block type, a block larger than its frame allows or
 * running past the end, and for a window larger than `windowLimit`.
 *
 * @example
 * ```ts
 * walkZstdFrames(file, 1024); // throws: the frame at 0x0 needs a 2 MiB window, more than the 0.001 MiB limit
 * ```
 */
export function walkZstdFrames(file: FileSource, windowLimit = ZSTD_WINDOW_LIMIT): ZstdWalk {
  const walk: ZstdWalk = { frames: 0, blocks: 0, outputBound: 0n, window: 0 };
  let at = 0n;
  const need = (length: number, what: string): Uint8Array => {
    if (at + BigInt(length) > file.size) fail(file, `${what} runs past the end of the file (${file.size} bytes)`, at);
    const bytes = file.read(at, length, what);
    at += BigInt(length);
    return bytes;
  };
  while (at < file.size) {
    const frameStart = at;
    const magic = u32(need(4, 'the frame magic'));
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      at += BigInt(u32(need(4, 'a skippable frame size')));
      if (at > file.size) fail(file, 'a skippable frame runs past the end of the file', frameStart);
      continue;
    }
    if (magic !== FRAME_MAGIC) fail(file, `expected a frame magic (28 b5 2f fd), found ${magic.toString(16).padStart(8, '0')}`, frameStart);
    const descriptor = need(1, 'the frame header descriptor')[0]!;
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor & 0x20) !== 0;
    if (descriptor & 0x08) fail(file, 'the frame header descriptor has its reserved bit set', frameStart + 4n);
    const checksum = (descriptor & 0x04) !== 0;
    let window = 0;
    if (!singleSegment) {
      const byte = need(1, 'the window descriptor')[0]!;
      const base = 2 ** (10 + (byte >> 3));
      window = base + (base / 8) * (byte & 7);
    }
    need([0, 1, 2, 4][descriptor & 3]!, 'the dictionary id');
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
    const fcsField = need(fcsBytes, 'the frame content size');
    let contentSize: bigint | undefined;
    if (fcsBytes > 0) {
      contentSize = 0n;
      for (let i = fcsBytes - 1; i >= 0; i--) contentSize = (contentSize << 8n) | BigInt(fcsField[i]!);
      if (fcsBytes === 2) contentSize += 256n;
    }
    // A single-segment frame's window is its whole content.
    if (singleSegment) window = contentSize! > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(contentSize);
    if (window > windowLimit) {
      throw new DumpFormatError('zstd', file.path, `The zstd frame at offset 0x${frameStart.toString(16)} needs a ${mib(window)} window, more than the ${mib(windowLimit)} faultline decompresses with`, { offset: frameStart, code: 'unsupported' });
    }
    walk.window = Math.max(walk.window, window);
    walk.frames++;
    const maxBlock = Math.min(window, MAX_BLOCK);
    let frameBound = 0n;
    for (let last = false; !last; ) {
      const blockStart = at;
      const header = need(3, 'a block header');
      const value = header[0]! | (header[1]! << 8) | (header[2]! << 16);
      last = (value & 1) !== 0;
      const type = (value >> 1) & 3;
      const size = value >>> 3;
      if (type === 3) fail(file, 'a block header has the reserved block type 3', blockStart);
      // Raw and RLE sizes are what the block regenerates; a compressed block's is what it occupies.
      if (size > maxBlock) fail(file, `a block of ${size} bytes exceeds the frame's maximum of ${maxBlock}`, blockStart);
      const stored = type === 1 ? 1 : size;
      if (at + BigInt(stored) > file.size) fail(file, `a block of ${stored} bytes runs past the end of the file (${file.size} bytes)`, blockStart);
      at += BigInt(stored);
      frameBound += BigInt(type === 2 ? maxBlock : size);
      walk.blocks++;
    }
    if (checksum) need(4, 'the content checksum');
    walk.outputBound += contentSize !== undefined && contentSize < frameBound ? contentSize : frameBound;
  }
  if (walk.frames === 0) fail(file, 'no zstd frame in the file', 0n);
  return walk;
}
