/**
 * An ELF file's header, program headers and section headers, read as the
 * System V gABI lays them out (Elf32_Ehdr/Elf64_Ehdr, Elf32_Phdr/Elf64_Phdr,
 * Elf32_Shdr/Elf64_Shdr; little-endian only, which is all the lab makes).
 * Used for cores (program headers, notes) and for the executables and
 * libraries whose code a core lacks.
 *
 * @example
 * ```ts
 * const elf = ElfFile.open('bugs');
 * elf.header.machine;                      // 62 (EM_X86_64)
 * elf.programHeaders.filter((p) => p.type === PT_LOAD).length; // 4
 * elf.close();
 * ```
 */
import { FileBytes, LabInputError, le16, le32, leWord } from './file-bytes.ts';

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** Elf32_Ehdr / Elf64_Ehdr, the fields the writers use. */
export interface ElfHeader {
  /** 4 for ELFCLASS32, 8 for ELFCLASS64: the size of addresses and words. */
  wordSize: 4 | 8;
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

/** Elf32_Phdr / Elf64_Phdr. */
export interface ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** Elf32_Shdr / Elf64_Shdr, with its name resolved. */
export interface SectionHeader {
  name: string;
  type: number;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  entsize: bigint;
}

/**
 * Elf32_Ehdr / Elf64_Ehdr at the start of `bytes` (at least 0x40 bytes, 0x34 for ELF32).
 *
 * @example
 * ```ts
 * readElfHeader(file.read(0n, 64, 'ELF header'), 'bugs').wordSize; // 8
 * ```
 */
export function readElfHeader(bytes: Uint8Array, path: string): ElfHeader {
  if (bytes.length < 0x34 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new LabInputError(`${path} is not an ELF file (no \\x7fELF at offset 0)`);
  }
  if (bytes[5] !== 1) throw new LabInputError(`${path} is big-endian ELF (EI_DATA ${bytes[5]}); the lab writers read little-endian files only`);
  const cls = bytes[4];
  if (cls === 2) {
    if (bytes.length < 0x40) throw new LabInputError(`${path}: ELF64 header needs 64 bytes, got ${bytes.length}`);
    return {
      wordSize: 8,
      type: le16(bytes, 0x10),
      machine: le16(bytes, 0x12),
      entry: leWord(bytes, 0x18, 8),
      phoff: leWord(bytes, 0x20, 8),
      shoff: leWord(bytes, 0x28, 8),
      phentsize: le16(bytes, 0x36),
      phnum: le16(bytes, 0x38),
      shentsize: le16(bytes, 0x3a),
      shnum: le16(bytes, 0x3c),
      shstrndx: le16(bytes, 0x3e),
    };
  }
  if (cls === 1) {
    return {
      wordSize: 4,
      type: le16(bytes, 0x10),
      machine: le16(bytes, 0x12),
      entry: leWord(bytes, 0x18, 4),
      phoff: leWord(bytes, 0x1c, 4),
      shoff: leWord(bytes, 0x20, 4),
      phentsize: le16(bytes, 0x2a),
      phnum: le16(bytes, 0x2c),
      shentsize: le16(bytes, 0x2e),
      shnum: le16(bytes, 0x30),
      shstrndx: le16(bytes, 0x32),
    };
  }
  throw new LabInputError(`${path} has ELF class ${cls}, neither ELFCLASS32 nor ELFCLASS64`);
}

/**
 * Elf32_Phdr / Elf64_Phdr at `offset` in `bytes`.
 *
 * @example
 * ```ts
 * readProgramHeader(table, 0x38, 8).type; // PT_LOAD
 * ```
 */
export function readProgramHeader(bytes: Uint8Array, offset: number, wordSize: 4 | 8): ProgramHeader {
  if (wordSize === 8) {
    return {
      type: le32(bytes, offset + 0x00),
      flags: le32(bytes, offset + 0x04),
      offset: leWord(bytes, offset + 0x08, 8),
      vaddr: leWord(bytes, offset + 0x10, 8),
      filesz: leWord(bytes, offset + 0x20, 8),
      memsz: leWord(bytes, offset + 0x28, 8),
      align: leWord(bytes, offset + 0x30, 8),
    };
  }
  return {
    type: le32(bytes, offset + 0x00),
    offset: leWord(bytes, offset + 0x04, 4),
    vaddr: leWord(bytes, offset + 0x08, 4),
    filesz: leWord(bytes, offset + 0x10, 4),
    memsz: leWord(bytes, offset + 0x14, 4),
    flags: le32(bytes, offset + 0x18),
    align: leWord(bytes, offset + 0x1c, 4),
  };
}

function readSectionHeader(bytes: Uint8Array, offset: number, wordSize: 4 | 8): Omit<SectionHeader, 'name'> & { nameOffset: number } {
  if (wordSize === 8) {
    return {
      nameOffset: le32(bytes, offset + 0x00),
      type: le32(bytes, offset + 0x04),
      addr: leWord(bytes, offset + 0x10, 8),
      offset: leWord(bytes, offset + 0x18, 8),
      size: leWord(bytes, offset + 0x20, 8),
      link: le32(bytes, offset + 0x28),
      entsize: leWord(bytes, offset + 0x38, 8),
    };
  }
  return {
    nameOffset: le32(bytes, offset + 0x00),
    type: le32(bytes, offset + 0x04),
    addr: leWord(bytes, offset + 0x0c, 4),
    offset: leWord(bytes, offset + 0x10, 4),
    size: leWord(bytes, offset + 0x14, 4),
    link: le32(bytes, offset + 0x18),
    entsize: leWord(bytes, offset + 0x24, 4),
  };
}

/** An ELF file opened for reading: header and program headers read at once, sections on demand. */
export class ElfFile {
  private sectionCache: SectionHeader[] | undefined;

