/**
 * The kernel's loaded modules: the LDR_DATA_TABLE_ENTRY list that
 * PsLoadedModuleList heads (full, kernel and bitmap dumps), and the names
 * WinDbg gives them (`nt` for the kernel, `hal` for the HAL, otherwise the
 * file name without its extension).
 *
 * LDR_DATA_TABLE_ENTRY (`dt nt!_LDR_DATA_TABLE_ENTRY`): InLoadOrderLinks
 * 0x0; DllBase 0x18 / 0x30; SizeOfImage 0x20 / 0x40; FullDllName 0x24 /
 * 0x48; BaseDllName 0x2c / 0x58; TimeDateStamp 0x44 / 0x80 (x86 / x64). UNICODE_STRING: Length (bytes)
 * 0x0, MaximumLength 0x2, Buffer 0x4 / 0x8.
 *
 * The walk is bounded: at most MAX_MODULES entries, and an entry seen twice
 * (a list that loops without returning to its head) ends it with a note.
 *
 * @example
 * ```ts
 * const modules = walkLoadedModules(memory, 'x64', va(0xfffff8047c62a390n), notes);
 * modules[0]; // { name: 'nt', base: 0xfffff8047ba00000n, size: 0x1046000n, path: '\\SystemRoot\\system32\\ntoskrnl.exe' }
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { DumpModule, DumpNote, MemoryView } from '../model.ts';
import { hexOf, type Va } from './address.ts';

/** More modules than any Windows system loads. */
export const MAX_MODULES = 4096;
/** Longest name read (UNICODE_STRING.Length, bytes). */
const MAX_NAME_BYTES = 1024;

/** A module and where its entry is. */
export interface KernelModule extends DumpModule {
  /** Address of its LDR_DATA_TABLE_ENTRY, or file offset of its triage driver entry. */
  entry: bigint;
  /** The image's TimeDateStamp as the loader recorded it (0 or absent: not recorded). */
  timeDateStamp?: number;
}

function word(memory: MemoryView, address: bigint, width: number): bigint | undefined {
  const bytes = memory.read(address, width);
  if (!bytes) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return width === 8 ? view.getBigUint64(0, true) : BigInt(view.getUint32(0, true));
}

/** The UNICODE_STRING at `address`, or undefined when its bytes are missing or its length cannot be. */
export function readUnicodeString(memory: MemoryView, address: bigint, width: number): string | undefined {
  const head = memory.read(address, width === 8 ? 16 : 8);
  if (!head) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const length = view.getUint16(0, true);
  if (length === 0 || length > MAX_NAME_BYTES || length % 2) return undefined;
  const buffer = width === 8 ? view.getBigUint64(8, true) : BigInt(view.getUint32(4, true));
  const text = memory.read(buffer, length);
  return text ? new TextDecoder('utf-16le').decode(text) : undefined;
}

/**
 * WinDbg's module name for an image file: `nt` for ntoskrnl/ntkrnlpa/
 * ntkrnlmp/ntkrpamp, `hal` for hal*.dll, else the name without extension.
 */
export function windbgModuleName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const lower = base.toLowerCase();
  if (/^(ntoskrnl|ntkrnl\w*|ntkrpamp)\.exe$/.test(lower)) return 'nt';
  if (/^hal\w*\.dll$/.test(lower)) return 'hal';
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base).replace(/[^\w]/g, '_');
}

/** Gives each module a unique name: a repeat gets `_<base>` like WinDbg's `name_fffff801…`. */
export function uniqueNames<T extends DumpModule>(modules: T[]): T[] {
  const used = new Set<string>();
  for (const m of modules) {
    if (used.has(m.name)) m.name = `${m.name}_${m.base.toString(16)}`;
    used.add(m.name);
  }
  return modules;
}

/**
 * The modules on the list headed at `head`, in load order. Entries whose
 * bytes the dump lacks end the walk with a note; so does a loop.
 */
export function walkLoadedModules(memory: MemoryView, arch: Arch, head: Va, notes: DumpNote[]): KernelModule[] {
  const width = arch === 'x86' ? 4 : 8;
  const at = arch === 'x86' ? { base: 0x18, size: 0x20, full: 0x24, name: 0x2c, stamp: 0x44 } : { base: 0x30, size: 0x40, full: 0x48, name: 0x58, stamp: 0x80 };
  const modules: KernelModule[] = [];
  const seen = new Set<bigint>();
  let link = word(memory, head, width);
  if (link === undefined) {
    notes.push({ level: 'warning', message: `PsLoadedModuleList ${hexOf(head)} is not in the dump: no module list` });
    return modules;
  }
  while (link !== head) {
    if (seen.has(link)) {
      notes.push({ level: 'warning', message: `The loaded-module list loops at ${hexOf(link)} without returning to PsLoadedModuleList; ${modules.length} modules read` });
      break;
    }
    if (modules.length >= MAX_MODULES) {
      notes.push({ level: 'warning', message: `The loaded-module list has more than ${MAX_MODULES} entries; the rest are not read` });
      break;
    }
    seen.add(link);
    const base = word(memory, link + BigInt(at.base), width);
    const size = word(memory, link + BigInt(at.size), 4);
    const next = word(memory, link, width);
    if (base === undefined || size === undefined || next === undefined) {
      notes.push({ level: 'warning', message: `The loaded-module entry at ${hexOf(link)} is not in the dump; ${modules.length} modules read` });
      break;
    }
    const path = readUnicodeString(memory, link + BigInt(at.full), width);
    const file = readUnicodeString(memory, link + BigInt(at.name), width) ?? path;
    const module: KernelModule = { name: file ? windbgModuleName(file) : `module_${base.toString(16)}`, base, size, entry: link };
    if (path) module.path = path;
    const stamp = word(memory, link + BigInt(at.stamp), 4);
    if (stamp) module.timeDateStamp = Number(stamp);
    modules.push(module);
    link = next;
  }
  return uniqueNames(modules);
}
