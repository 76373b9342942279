/**
 * Adapts a dump's `MemoryView` to the emulator's `MemorySource`, so the
 * emulator pages in dump memory without knowing any dump format.
 *
 * @example
 * ```ts
 * emu.setMemorySource(memorySourceOf(dump.memory, dump.path));
 * ```
 */
import type { MemorySource } from '../../emu/memory-source.ts';
import { isMapped, regionOf } from './address-map.ts';
import type { AddressMap, MemoryView } from './model.ts';

/** Whole pages the emulator asked a view for, kept for the next engine over the same dump. */
const PAGE = 0x1000;
type PageCache = { full: Map<bigint, Uint8Array | undefined>; partial: Map<bigint, { bytes: Uint8Array; known: Uint8Array } | undefined> };
const pageCaches = new WeakMap<MemoryView, PageCache>();

function cacheOf(view: MemoryView): PageCache {
  let cache = pageCaches.get(view);
  if (!cache) pageCaches.set(view, (cache = { full: new Map(), partial: new Map() }));
  return cache;
}

/**
 * The dump's memory as the emulator's source. An analysis opens dozens of
 * engines over one dump, each paging in the same few pages, so whole-page
 * reads are kept per view (a dump's memory does not change; the cache
 * goes with the view). Callers may change what they get: partial pages
 * are copied out, full ones are only written into the engine.
 */
export function memorySourceOf(
  view: MemoryView,
  description: string,
  options: { writesCreateMemory?: boolean; addressMap?: AddressMap } = {},
): MemorySource {
  const map = { addressMap: options.addressMap };
  const cache = cacheOf(view);
  const readPartial = (address: bigint, length: number): { bytes: Uint8Array; known: Uint8Array } | undefined => {
    if (view.readPartial) {
      const part = view.readPartial(address, length);
      return part.known.some((k) => k !== 0) ? part : undefined;
    }
    const bytes = new Uint8Array(length);
    const known = new Uint8Array(length);
    let any = false;
    for (let i = 0; i < length; i++) {
      const byte = view.read(address + BigInt(i), 1);
      if (byte) {
        bytes[i] = byte[0]!;
        known[i] = 1;
        any = true;
      }
    }
    return any ? { bytes, known } : undefined;
  };
  return {
    writesCreateMemory: options.writesCreateMemory,
    mapped: (address) => isMapped(map, address),
    rights: (address) => regionOf(map, address),
    read: (address, length) => {
      if (length !== PAGE || address % BigInt(PAGE) !== 0n) return view.read(address, length);
      if (!cache.full.has(address)) cache.full.set(address, view.read(address, length));
      return cache.full.get(address);
    },
    readPartial: (address, length) => {
      if (length !== PAGE || address % BigInt(PAGE) !== 0n) return readPartial(address, length);
      if (!cache.partial.has(address)) cache.partial.set(address, readPartial(address, length));
      const part = cache.partial.get(address);
      return part && { bytes: part.bytes.slice(), known: part.known.slice() };
    },
    describe: () => description,
  };
}