  private constructor(
    readonly file: FileBytes,
    readonly header: ElfHeader,
    readonly programHeaders: ProgramHeader[],
  ) {}

  /**
   * Opens `path` and reads its header and program headers.
   *
   * @example
   * ```ts
   * ElfFile.open('/lib/x86_64-linux-gnu/libc.so.6').header.type; // ET_DYN
   * ```
   */
  static open(path: string): ElfFile {
    const file = FileBytes.open(path);
    try {
      const header = readElfHeader(file.readUpTo(0n, 64), path);
      const phsize = header.wordSize === 8 ? 0x38 : 0x20;
      if (header.phnum > 0 && header.phentsize < phsize) throw new LabInputError(`${path}: e_phentsize ${header.phentsize} is smaller than ${phsize}`);
      const table = file.read(header.phoff, header.phnum * header.phentsize, 'program headers');
      const programHeaders = Array.from({ length: header.phnum }, (_, i) => readProgramHeader(table, i * header.phentsize, header.wordSize));
      return new ElfFile(file, header, programHeaders);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  get path(): string {
    return this.file.path;
  }

  /** PT_LOAD headers in file order. */
  get loads(): ProgramHeader[] {
    return this.programHeaders.filter((p) => p.type === PT_LOAD);
  }

  /**
   * Section headers with names (empty for a file without them, such as a core).
   *
   * @example
   * ```ts
   * elf.sections().find((s) => s.name === '.symtab')?.size; // 0x1170n
   * ```
   */
  sections(): SectionHeader[] {
    if (this.sectionCache) return this.sectionCache;
    const { shoff, shnum, shentsize, shstrndx, wordSize } = this.header;
    const size = wordSize === 8 ? 0x40 : 0x28;
    if (shoff === 0n || shnum === 0 || shentsize < size) return (this.sectionCache = []);
    const table = this.file.read(shoff, shnum * shentsize, 'section headers');
    const raw = Array.from({ length: shnum }, (_, i) => readSectionHeader(table, i * shentsize, wordSize));
    const names = raw[shstrndx];
    const strings = names ? this.file.readUpTo(names.offset, Number(names.size)) : new Uint8Array();
    this.sectionCache = raw.map(({ nameOffset, ...rest }) => ({ ...rest, name: nameOffset < strings.length ? decodeName(strings, nameOffset) : '' }));
    return this.sectionCache;
  }

  /** Closes the file. */
  close(): void {
    this.file.close();
  }
}

function decodeName(strings: Uint8Array, offset: number): string {
  let end = offset;
  while (end < strings.length && strings[end] !== 0) end++;
  return new TextDecoder('latin1').decode(strings.subarray(offset, end));
}
