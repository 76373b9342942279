/**
 * A kernel dump's physical memory: which physical pages the file holds and
 * where. A full dump stores the PHYSICAL_MEMORY_DESCRIPTOR's runs one after
 * the other after the header; kernel, bitmap-full and bitmap-kernel dumps
 * store a bitmap header (`SDMP`/`FDMP`) and then only the pages whose bit
 * is set, in page order.
 *
 * Bitmap header, 64-bit (at 0x2000; kdmp-parser's BMP_HEADER64): Signature
 * 0x00, ValidDump 'DUMP' 0x04, FirstPage (file offset of the first page)
 * 0x20, TotalPresentPages 0x28, Pages (bits in the bitmap) 0x30, bitmap
 * 0x38. 32-bit (at 0x1000; SUMMARY_DUMP32): HeaderSize (file offset of the
 * first page) 0x0c, BitmapSize (bits) 0x10, Pages (present) 0x14, bitmap
 * 0x20. Some tools swap the two counts of the 64-bit header; the count of
 * set bits settles it, and a disagreement is a note, not a guess.
 *
 * Nothing here grows with what a header claims: the bitmap is read only
 * when the file holds it, and page data is read on demand.
 *
 * @example
 * ```ts
 * const physical = readPhysicalLayout(file, header, notes);
 * physical.read(pa(0x1ad000n), 8); // the first PML4 entry, or undefined
 * ```
 */
import type { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import type { DumpNote } from '../model.ts';
import { hexOf, PAGE_SIZE, type Pa } from './address.ts';
import { DumpType, type KernelHeader } from './header.ts';

/** Where physical pages are in the file. */
export interface PhysicalMemory {
  /** File offset of the page holding `address`, or undefined when the dump lacks it. */
  fileOffset(address: Pa): bigint | undefined;
  /** All `length` bytes at `address` (within one page or across), or undefined if any page is missing. */
  read(address: Pa, length: number): Uint8Array | undefined;
  /** Physical pages held. */
  readonly pageCount: bigint;
  /** 'runs' or 'bitmap'. */
  readonly layout: string;
}

const PAGE = BigInt(PAGE_SIZE);

abstract class PagedPhysical implements PhysicalMemory {
  abstract readonly pageCount: bigint;
  abstract readonly layout: string;
  constructor(protected readonly file: FileSource) {}
  abstract fileOffset(address: Pa): bigint | undefined;

  read(address: Pa, length: number): Uint8Array | undefined {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const offset = this.fileOffset(at as Pa);
      if (offset === undefined) return undefined;
      const take = Math.min(length - done, PAGE_SIZE - Number(at % PAGE));
      out.set(this.file.read(offset, take, `physical memory at ${hexOf(at)}`), done);
      done += take;
    }
    return out;
  }
}

interface RunAt {
  basePage: bigint;
  pageCount: bigint;
  fileOffset: bigint;
}

/** A full dump: runs stored back to back. */
class RunPhysical extends PagedPhysical {
  readonly layout = 'runs';
  readonly pageCount: bigint;

  constructor(file: FileSource, private readonly runs: RunAt[]) {
    super(file);
    this.pageCount = runs.reduce((sum, r) => sum + r.pageCount, 0n);
  }

  fileOffset(address: Pa): bigint | undefined {
    const page = address >> 12n;
    let low = 0;
    let high = this.runs.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const run = this.runs[mid]!;
      if (page < run.basePage) high = mid - 1;
      else if (page >= run.basePage + run.pageCount) low = mid + 1;
      else return run.fileOffset + (page - run.basePage) * PAGE + (address % PAGE);
    }
    return undefined;
  }
}

/** Bits per rank block: the count of set bits before each block is kept, so a page's place is one short popcount away. */
const BLOCK_BITS = 512;
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

/** A bitmap dump: page N is present when bit N is set, stored at FirstPage + (set bits before N) pages. */
class BitmapPhysical extends PagedPhysical {
  readonly layout = 'bitmap';
  readonly pageCount: bigint;
  private readonly ranks: Uint32Array;

  constructor(file: FileSource, private readonly bitmap: Uint8Array, private readonly bits: number, private readonly firstPage: bigint) {
    super(file);
    this.ranks = new Uint32Array(Math.ceil(bits / BLOCK_BITS) + 1);
    let count = 0;
    for (let block = 0; block * BLOCK_BITS < bits; block++) {
      this.ranks[block] = count;
      const start = (block * BLOCK_BITS) / 8;
      const end = Math.min(bitmap.length, start + BLOCK_BITS / 8);
      for (let i = start; i < end; i++) count += POPCOUNT[bitmap[i]!]!;
    }
    this.ranks[this.ranks.length - 1] = count;
    this.pageCount = BigInt(count);
  }

  /** Set bits in the whole bitmap. */
  static count(bitmap: Uint8Array): number {
    let n = 0;
    for (const byte of bitmap) n += POPCOUNT[byte]!;
    return n;
  }

