/**
 * The crashed process's memory as the writers see it: every byte the core
 * holds, plus the bytes of file-backed mappings the core lacks, read from
 * the files they were mapped from (kernel cores leave out text nobody
 * wrote; the program and its libraries supply it). Reads go to the files
 * on demand; nothing is loaded whole.
 *
 * @example
 * ```ts
 * const memory = CrashMemory.build(core, mappings);
 * memory.read(0x557dd3eac514n, 4); // the bytes at the pc, from the core or the program file
 * memory.regions.map((r) => r.origin); // ['core', 'file', 'core', …]
 * ```
 */
import type { FileBytes } from '../elf/file-bytes.ts';
import type { CoreFile, CoreSegment } from '../elf/core-file.ts';

/** A file mapped into the process: [start, end) holds the file's bytes from `fileOffset`. */
export interface FileMapping {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  file: FileBytes;
}

/** A range of memory whose bytes the writers can read. */
export interface MemoryRegion {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** 'core': held in the core; 'file': filled from a mapped file. */
  origin: 'core' | 'file';
  source: FileBytes;
  /** Offset in `source` of `start`'s byte. */
  fileOffset: bigint;
  executable: boolean;
  writable: boolean;
}

function overlap(aStart: bigint, aEnd: bigint, bStart: bigint, bEnd: bigint): [bigint, bigint] | undefined {
  const start = aStart > bStart ? aStart : bStart;
  const end = aEnd < bEnd ? aEnd : bEnd;
  return start < end ? [start, end] : undefined;
}

export class CrashMemory {
  private constructor(
    /** Readable ranges, sorted by start, not overlapping. */
    readonly regions: MemoryRegion[],
    /** Every mapping the core lists, whether or not its bytes are known. */
    readonly mapped: CoreSegment[],
  ) {}

  /**
   * The memory of `core`, with the parts it lacks filled from `mappings`
   * where they cover them (a mapping's bytes past the end of its file read
   * as zero, as mmap gives them within the last page).
   *
   * @example
   * ```ts
   * CrashMemory.build(core, []).regions.every((r) => r.origin === 'core'); // true
   * ```
   */
  static build(core: CoreFile, mappings: FileMapping[]): CrashMemory {
    const regions: MemoryRegion[] = [];
    const coreSource = core.elf.file;
    for (const segment of core.segments) {
      const flags = { executable: segment.executable, writable: segment.writable };
      const heldEnd = segment.start + segment.held;
      if (segment.held > 0n) regions.push({ start: segment.start, end: heldEnd, origin: 'core', source: coreSource, fileOffset: segment.fileOffset, ...flags });
      if (heldEnd >= segment.end) continue;
      for (const mapping of mappings) {
        const part = overlap(heldEnd, segment.end, mapping.start, mapping.end);
        if (!part) continue;
        const [start, end] = part;
        regions.push({ start, end, origin: 'file', source: mapping.file, fileOffset: mapping.fileOffset + (start - mapping.start), ...flags });
      }
    }
    regions.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const clean: MemoryRegion[] = [];
    for (const region of regions) {
      const last = clean[clean.length - 1];
      if (last && region.start < last.end) {
        if (region.end <= last.end) continue;
        clean.push({ ...region, start: last.end, fileOffset: region.fileOffset + (last.end - region.start) });
      } else clean.push(region);
    }
    return new CrashMemory(clean, core.segments);
  }

  /**
   * The readable region holding `address`, if any.
   *
   * @example
   * ```ts
   * memory.regionAt(sp)?.writable; // true
   * ```
   */
  regionAt(address: bigint): MemoryRegion | undefined {
    let lo = 0;
    let hi = this.regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const region = this.regions[mid]!;
      if (address < region.start) hi = mid - 1;
      else if (address >= region.end) lo = mid + 1;
      else return region;
    }
    return undefined;
  }

  /**
   * The core mapping (PT_LOAD) holding `address`, readable or not.
   *
   * @example
   * ```ts
   * memory.mappingAt(pc)?.executable; // true
   * ```
   */
  mappingAt(address: bigint): CoreSegment | undefined {
    return this.mapped.find((s) => address >= s.start && address < s.end);
  }

  /**
   * All `length` bytes at `address`, or undefined when any of them is unknown.
   *
   * @example
   * ```ts
   * memory.read(0n, 8); // undefined: nothing is mapped at 0
   * ```
   */
  read(address: bigint, length: number): Uint8Array | undefined {
    const bytes = this.readAvailable(address, length);
    return bytes.length === length ? bytes : undefined;
  }

  /**
   * The known bytes from `address` up to `length`, stopping at the first unknown one.
   *
   * @example
   * ```ts
   * memory.readAvailable(endOfStack - 4n, 16).length; // 4
   * ```
   */
  readAvailable(address: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const region = this.regionAt(at);
      if (!region) break;
      const room = region.end - at;
      const want = room < BigInt(length - done) ? Number(room) : length - done;
      const got = region.source.readUpTo(region.fileOffset + (at - region.start), want);
      out.set(got, done);
      // A mapped file's bytes past its end read as zero (out is zero-filled); core bytes must all be there.
      if (got.length < want && region.origin === 'core') return out.subarray(0, done + got.length);
      done += want;
    }
    return out.subarray(0, done);
  }

  /**
   * The little-endian pointer at `address`, or undefined when unknown.
   *
   * @example
   * ```ts
   * memory.readPointer(sp, 8); // the return address a call pushed
   * ```
   */
  readPointer(address: bigint, size: 4 | 8): bigint | undefined {
    const bytes = this.read(address, size);
    if (!bytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    return size === 8 ? view.getBigUint64(0, true) : BigInt(view.getUint32(0, true));
  }

  /**
   * True when `address` is in an executable mapping whose bytes are known.
   *
   * @example
   * ```ts
   * memory.isCode(0n); // false
   * ```
   */
  isCode(address: bigint): boolean {
    const region = this.regionAt(address);
    return region !== undefined && region.executable;
  }
}
