/**
 * A `MemoryView` over ranges of a minidump file: each read is a positional
 * read of just the bytes asked for, so a dump of many gigabytes opens and
 * serves reads without loading its memory.
 *
 * Ranges may repeat (a thread's stack is also in the MemoryList; Breakpad
 * adds the bytes around a pc that lies on the stack). Bytes described twice
 * must agree: they are compared when the view is built, and a disagreement,
 * or an overlap too large to compare cheaply, is a DumpFormatError
 * ('conflict').
 *
 * @example
 * ```ts
 * const memory = FileMemory.build(file, readMemoryList(file));
 * memory.read(0x40429en, 4);    // Uint8Array [...] or undefined
 * memory.provenanceOf(0x12fe84n); // { source: 'MemoryListStream[1]', offset: 0x1ca1n }
 * ```
 */
import type { FileSource } from '../binary/file-source.ts';
import type { MemoryKind, MemoryRange, MemoryView, Provenance } from '../model.ts';
import type { MinidumpFile } from './minidump-file.ts';
import type { MemorySegment } from './memory-list.ts';

/** Overlapping bytes are compared up to this many per overlap. */
const MAX_OVERLAP_COMPARED = 0x10000n;

/** The view: see the file comment. `build` is the way to make one. */
export class FileMemory implements MemoryView {
  private cachedRanges?: MemoryRange[];

  private constructor(
    private readonly source: FileSource,
    /** Sorted by start, not overlapping. */
    private readonly segments: MemorySegment[],
    private readonly kindOf?: (start: bigint, end: bigint) => MemoryKind | undefined,
  ) {}

  /**
   * The view over `segments` (in any order, overlaps allowed when their bytes
   * agree). `kindOf` marks ranges as code or data when the dump says.
   */
  static build(file: MinidumpFile, segments: MemorySegment[], kindOf?: (start: bigint, end: bigint) => MemoryKind | undefined): FileMemory {
    const sorted = segments.map((s, i) => ({ s, i })).sort((a, b) => (a.s.start < b.s.start ? -1 : a.s.start > b.s.start ? 1 : a.i - b.i)).map((x) => x.s);
    const out: MemorySegment[] = [];
    for (const segment of sorted) {
      const last = out[out.length - 1];
      const lastEnd = last ? last.start + last.size : 0n;
      if (!last || segment.start >= lastEnd) {
        out.push(segment);
        continue;
      }
      const end = segment.start + segment.size;
      const overlapEnd = end < lastEnd ? end : lastEnd;
      checkAgreement(file, last, segment, segment.start, overlapEnd - segment.start);
      if (end > lastEnd) {
        const skip = lastEnd - segment.start;
        out.push({ ...segment, start: lastEnd, size: end - lastEnd, fileOffset: segment.fileOffset + skip });
      }
    }
    return new FileMemory(file.source, out, kindOf);
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    const out = new Uint8Array(length);
    let done = 0;
    let index = this.indexAt(address);
    while (done < length) {
      const segment = this.segments[index];
      const at = address + BigInt(done);
      if (!segment || at < segment.start || at >= segment.start + segment.size) return undefined;
      const take = Number(bigMin(BigInt(length - done), segment.start + segment.size - at));
      out.set(this.source.read(segment.fileOffset + (at - segment.start), take, `memory at 0x${at.toString(16)} (${segment.source})`), done);
      done += take;
      index++;
    }
    return out;
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    const end = address + BigInt(length);
    for (let index = Math.max(0, this.indexAt(address)); index < this.segments.length; index++) {
      const segment = this.segments[index]!;
      if (segment.start >= end) break;
      const from = bigMax(address, segment.start);
      const to = bigMin(end, segment.start + segment.size);
      if (from >= to) continue;
      const at = Number(from - address);
      const take = Number(to - from);
      bytes.set(this.source.read(segment.fileOffset + (from - segment.start), take, `memory at 0x${from.toString(16)} (${segment.source})`), at);
      known.fill(1, at, at + take);
    }
    return { bytes, known };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const segment = this.segments[this.indexAt(address)];
    if (!segment || address >= segment.start + segment.size) return undefined;
    return { source: segment.source, offset: segment.fileOffset + (address - segment.start) };
  }

  ranges(): MemoryRange[] {
    this.cachedRanges ??= this.segments.map((s) => {
      const range: MemoryRange = { start: s.start, end: s.start + s.size, provenance: { source: s.source, offset: s.fileOffset } };
      const kind = this.kindOf?.(range.start, range.end);
      if (kind) range.kind = kind;
      return range;
    });
    return this.cachedRanges.map((r) => ({ ...r }));
  }

  /** Total bytes held. */
  get byteCount(): bigint {
    return this.segments.reduce((sum, s) => sum + s.size, 0n);
  }

  /** Index of the last segment starting at or below `address`, or -1. */
  private indexAt(address: bigint): number {
    let low = 0;
    let high = this.segments.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.segments[mid]!.start <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Throws 'conflict' unless `a` and `b` hold the same bytes over [`start`, `start + length`). */
function checkAgreement(file: MinidumpFile, a: MemorySegment, b: MemorySegment, start: bigint, length: bigint): void {
  const aOffset = a.fileOffset + (start - a.start);
  const bOffset = b.fileOffset + (start - b.start);
  if (aOffset === bOffset) return;
  const what = `${b.source} (0x${b.start.toString(16)}, 0x${b.size.toString(16)} bytes at offset 0x${b.fileOffset.toString(16)}) overlaps ${a.source} (0x${a.start.toString(16)}, 0x${a.size.toString(16)} bytes at offset 0x${a.fileOffset.toString(16)})`;
  if (length > MAX_OVERLAP_COMPARED) {
    throw file.error(b.fileOffset, `${what} by 0x${length.toString(16)} bytes, more than the 0x${MAX_OVERLAP_COMPARED.toString(16)} compared`, 'conflict');
  }
  const left = file.source.read(aOffset, Number(length), a.source);
  const right = file.source.read(bOffset, Number(length), b.source);
  const differs = left.findIndex((byte, i) => byte !== right[i]);
  if (differs >= 0) {
    throw file.error(bOffset + BigInt(differs), `${what}, and they disagree at 0x${(start + BigInt(differs)).toString(16)}`, 'conflict');
  }
}
