/**
 * The process-wide notes of a Linux core, other than `NT_PRSTATUS`:
 * `NT_PRPSINFO` (`struct elf_prpsinfo`: name and arguments), `NT_SIGINFO`
 * (the `siginfo_t` of the fatal signal), `NT_AUXV` (the auxiliary vector),
 * `NT_FILE` (the file-backed mappings), and the thread-pointer notes
 * `NT_386_TLS` (`struct user_desc[]`) and `NT_ARM_TLS` (`tpidr_el0`).
 * Offsets are from the kernel's `elfcore.h`, `siginfo.h` and
 * `fs/binfmt_elf.c` (`fill_files_note`), with each ABI's type sizes.
 *
 * @example
 * ```ts
 * const info = readSiginfo(note.desc, 0, 64);
 * info.signal; // 11 (SIGSEGV)
 * info.address; // 0n
 * ```
 */
import type { ByteReader } from '../binary/byte-reader.ts';

/** The parts of `elf_prpsinfo` faultline uses. */
export interface Prpsinfo {
  pid: number;
  /** `pr_fname`: the executable's name, at most 16 bytes. */
  name: string;
  /** `pr_psargs`: the start of the command line, at most 80 bytes. */
  args: string;
}

/**
 * Reads `elf_prpsinfo` at `offset`. Its layout depends on the ABI, told by
 * the descriptor's size: 0x88 (64-bit), 0x7c (i386, 16-bit uids) or 0x80
 * (other 32-bit ABIs such as x32). Undefined for any other size.
 *
 * @example
 * ```ts
 * readPrpsinfo(note.desc, 0, note.desc.length)?.name; // 'a.out'
 * ```
 */
export function readPrpsinfo(reader: ByteReader, offset: number, size: number): Prpsinfo | undefined {
  const at = size === 0x88 ? { pid: 0x18, fname: 0x28, psargs: 0x38 }
    : size === 0x7c ? { pid: 0x0c, fname: 0x1c, psargs: 0x2c }
    : size === 0x80 ? { pid: 0x10, fname: 0x20, psargs: 0x30 }
    : undefined;
  if (!at) return undefined;
  return {
    pid: reader.i32(offset + at.pid, 'pr_pid'),
    name: reader.cString(offset + at.fname, 16, 'pr_fname'),
    args: reader.cString(offset + at.psargs, 80, 'pr_psargs').trimEnd(),
  };
}

/** Signals whose `siginfo_t` carries a faulting address (`_sigfault.si_addr`) when the kernel raised them. */
const FAULT_SIGNALS = new Set([4 /* SIGILL */, 5 /* SIGTRAP */, 7 /* SIGBUS */, 8 /* SIGFPE */, 11 /* SIGSEGV */]);

/** The parts of `siginfo_t` faultline uses. */
export interface Siginfo {
  signal: number;
  errno: number;
  code: number;
  /** `si_addr`, only for SIGILL/SIGTRAP/SIGBUS/SIGFPE/SIGSEGV raised by the kernel (`si_code` > 0). */
  address?: bigint;
}

/**
 * Reads `siginfo_t` at `offset`: `si_signo` 0x0, `si_errno` 0x4, `si_code`
 * 0x8, and the union at 0x10 (64-bit, after padding) or 0xc (32-bit).
 * A signal sent by a process (`si_code` ≤ 0) has a pid there, not an address.
 *
 * @example
 * ```ts
 * readSiginfo(note.desc, 0, 32).address; // 0x0n for a NULL dereference
 * ```
 */
export function readSiginfo(reader: ByteReader, offset: number, bits: 32 | 64): Siginfo {
  const signal = reader.i32(offset + 0x00, 'si_signo');
  const errno = reader.i32(offset + 0x04, 'si_errno');
  const code = reader.i32(offset + 0x08, 'si_code');
  const info: Siginfo = { signal, errno, code };
  if (FAULT_SIGNALS.has(signal) && code > 0) {
    info.address = bits === 64 ? reader.u64(offset + 0x10, 'si_addr') : BigInt(reader.u32(offset + 0x0c, 'si_addr'));
  }
  return info;
}

export const AT_NULL = 0;
export const AT_PHDR = 3;
export const AT_PAGESZ = 6;
export const AT_BASE = 7;
export const AT_ENTRY = 9;
export const AT_EXECFN = 31;

/** One `(a_type, a_val)` pair of the auxiliary vector. */
export interface AuxvEntry {
  type: number;
  value: bigint;
}

function word(reader: ByteReader, offset: number, bits: 32 | 64, field: string): bigint {
  return bits === 64 ? reader.u64(offset, field) : BigInt(reader.u32(offset, field));
}

