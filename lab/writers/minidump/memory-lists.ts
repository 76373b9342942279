/**
 * The memory streams (minidumpapiset.h):
 *
 * - MINIDUMP_MEMORY_LIST: NumberOfMemoryRanges u32, then
 *   MINIDUMP_MEMORY_DESCRIPTOR (StartOfMemoryRange u64 @0x0, Memory.DataSize
 *   u32 @0x8, Memory.Rva u32 @0xc) per range; each range's bytes at its Rva.
 * - MINIDUMP_MEMORY64_LIST: NumberOfMemoryRanges u64 @0x0, BaseRva u64
 *   @0x8, then MINIDUMP_MEMORY_DESCRIPTOR64 (StartOfMemoryRange u64,
 *   DataSize u64); the bytes of all ranges follow one another from BaseRva.
 * - MINIDUMP_MEMORY_INFO_LIST: SizeOfHeader u32 (0x10), SizeOfEntry u32
 *   (0x30), NumberOfEntries u64, then MINIDUMP_MEMORY_INFO per mapping:
 *   BaseAddress @0x0, AllocationBase @0x8, AllocationProtect @0x10,
 *   RegionSize @0x18, State @0x20, Protect @0x24, Type @0x28.
 *
 * The lists are written with their data offsets left open; `place` fills
 * them in once the data's start in the file is known.
 *
 * @example
 * ```ts
 * const list = writeMemoryList(out, ranges);
 * list.place(dataStart); // each descriptor's Rva
 * ```
 */
import type { CoreSegment } from '../elf/core-file.ts';
import type { CrashModule } from '../crash/modules.ts';
import type { ByteWriter } from './byte-writer.ts';
import type { Range } from './memory-plan.ts';

/** A memory list awaiting its data's offset. */
export interface PendingList {
  rva: number;
  size: number;
  /** Writes the data offsets, given where the first range's bytes start. */
  place(dataStart: bigint): void;
}

const MEM_COMMIT = 0x1000;
const MEM_PRIVATE = 0x20000;
const MEM_IMAGE = 0x100_0000;

/**
 * Appends MINIDUMP_MEMORY_LIST for `ranges` (whose data follow one another).
 *
 * @example
 * ```ts
 * writeMemoryList(out, [{ start: 0x1000n, end: 0x1100n }]).size; // 4 + 16
 * ```
 */
export function writeMemoryList(out: ByteWriter, ranges: Range[]): PendingList {
  const size = 4 + 16 * ranges.length;
  const at = out.reserve(size);
  out.u32(at, ranges.length); // NumberOfMemoryRanges
  ranges.forEach((r, i) => {
    const length = r.end - r.start;
    if (length > 0xffff_ffffn) throw new RangeError(`A MemoryList range of 0x${length.toString(16)} bytes does not fit its 32-bit DataSize`);
    out.u64(at + 4 + 16 * i + 0x0, r.start); // StartOfMemoryRange
    out.u32(at + 4 + 16 * i + 0x8, length); // Memory.DataSize
  });
  return {
    rva: at,
    size,
    place(dataStart) {
      let rva = dataStart;
      ranges.forEach((r, i) => {
        if (rva > 0xffff_ffffn) throw new RangeError('MemoryList data lies beyond 4 GiB; use a Memory64List');
        out.u32(at + 4 + 16 * i + 0xc, rva); // Memory.Rva
        rva += r.end - r.start;
      });
    },
  };
}

/**
 * Appends MINIDUMP_MEMORY64_LIST for `ranges`.
 *
 * @example
 * ```ts
 * writeMemory64List(out, ranges).place(BigInt(out.length)); // BaseRva
 * ```
 */
export function writeMemory64List(out: ByteWriter, ranges: Range[]): PendingList {
  const size = 0x10 + 16 * ranges.length;
  const at = out.reserve(size, 8);
  out.u64(at + 0x0, BigInt(ranges.length)); // NumberOfMemoryRanges
  ranges.forEach((r, i) => {
    out.u64(at + 0x10 + 16 * i + 0x0, r.start); // StartOfMemoryRange
    out.u64(at + 0x10 + 16 * i + 0x8, r.end - r.start); // DataSize
  });
  return { rva: at, size, place: (dataStart) => out.u64(at + 0x8, dataStart) }; // BaseRva
}

function protection(segment: CoreSegment): number {
  const { readable, writable, executable } = segment;
  if (executable) return writable ? 0x40 : readable ? 0x20 : 0x10; // PAGE_EXECUTE_READWRITE / _READ / PAGE_EXECUTE
  if (writable) return 0x04; // PAGE_READWRITE
  return readable ? 0x02 : 0x01; // PAGE_READONLY / PAGE_NOACCESS
}

/**
 * Appends MINIDUMP_MEMORY_INFO_LIST: one committed region per mapping the
 * core lists, MEM_IMAGE inside a module (allocated at its base), else MEM_PRIVATE.
 *
 * @example
 * ```ts
 * writeMemoryInfoList(out, memory.mapped, modules).size; // 0x10 + 0x30 × mappings
 * ```
 */
export function writeMemoryInfoList(out: ByteWriter, mappings: CoreSegment[], modules: CrashModule[]): { rva: number; size: number } {
  const size = 0x10 + 0x30 * mappings.length;
  const at = out.reserve(size, 8);
  out.u32(at + 0x0, 0x10); // SizeOfHeader
  out.u32(at + 0x4, 0x30); // SizeOfEntry
  out.u64(at + 0x8, BigInt(mappings.length)); // NumberOfEntries
  mappings.forEach((segment, i) => {
    const entry = at + 0x10 + 0x30 * i;
    const module = modules.find((m) => segment.start >= m.base && segment.start < m.end);
    const protect = protection(segment);
    out.u64(entry + 0x00, segment.start); // BaseAddress
    out.u64(entry + 0x08, module ? module.base : segment.start); // AllocationBase
    out.u32(entry + 0x10, protect); // AllocationProtect
    out.u64(entry + 0x18, segment.end - segment.start); // RegionSize
    out.u32(entry + 0x20, MEM_COMMIT); // State
    out.u32(entry + 0x24, protect); // Protect
    out.u32(entry + 0x28, module ? MEM_IMAGE : MEM_PRIVATE); // Type
  });
  return { rva: at, size };
}
