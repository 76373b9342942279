/**
 * Which image a code address belongs to, and whether an address can be code
 * at all, from the dump model alone: the modules the dump lists, else its
 * address map (a region with execute rights, and the ELF header at the
 * start of the mapping group it belongs to, for cores without `NT_FILE`).
 *
 * @example
 * ```ts
 * const code = new CodeMap(dump);
 * code.isCode(0x401136n); // true
 * code.imageOf(0x401136n); // { base: 0x400000n, name: 'crash' }
 * ```
 */
import type { Dump } from '../dumps/model.ts';

/** Regions looked back through for an ELF header, at most. */
const MAX_REGIONS_BACK = 16;

export interface CodeImage {
  base: bigint;
  name: string;
}

export class CodeMap {
  constructor(private readonly dump: Dump) {}

  private moduleAt(address: bigint) {
    return this.dump.modules.find((m) => address >= m.base && address < m.base + m.size);
  }

  private regionIndex(address: bigint): number {
    const regions = this.dump.addressMap?.regions ?? [];
    let low = 0;
    let high = regions.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const r = regions[mid]!;
      if (address < r.start) high = mid - 1;
      else if (address >= r.end) low = mid + 1;
      else return mid;
    }
    return -1;
  }

  /**
   * True when `address` can be code: in an executable region when the dump
   * has an address map, else in a module, else when the dump holds a byte there.
   */
  isCode(address: bigint): boolean {
    if (address === 0n) return false;
    const map = this.dump.addressMap;
    if (map && map.regions.length > 0) {
      const i = this.regionIndex(address);
      if (i >= 0) return map.regions[i]!.execute;
      if (map.complete) return false;
    }
    if (this.dump.modules.length > 0) return this.moduleAt(address) !== undefined;
    return this.dump.memory.read(address, 1) !== undefined;
  }

  /** The image `address` is in: its module, or the ELF header found at the start of its mappings. */
  imageOf(address: bigint): CodeImage | undefined {
    const module = this.moduleAt(address);
    if (module) return { base: module.base, name: module.name };
    const regions = this.dump.addressMap?.regions ?? [];
    const i = this.regionIndex(address);
    if (i < 0) return undefined;
    for (let j = i; j >= 0 && j > i - MAX_REGIONS_BACK; j--) {
      const head = this.dump.memory.read(regions[j]!.start, 4);
      if (head && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
        return { base: regions[j]!.start, name: `image@0x${regions[j]!.start.toString(16)}` };
      }
    }
    return undefined;
  }
}
