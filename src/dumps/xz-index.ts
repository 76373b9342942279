/**
 * Reads the index of an .xz file (the .xz file format 1.1.0, sections 2.1
 * and 4) without decompressing anything: every stream is walked from the
 * end of the file (stream padding, stream footer, index, stream header),
 * each with its CRC32 checked, and the uncompressed sizes its index records
 * are summed. That sum bounds the decompressor's output; `xz -d` still
 * checks every block as it decompresses. It is what `xz --robot --list`
 * reads, done in this process: starting `xz` once more per file took 15 to
 * 45 ms here, most of an xz core's refusal and most of a fuzzed input's time.
 *
 * @example
 * ```ts
 * const file = FileSource.open('core.xz', 'xz');
 * xzIndexedSize(file); // 4096n, the sum of the index's uncompressed sizes
 * ```
 */
import { crc32 } from 'node:zlib';
import { DumpFormatError } from './errors.ts';
import type { FileSource } from './binary/file-source.ts';

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
/** Stream header and stream footer: 12 bytes each. */
const EDGE = 12n;
/** The largest index read (about 2 million blocks; xz's default block of 3 × 8 MiB makes ~1400 for a 32 GiB core). */
const INDEX_LIMIT = 16 * 1024 * 1024;
/** The largest value of a variable-length integer (2^63 - 1). */
const VLI_MAX = (1n << 63n) - 1n;

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function fail(file: FileSource, message: string, offset: bigint): never {
  throw new DumpFormatError('xz', file.path, `Corrupt xz stream (its index cannot be read): ${message} at offset 0x${offset.toString(16)}`, { offset, code: 'bad-field' });
}

/**
 * The sum of the uncompressed sizes the indexes of every stream in `file`
 * record; a damaged stream footer, index or stream header (bad magic, CRC32,
 * flags, sizes that do not add up) is a DumpFormatError "Corrupt xz stream
 * (its index cannot be read): … at offset 0x…", at once.
 *
 * @example
 * ```ts
 * xzIndexedSize(file); // throws: … the index CRC32 is 1234abcd, its contents give 89ab0123 at offset 0x1f0
 * ```
 */
export function xzIndexedSize(file: FileSource): bigint {
  let end = file.size;
  let total = 0n;
  while (end > 0n) {
    // Stream padding: null bytes in fours, between and after streams.
    let padding = 0n;
    while (end >= 4n && u32(file.read(end - 4n, 4, 'stream padding'), 0) === 0) {
      end -= 4n;
      padding += 4n;
    }
    if (end === 0n) fail(file, 'null bytes where a stream header should start', 0n);
    if (end % 4n !== 0n) fail(file, `the file's size (${end} bytes before padding) is not a multiple of four`, end);
    if (end < 2n * EDGE) fail(file, `too small for a stream (${end} bytes)`, 0n);
    const footerAt = end - EDGE;
    const footer = file.read(footerAt, 12, 'the stream footer');
    if (footer[10] !== FOOTER_MAGIC[0] || footer[11] !== FOOTER_MAGIC[1]) fail(file, 'the stream footer has no magic (59 5a)', footerAt + 10n);
    if (crc32(footer.subarray(4, 10)) !== u32(footer, 0)) fail(file, 'the stream footer CRC32 does not match', footerAt);
    const flags = footer.subarray(8, 10);
    if (flags[0] !== 0 || (flags[1]! & 0xf0) !== 0) fail(file, 'the stream flags have reserved bits set', footerAt + 8n);
    const indexSize = (BigInt(u32(footer, 4)) + 1n) * 4n;
    if (indexSize > BigInt(INDEX_LIMIT)) fail(file, `an index of ${indexSize} bytes, more than faultline reads (${INDEX_LIMIT})`, footerAt + 4n);
    const indexAt = footerAt - indexSize;
    if (indexAt < EDGE) fail(file, `an index of ${indexSize} bytes runs before the start of the file`, footerAt + 4n);
    const index = file.read(indexAt, Number(indexSize), 'the index');
    if (crc32(index.subarray(0, index.length - 4)) !== u32(index, index.length - 4)) fail(file, 'the index CRC32 does not match', footerAt - 4n);
    if (index[0] !== 0) fail(file, `the index indicator is ${index[0]}, not 0`, indexAt);
    let at = 1;
    const varint = (what: string): bigint => {
      let value = 0n;
      for (let i = 0; i < 9; i++) {
        if (at >= index.length - 4) fail(file, `${what} runs past the index`, indexAt + BigInt(at));
        const byte = index[at++]!;
        if (byte === 0 && i > 0) fail(file, `${what} is not in its shortest form`, indexAt + BigInt(at - 1));
        value |= BigInt(byte & 0x7f) << BigInt(7 * i);
        if (byte < 0x80) return value;
      }
      return fail(file, `${what} is longer than 9 bytes`, indexAt + BigInt(at));
    };
    const records = varint('the number of records');
    let blocks = 0n;
    let uncompressed = 0n;
    for (let r = 0n; r < records; r++) {
      const unpadded = varint('a block\'s unpadded size');
      const size = varint('a block\'s uncompressed size');
      if (unpadded < 5n || unpadded > (VLI_MAX & ~3n)) fail(file, `a block's unpadded size of ${unpadded}`, indexAt);
      blocks += (unpadded + 3n) & ~3n;
      uncompressed += size;
    }
    while (at < index.length - 4) {
      if (index[at] !== 0) fail(file, 'the index padding is not null bytes', indexAt + BigInt(at));
      at++;
    }
    if (at % 4 !== 0) fail(file, 'the index records run into its CRC32', indexAt + BigInt(at));
    const streamAt = indexAt - blocks - EDGE;
    if (streamAt < 0n) fail(file, `blocks of ${blocks} bytes in all run before the start of the file`, indexAt);
    const header = file.read(streamAt, 12, 'the stream header');
    if (HEADER_MAGIC.some((byte, i) => header[i] !== byte)) fail(file, 'the stream header has no magic (fd 37 7a 58 5a 00)', streamAt);
    if (crc32(header.subarray(6, 8)) !== u32(header, 8)) fail(file, 'the stream header CRC32 does not match', streamAt + 8n);
    if (header[6] !== flags[0] || header[7] !== flags[1]) fail(file, 'the stream header and footer flags differ', streamAt + 6n);
    total += uncompressed;
    end = streamAt;
  }
  if (total > VLI_MAX) fail(file, `the streams hold ${total} bytes in all`, 0n);
  return total;
}
