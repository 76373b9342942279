/**
 * Virtual → physical translation through the page tables a kernel dump
 * holds, from DirectoryTableBase (CR3):
 *
 * - x86 without PAE: page directory → page table, 4-byte entries; a PDE
 *   with PS set maps 4 MiB (PSE-36 bits 13–20 give physical bits 32–39).
 * - x86 PAE: 4-entry PDPT (CR3 & ~0x1f) → page directory → page table,
 *   8-byte entries; a PDE with PS maps 2 MiB.
 * - x64: PML4 → PDPT (PS: 1 GiB) → PD (PS: 2 MiB) → PT, 8-byte entries,
 *   48-bit canonical addresses.
 *
 * An entry without its present bit (a transition, prototype, paged-out or
 * demand-zero PTE) maps nothing the dump can show: the address is absent.
 * A walk has a fixed number of levels, so translation always ends;
 * enumerating every mapping (`mappings`) walks each table once and skips
 * the self-map entry (a table pointing back at a table on its own path);
 * more than MAX_REPEATED_TABLES such references are looping page tables: a
 * DumpFormatError, not a walk that multiplies.
 *
 * @example
 * ```ts
 * const walker = new PageWalker(physical, 'x64', header.directoryTableBase, where);
 * walker.translate(va(0xfffff8047b58334cn)); // { pa: 0x2b5834cn, write: false, execute: true, … }
 * ```
 */
import { DumpFormatError } from '../errors.ts';
import { hexOf, pa, va, type Pa, type Va } from './address.ts';
import type { PhysicalMemory } from './physical.ts';

export type PagingMode = 'x86' | 'pae' | 'x64';

/** Where a virtual page is, and its rights (all levels combined). */
export interface Translation {
  pa: Pa;
  /** Bytes of the page holding the address: 4 KiB, 2 or 4 MiB, 1 GiB. */
  pageSize: bigint;
  write: boolean;
  execute: boolean;
}

/** A run of virtual pages mapped to consecutive physical pages with the same rights. */
export interface Mapping {
  start: Va;
  /** Exclusive. */
  end: Va;
  pa: Pa;
  write: boolean;
  execute: boolean;
  /** True when the dump holds every physical page of the run. */
  held: boolean;
}

interface Level {
  /** Bit of the address this level's index starts at. */
  shift: number;
  entries: number;
  /** Bytes per entry. */
  width: 4 | 8;
  /** A set PS bit maps a large page here. */
  large: boolean;
}

const LEVELS: Record<PagingMode, Level[]> = {
  x86: [
    { shift: 22, entries: 1024, width: 4, large: true },
    { shift: 12, entries: 1024, width: 4, large: false },
  ],
  pae: [
    { shift: 30, entries: 4, width: 8, large: false },
    { shift: 21, entries: 512, width: 8, large: true },
    { shift: 12, entries: 512, width: 8, large: false },
  ],
  x64: [
    { shift: 39, entries: 512, width: 8, large: false },
    { shift: 30, entries: 512, width: 8, large: true },
    { shift: 21, entries: 512, width: 8, large: true },
    { shift: 12, entries: 512, width: 8, large: false },
  ],
};

const TWO_32 = 0x1_0000_0000;
/** Tables reached a second time, or pointing back up their own path, before the walk calls the tables looping. */
const MAX_REPEATED_TABLES = 64;
/** Tables read when enumerating mappings; beyond it the list stops with a note. */
const MAX_TABLES = 1 << 16;
/** Mappings listed at most. */
const MAX_MAPPINGS = 1 << 18;
/** Translations remembered. */
const CACHE_SIZE = 1 << 13;

/** One decoded entry: present, PS, R/W, NX, and the physical address it names (as a Number: ≤ 52 bits). */
interface Entry {
  present: boolean;
  large: boolean;
  write: boolean;
  noExecute: boolean;
  /** Physical address of the next table (or, for a large or last-level entry, of the page). */
  address: number;
}

function decode(lo: number, hi: number, level: Level, mode: PagingMode, last: boolean): Entry {
  const present = (lo & 1) === 1;
  const large = level.large && (lo & 0x80) !== 0;
  const write = mode === 'pae' && level.shift === 30 ? true : (lo & 2) !== 0;
  const noExecute = mode !== 'x86' && !(mode === 'pae' && level.shift === 30) && (hi & 0x8000_0000) !== 0;
  let address: number;
  if (mode === 'x86') {
    address = large ? (lo & 0xffc0_0000) >>> 0 : (lo & 0xffff_f000) >>> 0;
    if (large) address += ((lo >>> 13) & 0xff) * TWO_32;
  } else {
    const size = large || last ? 2 ** level.shift : 0x1000;
    const low = (lo & 0xffff_f000) >>> 0;
    address = (hi & 0xf_ffff) * TWO_32 + (low - (low % size));
  }
  return { present, large, write, noExecute, address };
}

/** Page walks over one address space. */
export class PageWalker {
  private readonly levels: Level[];
  private readonly cache = new Map<bigint, Translation | null>();

  constructor(
    private readonly physical: PhysicalMemory,
    readonly mode: PagingMode,
    /** CR3: the top table's physical address. */
    readonly directoryTableBase: Pa,
    private readonly where: { format: string; path: string },
  ) {
    this.levels = LEVELS[mode];
  }

  /** Bits of a virtual address. */
  get addressBits(): number {
    return this.mode === 'x64' ? 64 : 32;
  }

  private topTable(): number {
    const cr3 = Number(this.directoryTableBase & 0x000f_ffff_ffff_ffffn);
    return this.mode === 'pae' ? cr3 - (cr3 % 32) : cr3 - (cr3 % 0x1000);
  }

