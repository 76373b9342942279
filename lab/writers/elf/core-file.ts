/**
 * A Linux ELF core as the kernel or qemu-user writes it: PT_LOAD segments
 * (memory; a segment whose p_filesz is below p_memsz lacks the rest, as the
 * kernel does for file-backed text nobody wrote) and PT_NOTE notes
 * (NT_PRSTATUS per thread, NT_SIGINFO and NT_FILE from the kernel only,
 * NT_AUXV, NT_FPREGSET). Memory bytes stay in the file until asked for.
 *
 * @example
 * ```ts
 * const core = CoreFile.open('core', 'x64');
 * core.threads[0].registers.rip; // 0x557dd3eac514n
 * core.mappedFiles.length;       // 12 (NT_FILE entries; 0 for qemu cores)
 * core.close();
 * ```
 */
import { ElfFile, EM_386, EM_AARCH64, EM_X86_64, ET_CORE, PF_R, PF_W, PF_X, PT_NOTE } from './elf-file.ts';
import { LabInputError } from './file-bytes.ts';
import { NT_AUXV, NT_FILE, NT_FPREGSET, NT_PRSTATUS, NT_SIGINFO, readAuxv, readMappedFiles, readNotes, readSigInfo, type MappedFile, type SignalInfo } from './notes.ts';
import { readPrStatus, type PrStatus } from './prstatus.ts';
import type { WriterArch } from '../crash/registers.ts';

/** A PT_LOAD of the core: [start, start + memsz), of which the first filesz bytes are in the file. */
export interface CoreSegment {
  start: bigint;
  end: bigint;
  /** Bytes held in the core file, from `start`. */
  held: bigint;
  fileOffset: bigint;
  readable: boolean;
  writable: boolean;
  executable: boolean;
}

const MACHINES: Record<WriterArch, number> = { x64: EM_X86_64, x86: EM_386, arm64: EM_AARCH64 };

export class CoreFile {
  private constructor(
    readonly elf: ElfFile,
    readonly arch: WriterArch,
    readonly segments: CoreSegment[],
    readonly threads: PrStatus[],
    readonly signalInfo: SignalInfo | undefined,
    readonly mappedFiles: MappedFile[],
    readonly auxv: Map<number, bigint>,
    /** NT_FPREGSET of the first thread: x86-64's is the 512-byte FXSAVE image. */
    readonly fpregs: Uint8Array | undefined,
  ) {}

  /**
   * Opens the core at `path`, which must be an ET_CORE of `arch`.
   *
   * @example
   * ```ts
   * CoreFile.open('qemu_bugs_20261202-025239_8417.core', 'x86').mappedFiles; // []
   * ```
   */
  static open(path: string, arch: WriterArch): CoreFile {
    const elf = ElfFile.open(path);
    try {
      if (elf.header.type !== ET_CORE) throw new LabInputError(`${path} is ELF type ${elf.header.type}, not a core (ET_CORE)`);
      if (elf.header.machine !== MACHINES[arch]) throw new LabInputError(`${path} is for ELF machine ${elf.header.machine}, not ${arch} (${MACHINES[arch]})`);
      const wordSize = elf.header.wordSize;
      const segments: CoreSegment[] = elf.loads
        .filter((p) => p.memsz > 0n)
        .map((p) => ({
          start: p.vaddr,
          end: p.vaddr + p.memsz,
          held: p.filesz < p.memsz ? p.filesz : p.memsz,
          fileOffset: p.offset,
          readable: (p.flags & PF_R) !== 0,
          writable: (p.flags & PF_W) !== 0,
          executable: (p.flags & PF_X) !== 0,
        }))
        .sort((a, b) => (a.start < b.start ? -1 : 1));
      const threads: PrStatus[] = [];
      let signalInfo: SignalInfo | undefined;
      let mappedFiles: MappedFile[] = [];
      let auxv = new Map<number, bigint>();
      let fpregs: Uint8Array | undefined;
      for (const ph of elf.programHeaders.filter((p) => p.type === PT_NOTE)) {
        const bytes = elf.file.read(ph.offset, Number(ph.filesz), 'PT_NOTE segment');
        for (const note of readNotes(bytes, Number(ph.align))) {
          if (note.name !== 'CORE') continue;
          if (note.type === NT_PRSTATUS) threads.push(readPrStatus(note.desc, arch));
          else if (note.type === NT_SIGINFO && !signalInfo) signalInfo = readSigInfo(note.desc, wordSize);
          else if (note.type === NT_FILE && mappedFiles.length === 0) mappedFiles = readMappedFiles(note.desc, wordSize);
          else if (note.type === NT_AUXV && auxv.size === 0) auxv = readAuxv(note.desc, wordSize);
          else if (note.type === NT_FPREGSET && !fpregs) fpregs = note.desc.slice();
        }
      }
      if (threads.length === 0) throw new LabInputError(`${path} has no NT_PRSTATUS note: no thread registers`);
      return new CoreFile(elf, arch, segments, threads, signalInfo, mappedFiles, auxv, fpregs);
    } catch (error) {
      elf.close();
      throw error;
    }
  }

  get path(): string {
    return this.elf.path;
  }

  /**
   * Up to `length` bytes of `segment` from its file, starting `skip` bytes into it.
   *
   * @example
   * ```ts
   * core.readHeld(core.segments[0], 0n, 16); // the first 16 bytes the segment holds
   * ```
   */
  readHeld(segment: CoreSegment, skip: bigint, length: number): Uint8Array {
    const available = segment.held - skip;
    if (available <= 0n) return new Uint8Array();
    const n = available < BigInt(length) ? Number(available) : length;
    return this.elf.file.readUpTo(segment.fileOffset + skip, n);
  }

  /** Closes the core file. */
  close(): void {
    this.elf.close();
  }
}
