/**
 * Questions about a dump's address map: was this address mapped when the
 * dump was taken, and with which rights? An address the map does not cover
 * was unmapped only when the map is complete; otherwise nobody knows.
 *
 * @example
 * ```ts
 * regionOf(dump, 0x401000n);  // { start: 0x400000n, end: 0x402000n, read: true, write: false, execute: true }
 * isMapped(dump, 0x10n);      // false for a core (its PT_LOADs list every mapping)
 * ```
 */
import type { AddressRegion, Dump } from './model.ts';

/** The region holding `address`, if the map lists one. */
export function regionOf(dump: Pick<Dump, 'addressMap'>, address: bigint): AddressRegion | undefined {
  const regions = dump.addressMap?.regions;
  if (!regions) return undefined;
  let lo = 0;
  let hi = regions.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = regions[mid]!;
    if (address < r.start) hi = mid - 1;
    else if (address >= r.end) lo = mid + 1;
    else return r;
  }
  return undefined;
}

/** True when mapped, false when the complete map leaves it out, undefined when the dump does not say. */
export function isMapped(dump: Pick<Dump, 'addressMap'>, address: bigint): boolean | undefined {
  if (!dump.addressMap) return undefined;
  if (regionOf(dump, address)) return true;
  return dump.addressMap.complete ? false : undefined;
}

/** Sorts `regions` and merges overlaps (later rights win where they overlap). */
export function normaliseRegions(regions: AddressRegion[]): AddressRegion[] {
  const sorted = regions.filter((r) => r.end > r.start).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: AddressRegion[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start < last.end) {
      if (r.end > last.end) out.push({ ...r, start: last.end });
      continue;
    }
    out.push({ ...r });
  }
  return out;
}
