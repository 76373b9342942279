/**
 * Memory known byte by byte: each byte has a value, the provenance of the
 * write that supplied it, and optionally a kind (code or data). Formats that
 * learn memory in scattered pieces (a WinDbg transcript, a minidump's small
 * memory list, gdb output) fill one `SparseMemory` and hand it out as the
 * dump's `MemoryView`.
 *
 * Rule for disagreements: the first value written stays; a later write that
 * differs is reported as a `MemoryConflict` (runs of adjacent differing bytes
 * grouped) and otherwise ignored. Kind: a byte with no kind takes the
 * incoming kind, and `code` overrides `data` (a disassembly proves the bytes
 * were decoded as instructions; a `dd` of the same bytes does not make them
 * data).
 *
 * Storage is 4 KiB pages created on first write, so memory spread over a
 * 64-bit address space costs only what is held.
 *
 * @example
 * ```ts
 * const memory = new SparseMemory();
 * memory.write(0x80a5b020n, new Uint8Array([0xe4, 0xe3, 0x82, 0x80]), { source: 'dd 80a5b020 l 1', line: 40 });
 * memory.read(0x80a5b020n, 4);          // Uint8Array [0xe4, 0xe3, 0x82, 0x80]
 * memory.provenanceOf(0x80a5b022n);     // { source: 'dd 80a5b020 l 1', line: 40 }
 * ```
 */
import type { MemoryKind, MemoryRange, MemoryView, Provenance } from './model.ts';

const PAGE_SHIFT = 12n;
const PAGE_SIZE = 1 << Number(PAGE_SHIFT);
const OFFSET_MASK = BigInt(PAGE_SIZE - 1);
const ADDRESS_LIMIT = 1n << 64n;

const KIND_NONE = 0;
const KIND_CODE = 1;
const KIND_DATA = 2;

/** A later write that disagreed with bytes already held. */
export interface MemoryConflict {
  /** First differing byte of the run. */
  address: bigint;
  /** The bytes held (kept). */
  existing: Uint8Array;
  /** The bytes the later write offered (ignored). */
  incoming: Uint8Array;
  existingProvenance: Provenance;
  incomingProvenance: Provenance;
}

interface Page {
  values: Uint8Array;
  /** Index into `provenances` plus one; 0 = byte absent. */
  sources: Int32Array;
  kinds: Uint8Array;
}

function kindCode(kind: MemoryKind | undefined): number {
  return kind === 'code' ? KIND_CODE : kind === 'data' ? KIND_DATA : KIND_NONE;
}

function kindName(code: number): MemoryKind | undefined {
  return code === KIND_CODE ? 'code' : code === KIND_DATA ? 'data' : undefined;
}