  fileOffset(address: Pa): bigint | undefined {
    const pageBig = address >> 12n;
    if (pageBig >= BigInt(this.bits)) return undefined;
    const page = Number(pageBig);
    const byte = page >> 3;
    if (((this.bitmap[byte]! >> (page & 7)) & 1) === 0) return undefined;
    const block = Math.floor(page / BLOCK_BITS);
    let rank = this.ranks[block]!;
    for (let i = (block * BLOCK_BITS) >> 3; i < byte; i++) rank += POPCOUNT[this.bitmap[i]!]!;
    rank += POPCOUNT[this.bitmap[byte]! & ((1 << (page & 7)) - 1)]!;
    return this.firstPage + BigInt(rank) * PAGE + (address % PAGE);
  }
}

/** No physical memory at all (a triage dump). */
export const NO_PHYSICAL_MEMORY: PhysicalMemory = { fileOffset: () => undefined, read: () => undefined, pageCount: 0n, layout: 'none' };

/**
 * The physical memory layout of a kernel dump: runs for a full dump, the
 * bitmap for kernel and bitmap dumps, none for a triage dump. Throws a
 * DumpFormatError naming the field for a bitmap header that is not one, a
 * bitmap or page data past the end of the file.
 *
 * @example
 * ```ts
 * readPhysicalLayout(file, header, notes).pageCount; // 0x100000n
 * ```
 */
export function readPhysicalLayout(file: FileSource, header: KernelHeader, notes: DumpNote[]): PhysicalMemory {
  if (header.dumpType === DumpType.Triage) return NO_PHYSICAL_MEMORY;
  if (header.dumpType === DumpType.Full) {
    let offset = BigInt(header.size);
    const runs = header.runs.map((run) => {
      const at = { ...run, fileOffset: offset };
      offset += run.pageCount * PAGE;
      return at;
    });
    return new RunPhysical(file, runs);
  }
  return readBitmap(file, header, notes);
}

function readBitmap(file: FileSource, header: KernelHeader, notes: DumpNote[]): PhysicalMemory {
  const at = BigInt(header.size);
  const is64 = header.bits === 64;
  const what = is64 ? 'BMP_HEADER64' : 'SUMMARY_DUMP32';
  const fixed = is64 ? 0x38 : 0x20;
  const r = file.reader(at, fixed, what);
  const signature = new TextDecoder('latin1').decode(r.slice(0, 4, 'Signature'));
  if (signature !== 'SDMP' && signature !== 'FDMP') throw r.error(0, `${what}.Signature '${signature}' is not 'SDMP' or 'FDMP'`, 'bad-magic');
  const valid = new TextDecoder('latin1').decode(r.slice(4, 4, 'ValidDump'));
  if (valid !== 'DUMP') throw r.error(4, `${what}.ValidDump '${valid}' is not 'DUMP'`, 'bad-magic');
  const firstPage = is64 ? r.u64(0x20, 'FirstPage') : BigInt(r.u32(0x0c, 'HeaderSize'));
  const present = is64 ? r.u64(0x28, 'TotalPresentPages') : BigInt(r.u32(0x14, 'Pages'));
  const bitsField = is64 ? 'Pages' : 'BitmapSize';
  const bits = is64 ? r.u64(0x30, 'Pages') : BigInt(r.u32(0x10, 'BitmapSize'));
  const bitmapAt = at + BigInt(fixed);
  const bitmapBytes = (bits + 7n) / 8n;
  const fail = (field: string, offset: number, message: string): DumpFormatError =>
    new DumpFormatError(file.format, file.path, `${what}.${field} ${message} (${what} at offset ${hexOf(at)})`, { offset: at + BigInt(offset), code: 'truncated' });
  if (bits === 0n) throw r.error(is64 ? 0x30 : 0x10, `${what}.${bitsField} is 0: the bitmap covers no page`);
  if (bitmapAt + bitmapBytes > file.size) {
    throw fail(bitsField, is64 ? 0x30 : 0x10, `${hexOf(bits)} needs a ${hexOf(bitmapBytes)}-byte bitmap at offset ${hexOf(bitmapAt)}, past the end of the file (${file.size} bytes)`);
  }
  if (firstPage < bitmapAt + bitmapBytes) {
    throw r.error(is64 ? 0x20 : 0x0c, `${what}.${is64 ? 'FirstPage' : 'HeaderSize'} ${hexOf(firstPage)} lies inside the bitmap (which ends at ${hexOf(bitmapAt + bitmapBytes)})`);
  }
  const bitmap = file.read(bitmapAt, Number(bitmapBytes), `${what} bitmap`);
  const count = BigInt(BitmapPhysical.count(bitmap));
  if (count !== present) {
    notes.push({ level: 'warning', message: `${what}.${is64 ? 'TotalPresentPages' : 'Pages'} says ${present} pages, the bitmap sets ${count}; the bitmap is followed` });
  }
  const dataEnd = firstPage + count * PAGE;
  if (dataEnd > file.size) {
    throw fail(is64 ? 'FirstPage' : 'HeaderSize', is64 ? 0x20 : 0x0c, `${hexOf(firstPage)} + ${count} pages (the bitmap's set bits) ends at ${hexOf(dataEnd)}, past the end of the file (${file.size} bytes)`);
  }
  return new BitmapPhysical(file, bitmap, Number(bits), firstPage);
}
