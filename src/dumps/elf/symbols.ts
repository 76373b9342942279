/**
 * Symbols of the executable and libraries found for a core: `.symtab` (or
 * `.dynsym` when stripped) read from the section headers
 * (`Elf32_Sym` / `Elf64_Sym`), moved by each file's load bias (mapping start
 * minus link-time address: 0 for a non-PIE executable), named
 * `module!function+0xoff` with the module named after the mapped file.
 *
 * Symbol tables are read on the first lookup, not when the core is opened.
 *
 * @example
 * ```ts
 * const symbols = lazyElfSymbols('x64', modules, files, mappings, 0x1000n, notes);
 * symbols.format(0x40011cn); // 'a.out!bar+0x10'
 * ```
 */
import { basename } from 'node:path';
import type { Arch } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';
import type { DumpModule, DumpNote, SymbolLocation, SymbolTable } from '../model.ts';
import { SymbolIndex } from '../symbol-table.ts';
import { SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB, type SectionHeader } from './elf-header.ts';
import type { ElfImage } from './elf-image.ts';
import type { ResolvedFile } from './mapped-files.ts';
import type { FileMapping } from './process-notes.ts';

const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
/** Symbol and string tables larger than this are not read (bounded memory). */
const MAX_TABLE_BYTES = 64n << 20n;

/** One defined symbol, at its link-time address. */
export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  type: number;
}

/** Mirrors `Elf32_Sym` / `Elf64_Sym` (the name is an offset into the linked string table). */
export interface ElfSymbolEntry {
  name: number;
  info: number;
  shndx: number;
  value: bigint;
  size: bigint;
}

/**
 * Reads one symbol table entry at `offset`.
 *
 * @example
 * ```ts
 * readSymbolEntry(reader, 0x18, 64).value; // st_value of symbol 1
 * ```
 */
export function readSymbolEntry(reader: ByteReader, offset: number, bits: 32 | 64): ElfSymbolEntry {
  if (bits === 64) {
    return {
      name: reader.u32(offset + 0x00, 'st_name'),
      info: reader.u8(offset + 0x04, 'st_info'),
      shndx: reader.u16(offset + 0x06, 'st_shndx'),
      value: reader.u64(offset + 0x08, 'st_value'),
      size: reader.u64(offset + 0x10, 'st_size'),
    };
  }
  return {
    name: reader.u32(offset + 0x00, 'st_name'),
    value: BigInt(reader.u32(offset + 0x04, 'st_value')),
    size: BigInt(reader.u32(offset + 0x08, 'st_size')),
    info: reader.u8(offset + 0x0c, 'st_info'),
    shndx: reader.u16(offset + 0x0e, 'st_shndx'),
  };
}

function tableReader(image: ElfImage, section: SectionHeader, what: string): ByteReader | undefined {
  if (section.type === SHT_NOBITS || section.size === 0n || section.size > MAX_TABLE_BYTES) return undefined;
  if (section.offset + section.size > image.file.size) return undefined;
  return image.file.reader(section.offset, Number(section.size), what);
}

/**
 * The functions and objects `image` defines, from `.symtab`, or `.dynsym`
 * when there is no `.symtab`. Mapping symbols (`$x`, `$d`) and local labels
 * (`.L…`) are left out. Empty when the file has no section headers.
 *
 * @example
 * ```ts
 * readElfSymbols(ElfImage.open('a.out')).find((s) => s.name === 'main')?.value; // 0x401126n
 * ```
 */
