/**
 * An executable or shared object opened read-only beside a core: its file
 * header and program headers, read positionally, for filling the pages a
 * core leaves out, computing the load bias and reading symbols. Nothing
 * else is read until asked for.
 *
 * @example
 * ```ts
 * const image = ElfImage.open('/usr/lib/x86_64-linux-gnu/libc.so.6');
 * image.header.type;   // ET_DYN
 * image.loads()[0].vaddr; // 0n
 * image.buildId();        // '5f1c…' (lower-case hex), or undefined
 * image.close();
 * ```
 */
import { FileSource } from '../binary/file-source.ts';
import { readElfHeader, readSectionHeader, sectionHeaderSize, type ElfHeader, type SectionHeader } from './elf-header.ts';
import { gnuBuildId, walkNotes } from './notes.ts';
import { PT_LOAD, PT_NOTE, readProgramHeaders, segmentName, type ProgramHeader } from './program-headers.ts';

/** Section names read at most. */
const MAX_SECTION_NAMES = 0x100000n;
/** Note segments larger than this are not searched for a build id (bounded reads). */
const MAX_NOTE_BYTES = 0x10000n;

export class ElfImage {
  private constructor(
    readonly file: FileSource,
    readonly header: ElfHeader,
    readonly programHeaders: ProgramHeader[],
  ) {}

  /**
   * Opens `path`; a missing file or one that is not ELF is a
   * DumpFormatError (format `elf`) naming the path.
   */
  static open(path: string): ElfImage {
    const file = FileSource.open(path, 'elf');
    try {
      return ElfImage.fromFile(file);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Reads the headers of an already open file; the caller keeps owning `file` if this throws. */
  static fromFile(file: FileSource): ElfImage {
    const size = Number(file.size < 0x40n ? file.size : 0x40n);
    const header = readElfHeader(file.reader(0n, size, 'ELF header'), 0);
    return new ElfImage(file, header, readProgramHeaders(file, header));
  }

  get path(): string {
    return this.file.path;
  }

  /** The section header table, empty when the file has none or it does not fit in the file. */
  sectionHeaders(): SectionHeader[] {
    const { header, file } = this;
    const entrySize = sectionHeaderSize(header.bits);
    if (header.shoff === 0n || header.shnum === 0 || header.shentsize !== entrySize) return [];
    const tableSize = BigInt(header.shnum) * BigInt(entrySize);
    if (header.shoff + tableSize > file.size) return [];
    const table = file.reader(header.shoff, Number(tableSize), 'section header table');
    return Array.from({ length: header.shnum }, (_, i) => readSectionHeader(table, i * entrySize, header.bits));
  }

  /**
   * The section header named `name` (`.eh_frame`), or undefined when the file
   * has no section headers, no such section, or a table that does not fit in
   * the file (read bounded: at most 64 K headers and 1 MiB of names).
   */
  section(name: string): SectionHeader | undefined {
    const { header, file } = this;
    const headers = this.sectionHeaders();
    if (header.shstrndx >= headers.length) return undefined;
    const names = headers[header.shstrndx]!;
    if (names.size === 0n || names.size > MAX_SECTION_NAMES || names.offset + names.size > file.size) return undefined;
    const bytes = file.reader(names.offset, Number(names.size), 'section names');
    const wanted = new TextEncoder().encode(`${name}\0`);
    return headers.find((h) => h.name + wanted.length <= bytes.length && wanted.every((b, k) => bytes.u8(h.name + k, 'section name') === b));
  }

  /** The `PT_LOAD` segments, in table order. */
  loads(): ProgramHeader[] {
    return this.programHeaders.filter((h) => h.type === PT_LOAD);
  }

  /**
   * The GNU build id (`NT_GNU_BUILD_ID` in a `PT_NOTE` segment, what
   * `.note.gnu.build-id` holds) as lower-case hex, or undefined when the
   * file has none. Malformed note segments are passed over.
   */
  buildId(): string | undefined {
    for (const segment of this.programHeaders) {
      if (segment.type !== PT_NOTE || segment.filesz === 0n || segment.filesz > MAX_NOTE_BYTES || segment.offset + segment.filesz > this.file.size) continue;
      const name = segmentName(segment);
      try {
        const reader = this.file.reader(segment.offset, Number(segment.filesz), name);
        const id = gnuBuildId(walkNotes(reader, name, segment.align === 8n ? 8 : 4).notes);
        if (id !== undefined) return id;
      } catch {
        continue;
      }
    }
    return undefined;
  }

  close(): void {
    this.file.close();
  }
}
