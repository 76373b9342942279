/**
 * A core's memory: the `PT_LOAD` segments, each read positionally from the
 * core on demand, plus pieces filled from mapped files where the core left
 * bytes out (`p_filesz < p_memsz`). Open checks the segments (inside the
 * file, not overlapping, not wrapping the address space) and reads no
 * memory; `read` reads only the bytes asked for.
 *
 * @example
 * ```ts
 * const { pieces, gaps } = loadSegments(file, loads, 64);
 * const memory = new PieceMemory(pieces);
 * memory.read(0x40011cn, 4); // the bytes at the pc, or undefined
 * ```
 */
import type { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import type { MemoryKind, MemoryRange, MemoryView, Provenance } from '../model.ts';
import { PF_X, segmentName, type ProgramHeader } from './program-headers.ts';

/** A contiguous run of memory and where its bytes are: a file and offset, or zeros when `source` is absent. */
export interface MemoryPiece {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  source?: FileSource;
  fileOffset: bigint;
  provenance: Provenance;
  kind?: MemoryKind;
}

/**
 * Memory the process had but whose bytes the core does not hold: the part of
 * a segment past its file bytes (`p_filesz < p_memsz`), or a file mapping
 * the core has no segment for at all (gdb's `gcore` leaves out read-only
 * file mappings). `flags` are the segment's or the file's `p_flags`.
 */
export interface SegmentGap {
  start: bigint;
  end: bigint;
  flags: number;
  /** The segment promising the bytes; absent for a mapping without one. */
  segment?: ProgramHeader;
}

const hex = (value: bigint): string => `0x${value.toString(16)}`;

/**
 * The pieces the core holds and the gaps it leaves, from its `PT_LOAD`
 * headers. Throws a DumpFormatError naming the segment and its header's
 * offset for file data past the end of the file (`truncated`),
 * `p_filesz > p_memsz`, a segment that wraps the `bits`-wide address space,
 * or two segments that overlap (`conflict`).
 *
 * @example
 * ```ts
 * loadSegments(file, headers.filter((h) => h.type === PT_LOAD), 64).gaps; // file-backed code the kernel skipped
 * ```
 */
export function loadSegments(file: FileSource, loads: ProgramHeader[], bits: 32 | 64): { pieces: MemoryPiece[]; gaps: SegmentGap[] } {
  const fail = (segment: ProgramHeader, message: string, code: 'truncated' | 'bad-field' | 'conflict' = 'bad-field'): DumpFormatError =>
    new DumpFormatError(file.format, file.path, `${segmentName(segment)} (header at offset ${hex(segment.headerOffset)}): ${message}`, { offset: segment.headerOffset, code });
  const limit = 1n << BigInt(bits);
  const pieces: MemoryPiece[] = [];
  const gaps: SegmentGap[] = [];
  for (const segment of loads) {
    if (segment.filesz > segment.memsz) throw fail(segment, `p_filesz ${hex(segment.filesz)} exceeds p_memsz ${hex(segment.memsz)}`);
    if (segment.vaddr + segment.memsz > limit) {
      throw fail(segment, `memory ${hex(segment.vaddr)}+${hex(segment.memsz)} runs past the end of the ${bits}-bit address space`);
    }
    if (segment.offset + segment.filesz > file.size) {
      throw fail(segment, `file data ${hex(segment.offset)}+${hex(segment.filesz)} runs past the end of the file (${file.size} bytes)`, 'truncated');
    }
  }
  const sorted = loads.filter((s) => s.memsz > 0n).sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1]!;
    const after = sorted[i]!;
    if (after.vaddr < before.vaddr + before.memsz) {
      throw fail(after, `memory ${hex(after.vaddr)}+${hex(after.memsz)} overlaps ${segmentName(before)} (${hex(before.vaddr)}+${hex(before.memsz)})`, 'conflict');
    }
  }
  for (const segment of sorted) {
    const provenance: Provenance = { source: segmentName(segment), offset: segment.offset };
    const kind: MemoryKind = segment.flags & PF_X ? 'code' : 'data';
    if (segment.filesz > 0n) {
      pieces.push({ start: segment.vaddr, end: segment.vaddr + segment.filesz, source: file, fileOffset: segment.offset, provenance, kind });
    }
    if (segment.filesz < segment.memsz) gaps.push({ start: segment.vaddr + segment.filesz, end: segment.vaddr + segment.memsz, flags: segment.flags, segment });
  }
  return { pieces, gaps };
}

/**
 * A `MemoryView` over non-overlapping pieces, each read from its file on
 * demand.
 *
 * @example
 * ```ts
 * const memory = new PieceMemory([{ start: 0x1000n, end: 0x2000n, source: file, fileOffset: 0x3000n, provenance: { source: 'PT_LOAD #1', offset: 0x3000n } }]);
 * memory.provenanceOf(0x1800n)?.source; // 'PT_LOAD #1'
 * ```
 */
export class PieceMemory implements MemoryView {
  private readonly pieces: MemoryPiece[];

  constructor(pieces: MemoryPiece[]) {
    this.pieces = [...pieces].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (let i = 1; i < this.pieces.length; i++) {
      if (this.pieces[i]!.start < this.pieces[i - 1]!.end) {
        throw new RangeError(`Memory pieces overlap at ${hex(this.pieces[i]!.start)}`);
      }
    }
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    const { bytes, known } = this.readPartial(address, length);
    return known.every((k) => k === 1) ? bytes : undefined;
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Length ${length} is not a byte count`);
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    const end = address + BigInt(length);
    for (let i = this.firstEndingAfter(address); i < this.pieces.length; i++) {
      const piece = this.pieces[i]!;
      if (piece.start >= end) break;
      const from = piece.start > address ? piece.start : address;
      const to = piece.end < end ? piece.end : end;
      const at = Number(from - address);
      const count = Number(to - from);
      if (piece.source) {
        bytes.set(piece.source.read(piece.fileOffset + (from - piece.start), count, `memory at ${hex(from)} (${piece.provenance.source})`), at);
      }
      known.fill(1, at, at + count);
    }
    return { bytes, known };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const piece = this.pieces[this.firstEndingAfter(address)];
    return piece && piece.start <= address ? piece.provenance : undefined;
  }

  /** The piece holding `address`, if any: where its bytes come from. */
  pieceAt(address: bigint): MemoryPiece | undefined {
    const piece = this.pieces[this.firstEndingAfter(address)];
    return piece && piece.start <= address ? piece : undefined;
  }

  ranges(): MemoryRange[] {
    return this.pieces.map((p) => {
      const range: MemoryRange = { start: p.start, end: p.end, provenance: p.provenance };
      if (p.kind) range.kind = p.kind;
      return range;
    });
  }

  /** Index of the first piece whose end lies above `address`. */
  private firstEndingAfter(address: bigint): number {
    let low = 0;
    let high = this.pieces.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.pieces[mid]!.end <= address) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
