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
 * image.close();
 * ```
 */
import { FileSource } from '../binary/file-source.ts';
import { readElfHeader, type ElfHeader } from './elf-header.ts';
import { PT_LOAD, readProgramHeaders, type ProgramHeader } from './program-headers.ts';

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

  /** The `PT_LOAD` segments, in table order. */
  loads(): ProgramHeader[] {
    return this.programHeaders.filter((h) => h.type === PT_LOAD);
  }

  close(): void {
    this.file.close();
  }
}
