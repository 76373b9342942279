/**
 * Where the dumped memory's bytes are in the file: the MemoryList stream
 * (MINIDUMP_MEMORY_LIST of MINIDUMP_MEMORY_DESCRIPTOR, each range with its
 * own RVA) and the Memory64List stream (MINIDUMP_MEMORY64_LIST of
 * MINIDUMP_MEMORY_DESCRIPTOR64, ranges stored back to back from BaseRva).
 * Only descriptors are read here; the bytes stay in the file.
 *
 * @example
 * ```ts
 * const segments = [...readMemoryList(file), ...readMemory64List(file)];
 * segments[0]; // { start: 0x7c90eb14n, size: 0x100n, fileOffset: 0x1539n, source: 'MemoryListStream[0]' }
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { StreamType } from './streams.ts';
import { readMemoryDescriptor } from './threads.ts';

export const MEMORY_DESCRIPTOR_SIZE = 0x10;
export const MEMORY_DESCRIPTOR64_SIZE = 0x10;
export const MEMORY64_LIST_HEADER_SIZE = 0x10;

const ADDRESS_LIMIT = 1n << 64n;

/** A range of dumped memory and the file offset of its first byte. */
export interface MemorySegment {
  start: bigint;
  size: bigint;
  fileOffset: bigint;
  /** What described it, for provenance: 'MemoryListStream[2]'. */
  source: string;
}

/** MINIDUMP_MEMORY_DESCRIPTOR64. */
export interface MemoryDescriptor64 {
  startOfMemoryRange: bigint;
  dataSize: bigint;
}

/**
 * MINIDUMP_MEMORY_DESCRIPTOR64 at `offset`.
 *
 * @example
 * ```ts
 * readMemoryDescriptor64(reader, 0x10); // { startOfMemoryRange: 0x10000n, dataSize: 0x20n }
 * ```
 */
export function readMemoryDescriptor64(r: ByteReader, offset: number): MemoryDescriptor64 {
  return {
    startOfMemoryRange: r.u64(offset + 0x00, 'StartOfMemoryRange'),
    dataSize: r.u64(offset + 0x08, 'DataSize'),
  };
}

/**
 * A segment checked against the file and the address space: its bytes must
 * lie in the file ('truncated') and it must not wrap past 2^64 ('bad-field').
 *
 * @example
 * ```ts
 * checkedSegment(file, { start: 0x1000n, size: 0x10n, fileOffset: 0xf4n, source: 'Memory64ListStream[0]' }, 0xc4n);
 * ```
 */
export function checkedSegment(file: MinidumpFile, segment: MemorySegment, descriptorOffset: bigint): MemorySegment {
  if (segment.start + segment.size > ADDRESS_LIMIT) {
    throw file.error(descriptorOffset, `${segment.source} at 0x${segment.start.toString(16)} (0x${segment.size.toString(16)} bytes) runs past the end of the 64-bit address space`);
  }
  if (segment.fileOffset + segment.size > file.source.size) {
    throw file.error(segment.fileOffset,
      `${segment.source} bytes at offset 0x${segment.fileOffset.toString(16)} (0x${segment.size.toString(16)} bytes, described at offset 0x${descriptorOffset.toString(16)}) run past the end of the file (${file.source.size} bytes)`,
      'truncated');
  }
  return segment;
}

/**
 * The MemoryList stream's ranges (empty ones skipped); empty when the dump has none.
 *
 * @example
 * ```ts
 * readMemoryList(file).length; // 3
 * ```
 */
export function readMemoryList(file: MinidumpFile): MemorySegment[] {
  const stream = file.stream(StreamType.MemoryList);
  if (!stream) return [];
  const list = file.readList(stream, { countSize: 4, entrySize: MEMORY_DESCRIPTOR_SIZE, entry: 'MINIDUMP_MEMORY_DESCRIPTOR', mayBePadded: true });
  const segments: MemorySegment[] = [];
  for (let i = 0; i < Number(list.count); i++) {
    const r = list.reader.sub(list.entries + i * MEMORY_DESCRIPTOR_SIZE, MEMORY_DESCRIPTOR_SIZE, `${stream.name} MINIDUMP_MEMORY_DESCRIPTOR[${i}]`);
    const descriptor = readMemoryDescriptor(r, 0);
    if (descriptor.memory.dataSize === 0) continue;
    segments.push(checkedSegment(file, {
      start: descriptor.startOfMemoryRange,
      size: BigInt(descriptor.memory.dataSize),
      fileOffset: BigInt(descriptor.memory.rva),
      source: `${stream.name}[${i}]`,
    }, r.origin.base));
  }
  return segments;
}

/**
 * The Memory64List stream's ranges, their file offsets summed from BaseRva;
 * empty when the dump has none.
 *
 * @example
 * ```ts
 * readMemory64List(file)[1].fileOffset; // BaseRva + the first range's size
 * ```
 */
export function readMemory64List(file: MinidumpFile): MemorySegment[] {
  const stream = file.stream(StreamType.Memory64List);
  if (!stream) return [];
  const list = file.readList(stream, { countSize: 8, headerSize: MEMORY64_LIST_HEADER_SIZE, entrySize: MEMORY_DESCRIPTOR64_SIZE, entry: 'MINIDUMP_MEMORY_DESCRIPTOR64' });
  let fileOffset = list.reader.u64(0x08, 'BaseRva');
  const segments: MemorySegment[] = [];
  for (let i = 0; i < Number(list.count); i++) {
    const r = list.reader.sub(list.entries + i * MEMORY_DESCRIPTOR64_SIZE, MEMORY_DESCRIPTOR64_SIZE, `${stream.name} MINIDUMP_MEMORY_DESCRIPTOR64[${i}]`);
    const descriptor = readMemoryDescriptor64(r, 0);
    const segment = checkedSegment(file, { start: descriptor.startOfMemoryRange, size: descriptor.dataSize, fileOffset, source: `${stream.name}[${i}]` }, r.origin.base);
    if (segment.size > 0n) segments.push(segment);
    fileOffset += descriptor.dataSize;
  }
  return segments;
}