export function readElfSymbols(image: ElfImage): ElfSymbol[] {
  const { header } = image;
  const headers = image.sectionHeaders();
  const table = headers.find((h) => h.type === SHT_SYMTAB) ?? headers.find((h) => h.type === SHT_DYNSYM);
  const strings = table ? headers[table.link] : undefined;
  if (!table || !strings) return [];
  const symbolBytes = tableReader(image, table, 'symbol table');
  const stringBytes = tableReader(image, strings, 'string table');
  if (!symbolBytes || !stringBytes) return [];
  const symbolSize = header.bits === 64 ? 0x18 : 0x10;
  const out: ElfSymbol[] = [];
  for (let at = symbolSize; at + symbolSize <= symbolBytes.length; at += symbolSize) {
    const entry = readSymbolEntry(symbolBytes, at, header.bits);
    const type = entry.info & 0xf;
    if (entry.shndx === SHN_UNDEF || entry.shndx >= SHN_LORESERVE || entry.value === 0n) continue;
    if (type !== STT_FUNC && type !== STT_OBJECT && type !== STT_NOTYPE && type !== STT_GNU_IFUNC) continue;
    if (entry.name === 0 || entry.name >= stringBytes.length) continue;
    const name = stringBytes.cString(entry.name, stringBytes.length - entry.name, 'st_name');
    if (name === '' || name.startsWith('$') || name.startsWith('.L')) continue;
    out.push({ name, value: entry.value, size: entry.size, type });
  }
  return out;
}

/**
 * The load bias of `file`: where its first `PT_LOAD` landed minus its
 * link-time page address, from the mapping that holds its file offset.
 * Undefined when no mapping of `path` matches.
 *
 * @example
 * ```ts
 * loadBias(resolved, mappings, 0x1000n); // 0x555555554000n for a PIE run under gdb
 * ```
 */
export function loadBias(file: ResolvedFile, mappings: FileMapping[], pageSize: bigint): bigint | undefined {
  if (file.bias !== undefined) return file.bias;
  const image = file.image;
  if (!image) return undefined;
  const mask = pageSize - 1n;
  for (const load of [...image.loads()].sort((a, b) => (a.offset < b.offset ? -1 : 1))) {
    const fileOffset = load.offset & ~mask;
    const mapping = mappings.find((m) => m.path === file.path && m.fileOffset <= fileOffset && fileOffset < m.fileOffset + (m.end - m.start));
    if (mapping) return mapping.start + (fileOffset - mapping.fileOffset) - (load.vaddr & ~mask);
  }
  return undefined;
}

/**
 * A `SymbolTable` that reads the files' symbol tables on first use.
 *
 * @example
 * ```ts
 * const symbols = lazyElfSymbols('arm64', modules, files, mappings, 0x1000n, notes);
 * symbols.size; // reads now
 * ```
 */
export function lazyElfSymbols(
  arch: Arch, modules: DumpModule[], files: Map<string, ResolvedFile>, mappings: FileMapping[], pageSize: bigint, notes: DumpNote[],
): SymbolTable {
  let index: SymbolIndex | undefined;
  const load = (): SymbolIndex => {
    if (index) return index;
    index = new SymbolIndex({ arch });
    for (const module of modules) index.addModule(module.name, module.base, module.size, { source: module.path ?? module.name });
    for (const file of files.values()) {
      if (!file.image) continue;
      const bias = loadBias(file, mappings, pageSize);
      if (bias === undefined) {
        notes.push({ level: 'warning', message: `No symbols from ${file.foundAt}: none of its segments matches a mapping of ${file.path}` });
        continue;
      }
      const module = basename(file.path);
      try {
        for (const symbol of readElfSymbols(file.image)) {
          index.add(module, symbol.name, symbol.value + bias, symbol.size > 0n ? symbol.size : undefined, { source: file.foundAt });
        }
      } catch (error) {
        notes.push({ level: 'warning', message: `No symbols from ${file.foundAt}: ${(error as Error).message}` });
      }
    }
    return index;
  };
  return {
    lookup: (address: bigint): SymbolLocation | undefined => load().lookup(address),
    resolve: (name: string): bigint | undefined => load().resolve(name),
    format: (address: bigint): string => load().format(address),
    get size(): number {
      return load().size;
    },
  };
}
