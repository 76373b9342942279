/**
 * Program headers (`Elf32_Phdr` / `Elf64_Phdr`): the segments of a core
 * (`PT_LOAD` = a range of the process's memory, `PT_NOTE` = thread and
 * process state) or of an executable. The table is read in one bounded
 * read after its size is checked against the file, so an absurd `e_phnum`
 * is an error, not an allocation.
 *
 * @example
 * ```ts
 * const headers = readProgramHeaders(file, header);
 * headers.filter((h) => h.type === PT_LOAD).length; // 5
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';
import type { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { PN_XNUM, readSectionHeader, sectionHeaderSize, type ElfHeader } from './elf-header.ts';

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** Mirrors `Elf32_Phdr` / `Elf64_Phdr`, with its index and where it was read. */
export interface ProgramHeader {
  /** Position in the table, for messages (`PT_LOAD #3`). */
  index: number;
  /** File offset of this header itself. */
  headerOffset: bigint;
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** Size of one program header: 0x20 (ELFCLASS32) or 0x38 (ELFCLASS64). */
export function programHeaderSize(bits: 32 | 64): number {
  return bits === 64 ? 0x38 : 0x20;
}

/**
 * Reads one program header at `offset` (`index` and `headerOffset` are for messages).
 *
 * @example
 * ```ts
 * const ph = readProgramHeader(reader, 0x38, 64, 1);
 * ph.type === PT_LOAD; // true
 * ```
 */
export function readProgramHeader(reader: ByteReader, offset: number, bits: 32 | 64, index: number): ProgramHeader {
  const headerOffset = reader.origin.base + BigInt(offset);
  if (bits === 64) {
    return {
      index, headerOffset,
      type: reader.u32(offset + 0x00, 'p_type'),
      flags: reader.u32(offset + 0x04, 'p_flags'),
      offset: reader.u64(offset + 0x08, 'p_offset'),
      vaddr: reader.u64(offset + 0x10, 'p_vaddr'),
      filesz: reader.u64(offset + 0x20, 'p_filesz'),
      memsz: reader.u64(offset + 0x28, 'p_memsz'),
      align: reader.u64(offset + 0x30, 'p_align'),
    };
  }
  return {
    index, headerOffset,
    type: reader.u32(offset + 0x00, 'p_type'),
    offset: BigInt(reader.u32(offset + 0x04, 'p_offset')),
    vaddr: BigInt(reader.u32(offset + 0x08, 'p_vaddr')),
    filesz: BigInt(reader.u32(offset + 0x10, 'p_filesz')),
    memsz: BigInt(reader.u32(offset + 0x14, 'p_memsz')),
    flags: reader.u32(offset + 0x18, 'p_flags'),
    align: BigInt(reader.u32(offset + 0x1c, 'p_align')),
  };
}

/** `PT_LOAD`, `PT_NOTE`, or the type in hex. */
export function segmentTypeName(type: number): string {
  return type === PT_LOAD ? 'PT_LOAD' : type === PT_NOTE ? 'PT_NOTE' : type === PT_DYNAMIC ? 'PT_DYNAMIC' : `p_type 0x${type.toString(16)}`;
}

/** `PT_LOAD #3`, for messages and provenance. */
export function segmentName(header: ProgramHeader): string {
  return `${segmentTypeName(header.type)} #${header.index}`;
}

/**
 * The whole program header table of `file`, whose file header is `header`.
 * `e_phnum == PN_XNUM` takes the count from section header 0. A table that
 * does not fit in the file, or entries of the wrong size, throw a
 * DumpFormatError naming `e_phnum`/`e_phentsize` and the offset.
 *
 * @example
 * ```ts
 * const loads = readProgramHeaders(file, header).filter((h) => h.type === PT_LOAD);
 * ```
 */
export function readProgramHeaders(file: FileSource, header: ElfHeader): ProgramHeader[] {
  const entrySize = programHeaderSize(header.bits);
  const fail = (message: string, offset: bigint, code: 'truncated' | 'bad-field' = 'bad-field'): DumpFormatError =>
    new DumpFormatError(file.format, file.path, message, { offset, code });
  let count = header.phnum;
  if (count === PN_XNUM) {
    const size = sectionHeaderSize(header.bits);
    if (header.shoff === 0n) throw fail('e_phnum is PN_XNUM (0xffff) but there is no section header 0 to hold the count (e_shoff 0)', 0n);
    count = readSectionHeader(file.reader(header.shoff, size, 'section header 0'), 0, header.bits).info;
  }
  if (count === 0) return [];
  if (header.phentsize !== entrySize) {
    throw fail(`e_phentsize is ${header.phentsize}, expected ${entrySize} for ELFCLASS${header.bits}`, header.bits === 64 ? 0x36n : 0x2an);
  }
  const tableSize = BigInt(count) * BigInt(entrySize);
  if (header.phoff + tableSize > file.size) {
    throw fail(
      `The program header table (e_phnum ${count} × ${entrySize} bytes at offset 0x${header.phoff.toString(16)}) runs past the end of the file (${file.size} bytes)`,
      header.phoff, 'truncated',
    );
  }
  const reader = file.reader(header.phoff, Number(tableSize), 'program header table');
  return Array.from({ length: count }, (_, i) => readProgramHeader(reader, i * entrySize, header.bits, i));
}