/**
 * Reads the auxiliary vector (`Elf_auxv_t[]`) from `offset` to `AT_NULL` or
 * the end of the descriptor.
 *
 * @example
 * ```ts
 * readAuxv(note.desc, 0, 64).find((e) => e.type === AT_ENTRY)?.value; // 0x400100n
 * ```
 */
export function readAuxv(reader: ByteReader, offset: number, bits: 32 | 64): AuxvEntry[] {
  const size = bits / 4;
  const entries: AuxvEntry[] = [];
  for (let at = offset; at + size <= reader.length; at += size) {
    const typeWord = word(reader, at, bits, 'a_type');
    if (typeWord === BigInt(AT_NULL)) break;
    entries.push({ type: Number(typeWord & 0xffff_ffffn), value: word(reader, at + size / 2, bits, 'a_val') });
  }
  return entries;
}

/** One file-backed mapping from `NT_FILE`. */
export interface FileMapping {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** Byte offset in the file (`file_ofs` × page size). */
  fileOffset: bigint;
  /** As the kernel saw it, e.g. `/usr/lib/x86_64-linux-gnu/libc.so.6`. */
  path: string;
}

/** `NT_FILE`'s contents. */
export interface FileNote {
  pageSize: bigint;
  mappings: FileMapping[];
}

/**
 * Reads `NT_FILE` at `offset`: `count` and `page_size` (words), then
 * `count` × (`start`, `end`, `file_ofs` in pages), then `count`
 * NUL-terminated paths. A count that does not fit the descriptor, a
 * mapping that ends before it starts, or missing paths throw a
 * DumpFormatError naming the note.
 *
 * @example
 * ```ts
 * readFileNote(note.desc, 0, 64).mappings[0]; // { start: 0x400000n, end: 0x401000n, fileOffset: 0n, path: '/home/labath/test/a.out' }
 * ```
 */
export function readFileNote(reader: ByteReader, offset: number, bits: 32 | 64): FileNote {
  const size = bits / 8;
  const count = word(reader, offset + 0x0, bits, 'count');
  const pageSize = word(reader, offset + size, bits, 'page_size');
  const tableEnd = BigInt(offset) + (2n + 3n * count) * BigInt(size);
  if (tableEnd > BigInt(reader.length)) {
    throw reader.error(offset, `NT_FILE count ${count} needs 0x${tableEnd.toString(16)} bytes but the note holds 0x${reader.length.toString(16)}`);
  }
  const mappings: FileMapping[] = [];
  let nameAt = Number(tableEnd);
  for (let i = 0; i < Number(count); i++) {
    const at = offset + (2 + 3 * i) * size;
    const start = word(reader, at, bits, `[${i}].start`);
    const end = word(reader, at + size, bits, `[${i}].end`);
    const pages = word(reader, at + 2 * size, bits, `[${i}].file_ofs`);
    if (end < start) throw reader.error(at, `NT_FILE mapping ${i} ends (0x${end.toString(16)}) before it starts (0x${start.toString(16)})`);
    if (nameAt >= reader.length) throw reader.error(nameAt, `NT_FILE has ${count} mappings but only ${i} paths`);
    const path = reader.cString(nameAt, reader.length - nameAt, `[${i}].path`);
    nameAt += Buffer.byteLength(path) + 1;
    mappings.push({ start, end, fileOffset: pages * pageSize, path });
  }
  return { pageSize, mappings };
}

/** One `struct user_desc` of `NT_386_TLS`: a GDT TLS entry. */
export interface TlsDescriptor {
  entry: number;
  base: bigint;
}

/**
 * Reads `NT_386_TLS` at `offset`: `user_desc` entries of 0x10 bytes
 * (`entry_number` 0x0, `base_addr` 0x4, `limit` 0x8, flags 0xc).
 *
 * @example
 * ```ts
 * readX86Tls(note.desc, 0).find((d) => d.entry === Number(gs >> 3n))?.base; // gs_base
 * ```
 */
export function readX86Tls(reader: ByteReader, offset: number): TlsDescriptor[] {
  const out: TlsDescriptor[] = [];
  for (let at = offset; at + 0x10 <= reader.length; at += 0x10) {
    out.push({ entry: reader.u32(at + 0x0, 'entry_number'), base: BigInt(reader.u32(at + 0x4, 'base_addr')) });
  }
  return out;
}

/**
 * Reads `NT_ARM_TLS` at `offset`: `tpidr_el0` (u64).
 *
 * @example
 * ```ts
 * readArmTls(note.desc, 0); // 0xffffa5f3e020n
 * ```
 */
export function readArmTls(reader: ByteReader, offset: number): bigint {
  return reader.u64(offset, 'tpidr_el0');
}
