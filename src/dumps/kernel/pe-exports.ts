/**
 * Exported names of a PE image mapped in a dump's memory (a kernel module
 * whose headers and export directory are paged in), so code prints as
 * `nt!KeBugCheckEx+0x…` without symbol files. Internal functions are not
 * exported: an address after one prints as the export before it only
 * within the symbol table's unsized limit, otherwise as `module+0xoff`.
 *
 * IMAGE_DOS_HEADER.e_lfanew 0x3c; 'PE\0\0'; optional header at +0x18 with
 * Magic 0x10b (PE32, data directories at +0x60) or 0x20b (PE32+, +0x70);
 * export directory (entry 0): NumberOfFunctions 0x14, NumberOfNames 0x18,
 * AddressOfFunctions 0x1c, AddressOfNames 0x20, AddressOfNameOrdinals 0x24.
 *
 * @example
 * ```ts
 * readPeExports(memory, 0x80800000n, 0x1a0000n); // [{ name: 'KeBugCheckEx', address: 0x8087e8a0n }, …]
 * ```
 */
import type { MemoryView } from '../model.ts';

/** More exports than ntoskrnl has (about 3 000). */
const MAX_EXPORTS = 0x4000;
const MAX_NAME = 256;

export interface PeExport {
  name: string;
  address: bigint;
}

/**
 * The named exports of the image at `base` (`size` bytes), skipping
 * forwarders (RVAs inside the export directory) and anything the dump
 * lacks; empty when the headers are missing or not a PE.
 */
export function readPeExports(memory: MemoryView, base: bigint, size: bigint): PeExport[] {
  const u32 = (at: bigint): number | undefined => {
    const b = memory.read(at, 4);
    return b ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined;
  };
  const u16 = (at: bigint): number | undefined => {
    const b = memory.read(at, 2);
    return b ? new DataView(b.buffer, b.byteOffset, 2).getUint16(0, true) : undefined;
  };
  if (u16(base) !== 0x5a4d) return [];
  const lfanew = u32(base + 0x3cn);
  if (lfanew === undefined || lfanew > 0x1000 || u32(base + BigInt(lfanew)) !== 0x4550) return [];
  const optional = base + BigInt(lfanew) + 0x18n;
  const magic = u16(optional);
  const directories = magic === 0x10b ? 0x60n : magic === 0x20b ? 0x70n : undefined;
  if (directories === undefined) return [];
  const rva = u32(optional + directories);
  const dirSize = u32(optional + directories + 4n);
  if (!rva || !dirSize || BigInt(rva) >= size) return [];
  const dir = base + BigInt(rva);
  const functions = u32(dir + 0x14n);
  const names = u32(dir + 0x18n);
  const functionsAt = u32(dir + 0x1cn);
  const namesAt = u32(dir + 0x20n);
  const ordinalsAt = u32(dir + 0x24n);
  if (functions === undefined || names === undefined || functionsAt === undefined || namesAt === undefined || ordinalsAt === undefined) return [];
  const count = Math.min(names, MAX_EXPORTS);
  const out: PeExport[] = [];
  for (let i = 0; i < count; i++) {
    const nameRva = u32(base + BigInt(namesAt) + BigInt(4 * i));
    const ordinal = u16(base + BigInt(ordinalsAt) + BigInt(2 * i));
    if (nameRva === undefined || ordinal === undefined || ordinal >= functions) continue;
    const target = u32(base + BigInt(functionsAt) + BigInt(4 * ordinal));
    if (target === undefined || target === 0 || BigInt(target) >= size) continue;
    if (target >= rva && target < rva + dirSize) continue; // a forwarder string
    const name = cString(memory, base + BigInt(nameRva));
    if (name) out.push({ name, address: base + BigInt(target) });
  }
  return out;
}

function cString(memory: MemoryView, address: bigint): string | undefined {
  const { bytes, known } = memory.readPartial?.(address, MAX_NAME) ?? { bytes: memory.read(address, 1) ?? new Uint8Array(), known: new Uint8Array() };
  let end = 0;
  while (end < bytes.length && known[end] === 1 && bytes[end] !== 0) end++;
  if (end === 0 || end === bytes.length || known[end] !== 1) return undefined;
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, end));
  return /^[\x21-\x7e]+$/.test(text) ? text : undefined;
}
