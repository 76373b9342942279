/**
 * Compressed inputs that lie, built from the formats' specifications (not
 * from faultline's parser constants): zstd frames byte by byte (RFC 8878),
 * and xz files made by the real `xz` with their index rewritten to state
 * another size (the .xz file format, sections 2.1.2 and 4: records of
 * varints, CRC32s).
 *
 * @example
 * ```ts
 * singleSegmentFrame(1n << 30n, hello);              // a frame claiming 1 GiB
 * withClaimedSize(execFileSync('xz', ['-c', path]), 1000n); // xz --list says 1000 bytes
 * ```
 */
import { crc32 } from 'node:zlib';

/** The zstd frame magic, as stored. */
export const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Little-endian bytes of `value`, `width` of them. */
export function le(value: bigint, width: number): number[] {
  return Array.from({ length: width }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
}

/** A 3-byte block header: last flag, type (0 raw, 1 RLE, 2 compressed, 3 reserved), size. */
export function blockHeader(last: boolean, type: number, size: number): number[] {
  return le(BigInt((size << 3) | (type << 1) | (last ? 1 : 0)), 3);
}

/** A single-segment frame whose 8-byte content size field says `claimed`, then `blocks`. */
export function singleSegmentFrame(claimed: bigint, blocks: number[]): Uint8Array {
  return Uint8Array.from([...MAGIC, 0xe0, ...le(claimed, 8), ...blocks]);
}

/** A little-endian base-128 varint, as .xz indexes store sizes. */
export function varint(value: bigint): number[] {
  const out: number[] = [];
  do {
    out.push(Number(value & 0x7fn) | (value >= 0x80n ? 0x80 : 0));
    value >>= 7n;
  } while (value > 0n);
  return out;
}

/** Reads a varint at `at`: its value and the offset after it. */
export function readVarint(bytes: Uint8Array, at: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const byte = bytes[at++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, at];
  }
}

const u32 = (value: number): number[] => le(BigInt(value >>> 0), 4);

/**
 * `xz` (one stream, one block) with its index rewritten to say the block
 * holds `claimed` bytes: the index's record, padding and CRC32 and the
 * stream footer's backward size and CRC32 are made again, so `xz --list`
 * reads it as a sound file of that size.
 */
export function withClaimedSize(xz: Uint8Array, claimed: bigint): Uint8Array {
  const footer = xz.length - 12;
  const indexSize = (new DataView(xz.buffer, xz.byteOffset).getUint32(footer + 4, true) + 1) * 4;
  const index = footer - indexSize;
  if (xz[index] !== 0) throw new Error('not an .xz index (its indicator is not 0)');
  const [records, afterCount] = readVarint(xz, index + 1);
  if (records !== 1n) throw new Error(`an .xz index of ${records} records, not 1`);
  const [unpadded] = readVarint(xz, afterCount);
  const body = [0, ...varint(1n), ...varint(unpadded), ...varint(claimed)];
  while (body.length % 4) body.push(0);
  const newIndex = [...body, ...u32(crc32(Uint8Array.from(body)))];
  const tail = [...u32(newIndex.length / 4 - 1), xz[footer + 8]!, xz[footer + 9]!];
  const newFooter = [...u32(crc32(Uint8Array.from(tail))), ...tail, 0x59, 0x5a];
  return Uint8Array.from([...xz.subarray(0, index), ...newIndex, ...newFooter]);
}
