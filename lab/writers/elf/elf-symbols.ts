/**
 * What an executable or library says about itself beyond its segments:
 * its function and object symbols (SHT_SYMTAB and SHT_DYNSYM, as
 * Elf32_Sym/Elf64_Sym) and its GNU build id (the NT_GNU_BUILD_ID note
 * owned by "GNU" in a PT_NOTE segment).
 *
 * @example
 * ```ts
 * const elf = ElfFile.open('bugs');
 * readElfSymbols(elf).find((s) => s.name === 'draw'); // { name: 'draw', value: 0x1510n, size: 0xcn }
 * readBuildId(elf);                                    // Uint8Array(20) […]
 * ```
 */
import { cString, le16, le32, leWord } from './file-bytes.ts';
import { PT_NOTE, type ElfFile } from './elf-file.ts';
import { NT_GNU_BUILD_ID, readNotes } from './notes.ts';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

/** A defined symbol at its link-time address. */
export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  /** True for functions (STT_FUNC, STT_GNU_IFUNC). */
  code: boolean;
}

/**
 * Defined function and object symbols from .symtab and .dynsym, one per
 * (name, value), sorted by value.
 *
 * @example
 * ```ts
 * readElfSymbols(ElfFile.open('/lib/x86_64-linux-gnu/libc.so.6')).some((s) => s.name === 'abort'); // true
 * ```
 */
export function readElfSymbols(elf: ElfFile): ElfSymbol[] {
  const sections = elf.sections();
  const wordSize = elf.header.wordSize;
  const entrySize = wordSize === 8 ? 0x18 : 0x10;
  const seen = new Set<string>();
  const symbols: ElfSymbol[] = [];
  for (const table of sections.filter((s) => s.type === SHT_SYMTAB || s.type === SHT_DYNSYM)) {
    const strings = sections[table.link];
    if (!strings || table.size === 0n) continue;
    const names = elf.file.readUpTo(strings.offset, Number(strings.size));
    const bytes = elf.file.readUpTo(table.offset, Number(table.size));
    for (let at = 0; at + entrySize <= bytes.length; at += entrySize) {
      // Elf64_Sym: st_name @0, st_info @4, st_other @5, st_shndx @6, st_value @8, st_size @0x10.
      // Elf32_Sym: st_name @0, st_value @4, st_size @8, st_info @0xc, st_other @0xd, st_shndx @0xe.
      const info = wordSize === 8 ? bytes[at + 4]! : bytes[at + 0x0c]!;
      const shndx = wordSize === 8 ? le16(bytes, at + 6) : le16(bytes, at + 0x0e);
      const value = wordSize === 8 ? leWord(bytes, at + 8, 8) : leWord(bytes, at + 4, 4);
      const size = wordSize === 8 ? leWord(bytes, at + 0x10, 8) : leWord(bytes, at + 8, 4);
      const type = info & 0xf;
      if (shndx === 0 || value === 0n || (type !== STT_FUNC && type !== STT_GNU_IFUNC && type !== STT_OBJECT)) continue;
      const name = cString(names, le32(bytes, at));
      const key = `${name}@${value}`;
      if (name === '' || seen.has(key)) continue;
      seen.add(key);
      symbols.push({ name, value, size, code: type !== STT_OBJECT });
    }
  }
  return symbols.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/**
 * The GNU build id, or undefined when the file has none.
 *
 * @example
 * ```ts
 * Buffer.from(readBuildId(elf)!).toString('hex'); // '5f1c…'
 * ```
 */
export function readBuildId(elf: ElfFile): Uint8Array | undefined {
  for (const ph of elf.programHeaders.filter((p) => p.type === PT_NOTE)) {
    const bytes = elf.file.readUpTo(ph.offset, Number(ph.filesz));
    const note = readNotes(bytes, Number(ph.align)).find((n) => n.name === 'GNU' && n.type === NT_GNU_BUILD_ID);
    if (note) return note.desc.slice();
  }
  return undefined;
}
