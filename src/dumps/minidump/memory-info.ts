/**
 * The MemoryInfoList stream (MINIDUMP_MEMORY_INFO_LIST of
 * MINIDUMP_MEMORY_INFO): the state, type and protection of every region of
 * the address space, held or not, as VirtualQuery reported them.
 *
 * @example
 * ```ts
 * const regions = readMemoryInfoList(file);
 * regionAt(regions, 0x7ff6f2a01000n)?.protection; // 'r-x'
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import type { Provenance } from '../model.ts';
import type { MinidumpFile } from './minidump-file.ts';
import { StreamType } from './streams.ts';

export const MEMORY_INFO_LIST_HEADER_SIZE = 0x10;
export const MEMORY_INFO_SIZE = 0x30;

/** MEM_COMMIT, MEM_RESERVE, MEM_FREE. */
export const MemoryState = { Commit: 0x1000, Reserve: 0x2000, Free: 0x10000 } as const;
/** MEM_PRIVATE, MEM_MAPPED, MEM_IMAGE. */
export const MemoryType = { Private: 0x20000, Mapped: 0x40000, Image: 0x1000000 } as const;

/** MINIDUMP_MEMORY_INFO, with its PAGE_* protection decoded. */
export interface MemoryRegionInfo {
  baseAddress: bigint;
  allocationBase: bigint;
  allocationProtect: number;
  regionSize: bigint;
  state: number;
  /** PAGE_* flags (PAGE_EXECUTE_READ = 0x20, PAGE_GUARD = 0x100, …). */
  protect: number;
  type: number;
  /** `rwx` letters, `-` for a missing right; '' for a region that is not committed. */
  protection: string;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  provenance: Provenance;
}

/**
 * MINIDUMP_MEMORY_INFO at `offset`.
 *
 * @example
 * ```ts
 * readMemoryInfo(reader, 0x10).protect; // 0x20 (PAGE_EXECUTE_READ)
 * ```
 */
export function readMemoryInfo(r: ByteReader, offset: number): MemoryRegionInfo {
  const state = r.u32(offset + 0x20, 'State');
  const protect = r.u32(offset + 0x24, 'Protect');
  const rights = state === MemoryState.Commit ? decodeProtect(protect) : { readable: false, writable: false, executable: false };
  return {
    baseAddress: r.u64(offset + 0x00, 'BaseAddress'),
    allocationBase: r.u64(offset + 0x08, 'AllocationBase'),
    allocationProtect: r.u32(offset + 0x10, 'AllocationProtect'),
    regionSize: r.u64(offset + 0x18, 'RegionSize'),
    state,
    protect,
    type: r.u32(offset + 0x28, 'Type'),
    ...rights,
    protection: state === MemoryState.Commit ? `${rights.readable ? 'r' : '-'}${rights.writable ? 'w' : '-'}${rights.executable ? 'x' : '-'}` : '',
    provenance: { source: 'MemoryInfoListStream', offset: r.origin.base + BigInt(offset) },
  };
}

/**
 * The rights a PAGE_* value grants (PAGE_GUARD, PAGE_NOCACHE and
 * PAGE_WRITECOMBINE modifiers ignored).
 *
 * @example
 * ```ts
 * decodeProtect(0x40); // { readable: true, writable: true, executable: true } (PAGE_EXECUTE_READWRITE)
 * ```
 */
export function decodeProtect(protect: number): { readable: boolean; writable: boolean; executable: boolean } {
  switch (protect & 0xff) {
    case 0x02: return { readable: true, writable: false, executable: false }; // PAGE_READONLY
    case 0x04: // PAGE_READWRITE
    case 0x08: return { readable: true, writable: true, executable: false }; // PAGE_WRITECOPY
    case 0x10: return { readable: false, writable: false, executable: true }; // PAGE_EXECUTE
    case 0x20: return { readable: true, writable: false, executable: true }; // PAGE_EXECUTE_READ
    case 0x40: // PAGE_EXECUTE_READWRITE
    case 0x80: return { readable: true, writable: true, executable: true }; // PAGE_EXECUTE_WRITECOPY
    default: return { readable: false, writable: false, executable: false }; // PAGE_NOACCESS, 0
  }
}

/**
 * Every region of the MemoryInfoList stream, sorted by base; empty when the
 * dump has none. SizeOfHeader and SizeOfEntry are honoured (later versions
 * may grow the structs) within sane bounds.
 *
 * @example
 * ```ts
 * readMemoryInfoList(file).filter((r) => r.executable).length; // 87
 * ```
 */
export function readMemoryInfoList(file: MinidumpFile): MemoryRegionInfo[] {
  const stream = file.stream(StreamType.MemoryInfoList);
  if (!stream) return [];
  const head = file.readLocation({ rva: stream.location.rva, dataSize: Math.min(stream.location.dataSize, MEMORY_INFO_LIST_HEADER_SIZE) }, `${stream.name} MINIDUMP_MEMORY_INFO_LIST`, MEMORY_INFO_LIST_HEADER_SIZE);
  const sizeOfHeader = head.u32(0x00, 'SizeOfHeader');
  const sizeOfEntry = head.u32(0x04, 'SizeOfEntry');
  if (sizeOfHeader < MEMORY_INFO_LIST_HEADER_SIZE || sizeOfHeader > stream.location.dataSize) {
    throw head.error(0x00, `SizeOfHeader ${sizeOfHeader} is not between ${MEMORY_INFO_LIST_HEADER_SIZE} and the stream's ${stream.location.dataSize} bytes`);
  }
  if (sizeOfEntry < MEMORY_INFO_SIZE || sizeOfEntry > 0x1000) {
    throw head.error(0x04, `SizeOfEntry ${sizeOfEntry} is not between ${MEMORY_INFO_SIZE} and 4096 bytes`);
  }
  const list = file.readList(stream, { countSize: 8, countOffset: 0x08, headerSize: sizeOfHeader, entrySize: sizeOfEntry, entry: 'MINIDUMP_MEMORY_INFO' });
  const regions: MemoryRegionInfo[] = [];
  for (let i = 0; i < Number(list.count); i++) {
    regions.push(readMemoryInfo(list.reader.sub(list.entries + i * sizeOfEntry, sizeOfEntry, `${stream.name} MINIDUMP_MEMORY_INFO[${i}]`), 0));
  }
  return regions.sort((a, b) => (a.baseAddress < b.baseAddress ? -1 : a.baseAddress > b.baseAddress ? 1 : 0));
}

/**
 * The region holding `address` in `regions` (sorted by base), or undefined.
 *
 * @example
 * ```ts
 * regionAt(regions, 0n); // undefined, or the free region at 0
 * ```
 */
export function regionAt(regions: readonly MemoryRegionInfo[], address: bigint): MemoryRegionInfo | undefined {
  let low = 0;
  let high = regions.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const region = regions[mid]!;
    if (address < region.baseAddress) high = mid - 1;
    else if (address >= region.baseAddress + region.regionSize) low = mid + 1;
    else return region;
  }
  return undefined;
}
