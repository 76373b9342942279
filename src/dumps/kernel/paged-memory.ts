/**
 * A kernel dump's virtual memory as a `MemoryView`: each read walks the page
 * tables (PageWalker) and reads the physical pages from the file, page by
 * page, on demand. `ranges()` lists the mappings whose pages the dump
 * holds, found by walking every table once (done on first use and kept).
 *
 * @example
 * ```ts
 * const memory = new PagedMemory(walker, physical, notes);
 * memory.read(0x8082e3e0n, 4);      // bytes through the page tables, or undefined
 * memory.provenanceOf(0x8082e3e0n); // { source: 'physical 0x82e3e0', offset: 0x…n }
 * ```
 */
import type { AddressRegion, DumpNote, MemoryRange, MemoryView, Provenance } from '../model.ts';
import { hexOf, PAGE_SIZE, pa, va } from './address.ts';
import type { Mapping, PageWalker } from './page-walk.ts';
import type { PhysicalMemory } from './physical.ts';

export class PagedMemory implements MemoryView {
  private listed?: { mappings: Mapping[]; complete: boolean };

  constructor(
    readonly walker: PageWalker,
    readonly physical: PhysicalMemory,
    private readonly notes: DumpNote[],
  ) {}

  read(address: bigint, length: number): Uint8Array | undefined {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const take = Math.min(length - done, PAGE_SIZE - Number(at & 0xfffn));
      const where = this.walker.translate(va(at));
      const bytes = where && this.physical.read(where.pa, take);
      if (!bytes) return undefined;
      out.set(bytes, done);
      done += take;
    }
    return out;
  }

  readPartial(address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } {
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = address + BigInt(done);
      const take = Math.min(length - done, PAGE_SIZE - Number(at & 0xfffn));
      const where = this.walker.translate(va(at));
      const page = where && this.physical.read(where.pa, take);
      if (page) {
        bytes.set(page, done);
        known.fill(1, done, done + take);
      }
      done += take;
    }
    return { bytes, known };
  }

  provenanceOf(address: bigint): Provenance | undefined {
    const where = this.walker.translate(va(address));
    const offset = where && this.physical.fileOffset(where.pa);
    if (offset === undefined) return undefined;
    return { source: `physical ${hexOf(where!.pa)}`, offset };
  }

  /** Every mapping, held or not, with its rights (walked once). */
  mappings(): Mapping[] {
    if (!this.listed) {
      this.listed = this.walker.mappings();
      if (!this.listed.complete) {
        this.notes.push({ level: 'warning', message: `The page tables map more than faultline lists; memory ranges and mappings past ${hexOf(this.listed.mappings.at(-1)?.end ?? 0n)} are not listed (reads still walk them)` });
      }
    }
    return this.listed.mappings;
  }

  /** The mapped regions with their rights, for the dump's AddressMap. */
  regions(): AddressRegion[] {
    const out: AddressRegion[] = [];
    for (const m of this.mappings()) {
      const last = out[out.length - 1];
      if (last && last.end === m.start && last.write === m.write && last.execute === m.execute) last.end = m.end;
      else out.push({ start: m.start, end: m.end, read: true, write: m.write, execute: m.execute });
    }
    return out;
  }

  ranges(): MemoryRange[] {
    return this.mappings().filter((m) => m.held).map((m) => {
      const range: MemoryRange = {
        start: m.start,
        end: m.end,
        provenance: { source: `physical ${hexOf(m.pa)}`, offset: this.physical.fileOffset(pa(m.pa)) },
      };
      // Without NX (x86 non-PAE) every page is executable: say nothing rather than call data code.
      if (this.walker.mode !== 'x86') range.kind = m.execute && !m.write ? 'code' : 'data';
      return range;
    });
  }
}
