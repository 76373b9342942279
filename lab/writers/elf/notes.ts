/**
 * ELF notes (Elf32_Nhdr/Elf64_Nhdr, the same 12-byte header in both
 * classes: n_namesz, n_descsz, n_type, then the name and the descriptor,
 * each padded to the segment's alignment, 4 in cores) and the notes a
 * Linux core carries: NT_PRSTATUS, NT_FPREGSET, NT_SIGINFO, NT_AUXV, NT_FILE,
 * plus NT_GNU_BUILD_ID in executables.
 *
 * @example
 * ```ts
 * for (const note of readNotes(bytes, 4)) if (note.name === 'CORE' && note.type === NT_PRSTATUS) …;
 * ```
 */
import { cString, le32, leWord } from './file-bytes.ts';

export const NT_PRSTATUS = 1;
export const NT_FPREGSET = 2;
export const NT_AUXV = 6;
export const NT_GNU_BUILD_ID = 3;
export const NT_SIGINFO = 0x53494749;
export const NT_FILE = 0x46494c45;

/** One note: its owner name, type and descriptor bytes. */
export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/**
 * The notes in a PT_NOTE segment's bytes; a truncated last note is dropped.
 *
 * @example
 * ```ts
 * readNotes(segment, 4).map((n) => n.type); // [1, 3, 0x53494749, 6, 0x46494c45, 2]
 * ```
 */
export function readNotes(bytes: Uint8Array, alignment: number): ElfNote[] {
  const notes: ElfNote[] = [];
  const step = alignment === 8 ? 8 : 4;
  let at = 0;
  while (at + 12 <= bytes.length) {
    const namesz = le32(bytes, at);
    const descsz = le32(bytes, at + 4);
    const type = le32(bytes, at + 8);
    const nameAt = at + 12;
    const descAt = nameAt + align(namesz, step);
    if (descAt + descsz > bytes.length) break;
    notes.push({ name: cString(bytes.subarray(nameAt, nameAt + namesz), 0), type, desc: bytes.subarray(descAt, descAt + descsz) });
    at = descAt + align(descsz, step);
  }
  return notes;
}

/** siginfo_t's leading fields and, for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP, si_addr. */
export interface SignalInfo {
  signo: number;
  code: number;
  /** si_addr: at 0x10 in a 64-bit siginfo_t, 0x0c in a 32-bit one. */
  address: bigint;
}

/**
 * NT_SIGINFO's siginfo_t (si_signo @0x0, si_errno @0x4, si_code @0x8, then
 * the union, whose _sigfault.si_addr is pointer-aligned).
 *
 * @example
 * ```ts
 * readSigInfo(note.desc, 8); // { signo: 11, code: 1, address: 0n }
 * ```
 */
export function readSigInfo(desc: Uint8Array, wordSize: 4 | 8): SignalInfo {
  const addressAt = wordSize === 8 ? 0x10 : 0x0c;
  return {
    signo: le32(desc, 0x00),
    code: le32(desc, 0x08) | 0,
    address: desc.length >= addressAt + wordSize ? leWord(desc, addressAt, wordSize) : 0n,
  };
}

/** One NT_FILE entry: a file mapped at [start, end) from page `pageOffset` of `path`. */
export interface MappedFile {
  start: bigint;
  end: bigint;
  /** The file offset of `start`, in bytes (NT_FILE gives it in pages). */
  fileOffset: bigint;
  path: string;
}

/**
 * NT_FILE: count and page size (words), count × (start, end, file offset in
 * pages), then count NUL-terminated paths.
 *
 * @example
 * ```ts
 * readMappedFiles(note.desc, 8)[0]; // { start: 0x557dd3eab000n, end: 0x557dd3eac000n, fileOffset: 0n, path: '/tmp/wl/bugs' }
 * ```
 */
export function readMappedFiles(desc: Uint8Array, wordSize: 4 | 8): MappedFile[] {
  const count = Number(leWord(desc, 0, wordSize));
  const pageSize = leWord(desc, wordSize, wordSize);
  const entriesAt = 2 * wordSize;
  let nameAt = entriesAt + count * 3 * wordSize;
  const files: MappedFile[] = [];
  for (let i = 0; i < count && nameAt < desc.length; i++) {
    const at = entriesAt + i * 3 * wordSize;
    const path = cString(desc, nameAt);
    nameAt += path.length + 1;
    files.push({
      start: leWord(desc, at, wordSize),
      end: leWord(desc, at + wordSize, wordSize),
      fileOffset: leWord(desc, at + 2 * wordSize, wordSize) * pageSize,
      path,
    });
  }
  return files;
}

/**
 * NT_AUXV: (a_type, a_val) word pairs up to AT_NULL, as a map.
 *
 * @example
 * ```ts
 * readAuxv(note.desc, 4).get(AT_ENTRY); // 0x400013c0n
 * ```
 */
export function readAuxv(desc: Uint8Array, wordSize: 4 | 8): Map<number, bigint> {
  const values = new Map<number, bigint>();
  for (let at = 0; at + 2 * wordSize <= desc.length; at += 2 * wordSize) {
    const type = Number(leWord(desc, at, wordSize));
    if (type === 0) break;
    values.set(type, leWord(desc, at + wordSize, wordSize));
  }
  return values;
}

export const AT_PHDR = 3;
export const AT_BASE = 7;
export const AT_ENTRY = 9;
