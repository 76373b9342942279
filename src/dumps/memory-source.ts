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

export function memorySourceOf(
  view: MemoryView,
  description: string,
  options: { writesCreateMemory?: boolean; addressMap?: AddressMap } = {},
): MemorySource {
  const map = { addressMap: options.addressMap };
  return {
    writesCreateMemory: options.writesCreateMemory,
    mapped: (address) => isMapped(map, address),
    rights: (address) => regionOf(map, address),
    read: (address, length) => view.read(address, length),
    readPartial: (address, length) => {
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
    },
    describe: () => description,
  };
}
