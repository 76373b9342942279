/**
 * A dump's memory with another source beneath it: where the dump holds a
 * byte, the dump's byte; where it does not, the byte from below (module
 * files placed at their modules, see module-binaries.ts). Each byte keeps
 * the provenance of the layer it came from, so a reader can always tell a
 * byte the dump saved from one a file supplied.
 *
 * @example
 * ```ts
 * const memory = new LayeredMemory(dump.memory, new PieceMemory(filePieces));
 * memory.read(pc, 4);           // the dump's bytes, or the file's where the dump has none
 * memory.provenanceOf(pc);      // { source: 'MemoryListStream[2]', … } or { source: './bugs', offset: 0xda4n }
 * ```
 */
import type { MemoryRange, MemoryView, Provenance } from './model.ts';

/** A view that can say which of a run of bytes it holds. */
export type PartialMemoryView = MemoryView & Required<Pick<MemoryView, 'readPartial'>>;

/** `range` cut to [start, end), its file offset moved along. */
function cut(range: MemoryRange, start: bigint, end: bigint): MemoryRange {
  const offset = range.provenance.offset;
  return { ...range, start, end, provenance: offset === undefined ? range.provenance : { ...range.provenance, offset: offset + (start - range.start) } };
}

/** Ranges of `lower` where `upper` holds nothing; both sorted and non-overlapping. */
function uncovered(lower: MemoryRange[], upper: MemoryRange[]): MemoryRange[] {
  const out: MemoryRange[] = [];
  let u = 0;
  for (const range of lower) {
    let at = range.start;
    while (u < upper.length && upper[u]!.end <= at) u++;
    for (let i = u; i < upper.length && upper[i]!.start < range.end; i++) {
      const cover = upper[i]!;
      if (cover.start > at) out.push(cut(range, at, cover.start));
      if (cover.end > at) at = cover.end;
      if (at >= range.end) break;
    }
    if (at < range.end) out.push(cut(range, at, range.end));
  }
  return out;
}

/** The view: see the file comment. */
export class LayeredMemory implements MemoryView {
  constructor(
    private readonly top: PartialMemoryView,
    private readonly below: PartialMemoryView,
  ) {}

  read(address: bigint, length: number): Uint8Array | undefined {
    const held = this.top.read(address, length);
    if (held) return held;
    const { bytes, known } = this.readPartial(address, length);
    return known.every((k) => k === 1) ? bytes : undefined;
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const top = this.top.readPartial(address, length);
    if (top.known.every((k) => k === 1)) return top;
    const below = this.below.readPartial(address, length);
    for (let i = 0; i < length; i++) {
      if (top.known[i] === 1 || below.known[i] !== 1) continue;
      top.bytes[i] = below.bytes[i]!;
      top.known[i] = 1;
    }
    return top;
  }

  provenanceOf(address: bigint): Provenance | undefined {
    return this.top.provenanceOf(address) ?? this.below.provenanceOf(address);
  }

  ranges(): MemoryRange[] {
    const top = this.top.ranges();
    return [...top, ...uncovered(this.below.ranges(), top)].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
}