/** A read's arguments: a byte count from an address in the address space (bytes past its top are absent, not an error). */
function checkLength(address: bigint, length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Length ${length} is not a byte count`);
  if (address < 0n || address >= ADDRESS_LIMIT) throw new RangeError(`Address 0x${address.toString(16)} lies outside the 64-bit address space`);
}

function checkSpan(address: bigint, length: number): void {
  checkLength(address, length);
  if (address + BigInt(length) > ADDRESS_LIMIT) {
    throw new RangeError(`Span 0x${address.toString(16)}+${length} lies outside the 64-bit address space`);
  }
}

/**
 * A `MemoryView` over scattered bytes with per-byte provenance and conflict detection.
 *
 * @example
 * ```ts
 * const memory = new SparseMemory();
 * memory.write(0x1000n, Uint8Array.of(0x0a, 0xc0), { source: 'ub 80a5d8fc', line: 34 }, 'code');
 * const [conflict] = memory.write(0x1001n, Uint8Array.of(0xe0), { source: 'ub 80a5d8fc l10', line: 57 }, 'code');
 * conflict.existing; // Uint8Array [0xc0] — kept
 * ```
 */
export class SparseMemory implements MemoryView {
  private readonly pages = new Map<bigint, Page>();
  private readonly provenances: Provenance[] = [];
  private heldBytes = 0;

  /** Number of bytes held. */
  get byteCount(): number {
    return this.heldBytes;
  }

  /**
   * Stores `bytes` at `address`. Bytes already held keep their value; where
   * the new ones differ, the disagreement is returned (empty when none).
   * Throws RangeError when the span leaves the 64-bit address space.
   */
  write(address: bigint, bytes: Uint8Array, provenance: Provenance, kind?: MemoryKind): MemoryConflict[] {
    checkSpan(address, bytes.length);
    if (bytes.length === 0) return [];
    this.provenances.push(provenance);
    const source = this.provenances.length;
    const incomingKind = kindCode(kind);
    const conflicts: MemoryConflict[] = [];
    let run: { start: number; source: number } | undefined;
    const closeRun = (end: number): void => {
      if (!run) return;
      const at = address + BigInt(run.start);
      conflicts.push({
        address: at,
        existing: this.read(at, end - run.start)!,
        incoming: bytes.slice(run.start, end),
        existingProvenance: this.provenances[run.source - 1]!,
        incomingProvenance: provenance,
      });
      run = undefined;
    };
    for (let i = 0; i < bytes.length; i++) {
      const at = address + BigInt(i);
      const page = this.pageFor(at, true)!;
      const offset = Number(at & OFFSET_MASK);
      const held = page.sources[offset]!;
      if (held === 0) {
        closeRun(i);
        page.values[offset] = bytes[i]!;
        page.sources[offset] = source;
        page.kinds[offset] = incomingKind;
        this.heldBytes++;
        continue;
      }
      if (incomingKind === KIND_CODE || page.kinds[offset] === KIND_NONE) page.kinds[offset] = incomingKind || page.kinds[offset]!;
      if (page.values[offset] === bytes[i]) {
        closeRun(i);
      } else if (!run || run.source !== held) {
        closeRun(i);
        run = { start: i, source: held };
      }
    }
    closeRun(bytes.length);
    return conflicts;
  }

  read(address: bigint, length: number): Uint8Array | undefined {
    checkLength(address, length);
    if (address + BigInt(length) > ADDRESS_LIMIT) return undefined;
    const { bytes, known } = this.readPartial(address, length);
    return known.every((k) => k === 1) ? bytes : undefined;
  }

  /** The bytes at `address` with absent ones zeroed, and a mask (1 = held); none are held past the top of the address space. */
  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    checkLength(address, length);
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const at = address + BigInt(i);
      if (at >= ADDRESS_LIMIT) break;
      const page = this.pageFor(at, false);
      const offset = Number(at & OFFSET_MASK);
      if (page && page.sources[offset] !== 0) {
        bytes[i] = page.values[offset]!;
        known[i] = 1;
      }
    }
    return { bytes, known };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const source = this.pageFor(address, false)?.sources[Number(address & OFFSET_MASK)] ?? 0;
    return source === 0 ? undefined : this.provenances[source - 1];
  }

  /** The kind of the byte at `address`, when held and known. */
  kindOf(address: bigint): MemoryKind | undefined {
    const page = this.pageFor(address, false);
    const offset = Number(address & OFFSET_MASK);
    return page && page.sources[offset] !== 0 ? kindName(page.kinds[offset]!) : undefined;
  }

  /** Runs of held bytes with the same provenance and kind, sorted, not overlapping. */
  ranges(): MemoryRange[] {
    const result: MemoryRange[] = [];
    let open: { start: bigint; end: bigint; source: number; kind: number } | undefined;
    const flush = (): void => {
      if (!open) return;
      const kind = kindName(open.kind);
      const range: MemoryRange = { start: open.start, end: open.end, provenance: this.provenances[open.source - 1]! };
      if (kind) range.kind = kind;
      result.push(range);
      open = undefined;
    };
    const bases = [...this.pages.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const base of bases) {
      const page = this.pages.get(base)!;
      for (let offset = 0; offset < PAGE_SIZE; offset++) {
        const source = page.sources[offset]!;
        if (source === 0) {
          flush();
          continue;
        }
        const at = (base << PAGE_SHIFT) + BigInt(offset);
        const kind = page.kinds[offset]!;
        if (open && open.end === at && open.source === source && open.kind === kind) {
          open.end = at + 1n;
        } else {
          flush();
          open = { start: at, end: at + 1n, source, kind };
        }
      }
    }
    flush();
    return result;
  }

  private pageFor(address: bigint, create: boolean): Page | undefined {
    const base = address >> PAGE_SHIFT;
    let page = this.pages.get(base);
    if (!page && create) {
      page = { values: new Uint8Array(PAGE_SIZE), sources: new Int32Array(PAGE_SIZE), kinds: new Uint8Array(PAGE_SIZE) };
      this.pages.set(base, page);
    }
    return page;
  }
}
