/**
 * The ELF file header (`Elf32_Ehdr` / `Elf64_Ehdr`) and section header
 * (`Elf32_Shdr` / `Elf64_Shdr`), as the System V gABI and `<elf.h>` lay them
 * out. Cores, executables and shared objects all start here; only
 * little-endian files are read (every architecture faultline emulates is).
 *
 * @example
 * ```ts
 * const file = FileSource.open('core', 'elf-core');
 * const header = readElfHeader(file.reader(0n, Number(min(file.size, 0x40n)), 'ELF header'), 0);
 * header.type;    // ET_CORE (4)
 * header.machine; // EM_X86_64 (62)
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** `e_phnum` value meaning "the count is in section header 0's `sh_info`". */
export const PN_XNUM = 0xffff;

const TYPE_NAMES: Record<number, string> = { 0: 'ET_NONE', 1: 'ET_REL', 2: 'ET_EXEC', 3: 'ET_DYN', 4: 'ET_CORE' };

/** `ET_CORE` for 4, or the bare number. */
export function elfTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `0x${type.toString(16)}`;
}

/** Mirrors `Elf32_Ehdr` / `Elf64_Ehdr`, widened: addresses and offsets are bigints in both classes. */
export interface ElfHeader {
  /** 32 or 64, from `e_ident[EI_CLASS]`. */
  bits: 32 | 64;
  /** `e_ident[EI_OSABI]`: 0 for System V (Linux cores), 9 for FreeBSD. */
  osabi: number;
  type: number;
  machine: number;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  phentsize: number;
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

/** Size of the file header: 0x34 for ELFCLASS32, 0x40 for ELFCLASS64. */
export function elfHeaderSize(bits: 32 | 64): number {
  return bits === 64 ? 0x40 : 0x34;
}

/**
 * Reads `e_ident` and the header after it at `offset`. Throws a
 * DumpFormatError (`bad-magic`) for a file that is not ELF, and
 * (`unsupported`) for big-endian or unknown-class files.
 *
 * @example
 * ```ts
 * readElfHeader(reader, 0).bits; // 64
 * ```
 */
export function readElfHeader(reader: ByteReader, offset: number): ElfHeader {
  const magic = reader.u32(offset + 0x00, 'e_ident[EI_MAG]');
  if (magic !== 0x464c457f) throw reader.error(offset, `Not an ELF file (magic 0x${magic.toString(16).padStart(8, '0')})`, 'bad-magic');
  const elfClass = reader.u8(offset + 0x04, 'e_ident[EI_CLASS]');
  const data = reader.u8(offset + 0x05, 'e_ident[EI_DATA]');
  const osabi = reader.u8(offset + 0x07, 'e_ident[EI_OSABI]');
  if (elfClass !== ELFCLASS32 && elfClass !== ELFCLASS64) throw reader.error(offset + 0x04, `Unknown ELF class ${elfClass}`, 'unsupported');
  if (data !== ELFDATA2LSB) throw reader.error(offset + 0x05, `Only little-endian ELF files are supported (EI_DATA ${data})`, 'unsupported');
  const type = reader.u16(offset + 0x10, 'e_type');
  const machine = reader.u16(offset + 0x12, 'e_machine');
  if (elfClass === ELFCLASS64) {
    return {
      bits: 64, osabi, type, machine,
      entry: reader.u64(offset + 0x18, 'e_entry'),
      phoff: reader.u64(offset + 0x20, 'e_phoff'),
      shoff: reader.u64(offset + 0x28, 'e_shoff'),
      phentsize: reader.u16(offset + 0x36, 'e_phentsize'),
      phnum: reader.u16(offset + 0x38, 'e_phnum'),
      shentsize: reader.u16(offset + 0x3a, 'e_shentsize'),
      shnum: reader.u16(offset + 0x3c, 'e_shnum'),
      shstrndx: reader.u16(offset + 0x3e, 'e_shstrndx'),
    };
  }
  return {
    bits: 32, osabi, type, machine,
    entry: BigInt(reader.u32(offset + 0x18, 'e_entry')),
    phoff: BigInt(reader.u32(offset + 0x1c, 'e_phoff')),
    shoff: BigInt(reader.u32(offset + 0x20, 'e_shoff')),
    phentsize: reader.u16(offset + 0x2a, 'e_phentsize'),
    phnum: reader.u16(offset + 0x2c, 'e_phnum'),
    shentsize: reader.u16(offset + 0x2e, 'e_shentsize'),
    shnum: reader.u16(offset + 0x30, 'e_shnum'),
    shstrndx: reader.u16(offset + 0x32, 'e_shstrndx'),
  };
}

/** Mirrors `Elf32_Shdr` / `Elf64_Shdr`. */
export interface SectionHeader {
  name: number;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  entsize: bigint;
}

export const SHT_SYMTAB = 2;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;

/** Size of one section header: 0x28 (ELFCLASS32) or 0x40 (ELFCLASS64). */
export function sectionHeaderSize(bits: 32 | 64): number {
  return bits === 64 ? 0x40 : 0x28;
}

/**
 * Reads one section header at `offset`.
 *
 * @example
 * ```ts
 * const sh = readSectionHeader(file.reader(header.shoff, 0x40, 'section header 0'), 0, 64);
 * sh.info; // the real e_phnum when e_phnum is PN_XNUM
 * ```
 */
export function readSectionHeader(reader: ByteReader, offset: number, bits: 32 | 64): SectionHeader {
  if (bits === 64) {
    return {
      name: reader.u32(offset + 0x00, 'sh_name'),
      type: reader.u32(offset + 0x04, 'sh_type'),
      flags: reader.u64(offset + 0x08, 'sh_flags'),
      addr: reader.u64(offset + 0x10, 'sh_addr'),
      offset: reader.u64(offset + 0x18, 'sh_offset'),
      size: reader.u64(offset + 0x20, 'sh_size'),
      link: reader.u32(offset + 0x28, 'sh_link'),
      info: reader.u32(offset + 0x2c, 'sh_info'),
      entsize: reader.u64(offset + 0x38, 'sh_entsize'),
    };
  }
  return {
    name: reader.u32(offset + 0x00, 'sh_name'),
    type: reader.u32(offset + 0x04, 'sh_type'),
    flags: BigInt(reader.u32(offset + 0x08, 'sh_flags')),
    addr: BigInt(reader.u32(offset + 0x0c, 'sh_addr')),
    offset: BigInt(reader.u32(offset + 0x10, 'sh_offset')),
    size: BigInt(reader.u32(offset + 0x14, 'sh_size')),
    link: reader.u32(offset + 0x18, 'sh_link'),
    info: reader.u32(offset + 0x1c, 'sh_info'),
    entsize: BigInt(reader.u32(offset + 0x24, 'sh_entsize')),
  };
}