  private readEntry(table: number, index: number, level: Level): { lo: number; hi: number } | undefined {
    const bytes = this.physical.read(pa(BigInt(table + index * level.width)), level.width);
    if (!bytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { lo: view.getUint32(0, true), hi: level.width === 8 ? view.getUint32(4, true) : 0 };
  }

  /**
   * Where `address` is in physical memory, or undefined when no present
   * entry maps it (or a table on the way is not in the dump).
   */
  translate(address: Va): Translation | undefined {
    const page = address >> 12n;
    const cached = this.cache.get(page);
    if (cached !== undefined) return cached === null ? undefined : { ...cached, pa: pa(cached.pa + (address & 0xfffn)) };
    const found = this.walk(address);
    if (this.cache.size >= CACHE_SIZE) this.cache.clear();
    this.cache.set(page, found ? { ...found, pa: pa(found.pa - (address & 0xfffn)) } : null);
    return found;
  }

  private walk(address: Va): Translation | undefined {
    if (this.mode === 'x64') {
      const top = address >> 47n;
      if (top !== 0n && top !== 0x1ffffn) return undefined;
    } else if (address > 0xffff_ffffn) {
      return undefined;
    }
    let table = this.topTable();
    let write = true;
    let execute = true;
    for (let i = 0; i < this.levels.length; i++) {
      const level = this.levels[i]!;
      const last = i === this.levels.length - 1;
      const index = Number((address >> BigInt(level.shift)) & BigInt(level.entries - 1));
      const raw = this.readEntry(table, index, level);
      if (!raw) return undefined;
      const entry = decode(raw.lo, raw.hi, level, this.mode, last);
      if (!entry.present) return undefined;
      write &&= entry.write;
      execute &&= !entry.noExecute;
      if (entry.large || last) {
        const size = 1n << BigInt(level.shift);
        return { pa: pa(BigInt(entry.address) + (address & (size - 1n))), pageSize: size, write, execute };
      }
      table = entry.address;
    }
    return undefined;
  }

  /**
   * Every present mapping, merged into runs, up to MAX_MAPPINGS runs and
   * MAX_TABLES tables (a note says when it stopped early). Throws
   * DumpFormatError ('bad-field') for looping page tables.
   */
  mappings(): { mappings: Mapping[]; complete: boolean } {
    const out: Mapping[] = [];
    const seen = new Set<number>();
    const path: number[] = [];
    let repeated = 0;
    let tables = 0;
    let complete = true;
    let current: { start: bigint; end: bigint; pa: number; nextPa: number; write: boolean; execute: boolean; held: boolean } | undefined;
    const flush = (): void => {
      if (!current) return;
      out.push({ start: va(current.start), end: va(current.end), pa: pa(BigInt(current.pa)), write: current.write, execute: current.execute, held: current.held });
      current = undefined;
    };
    const leaf = (start: bigint, size: number, physical: number, write: boolean, execute: boolean): void => {
      const held = this.physical.fileOffset(pa(BigInt(physical))) !== undefined
        && (size === 0x1000 || this.physical.fileOffset(pa(BigInt(physical + size - 0x1000))) !== undefined);
      if (current && current.end === start && current.nextPa === physical && current.write === write && current.execute === execute && current.held === held) {
        current.end = start + BigInt(size);
        current.nextPa = physical + size;
        return;
      }
      flush();
      if (out.length >= MAX_MAPPINGS) {
        complete = false;
        return;
      }
      current = { start, end: start + BigInt(size), pa: physical, nextPa: physical + size, write, execute, held };
    };
    const canonical = (value: bigint): bigint => (this.mode === 'x64' && value & (1n << 47n) ? value | 0xffff_0000_0000_0000n : value);
    const visit = (table: number, depth: number, base: bigint, write: boolean, execute: boolean): void => {
      const level = this.levels[depth]!;
      const last = depth === this.levels.length - 1;
      const bytes = this.physical.read(pa(BigInt(table)), level.entries * level.width);
      if (!bytes) return;
      if (++tables > MAX_TABLES) {
        complete = false;
        return;
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      path.push(table);
      for (let i = 0; i < level.entries && complete; i++) {
        const lo = view.getUint32(i * level.width, true);
        if ((lo & 1) === 0) continue;
        const hi = level.width === 8 ? view.getUint32(i * level.width + 4, true) : 0;
        const entry = decode(lo, hi, level, this.mode, last);
        const start = canonical(base + (BigInt(i) << BigInt(level.shift)));
        const w = write && entry.write;
        const x = execute && !entry.noExecute;
        if (entry.large || last) {
          leaf(start, 2 ** level.shift, entry.address, w, x);
          continue;
        }
        // A table on its own path is the self-map (page tables seen as memory: one entry on x86 and x64, four on PAE);
        // a table reached again from elsewhere is not walked twice. Many of either are tables that loop.
        const self = path.includes(entry.address);
        if (self || seen.has(entry.address)) {
          if (++repeated > MAX_REPEATED_TABLES) {
            throw new DumpFormatError(this.where.format, this.where.path,
              `Page tables loop: the table at physical ${hexOf(entry.address)} is reached again from ${hexOf(start)} (more than ${MAX_REPEATED_TABLES} tables reached twice from DirectoryTableBase ${hexOf(this.directoryTableBase)})`,
              { code: 'bad-field' });
          }
          continue;
        }
        seen.add(entry.address);
        visit(entry.address, depth + 1, start, w, x);
      }
      path.pop();
    };
    const top = this.topTable();
    seen.add(top);
    visit(top, 0, 0n, true, true);
    flush();
    return { mappings: out, complete };
  }
}
