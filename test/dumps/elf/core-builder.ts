/**
 * Builds synthetic ELF cores and executables for tests. It does not import
 * the parser's layouts: structs are laid out here by C's rules from their
 * field lists (as written in the kernel's `elfcore.h`, `user_32.h`,
 * `user_64.h`, AArch64's `ptrace.h`, and `<elf.h>`), so a wrong offset in
 * the parser cannot hide behind the same mistake twice.
 *
 * @example
 * ```ts
 * const core = buildCore({ bits: 64, machine: 62, notes: [prstatusX64({ pid: 7, signal: 11, regs: { ip: 0x401000n } })], segments: [] });
 * writeFileSync(path, core);
 * ```
 */

export type CType = 'char' | 'short' | 'int' | 'long' | 'u64';
/** A struct field: C type, value (bytes for arrays), and for arrays the element count. */
export type CField = [type: CType, value: number | bigint | Uint8Array | string, count?: number];

function sizeOf(type: CType, bits: 32 | 64): number {
  switch (type) {
    case 'char': return 1;
    case 'short': return 2;
    case 'int': return 4;
    case 'long': return bits / 8;
    case 'u64': return 8;
  }
}

/** Alignment of a type: its size, except `u64` on i386, which the i386 ABI aligns to 4. */
function alignOf(type: CType, bits: 32 | 64): number {
  return type === 'u64' && bits === 32 ? 4 : sizeOf(type, bits);
}

/**
 * Lays out `fields` as a C compiler would for an ABI with `bits`-bit longs,
 * little-endian, and returns the bytes (padded to the struct's alignment)
 * with each field's offset.
 */
export function cStruct(bits: 32 | 64, fields: CField[]): { bytes: Uint8Array; offsets: number[] } {
  let at = 0;
  let maxAlign = 1;
  const placed: { offset: number; field: CField }[] = [];
  for (const field of fields) {
    const [type, , count] = field;
    const align = alignOf(type, bits);
    maxAlign = Math.max(maxAlign, align);
    at = Math.ceil(at / align) * align;
    placed.push({ offset: at, field });
    at += sizeOf(type, bits) * (count ?? 1);
  }
  const total = Math.ceil(at / maxAlign) * maxAlign;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  for (const { offset, field } of placed) {
    const [type, value, count] = field;
    const size = sizeOf(type, bits);
    if (value instanceof Uint8Array) {
      bytes.set(value.subarray(0, size * (count ?? 1)), offset);
    } else if (typeof value === 'string') {
      bytes.set(new TextEncoder().encode(value).subarray(0, size * (count ?? 1)), offset);
    } else if (size === 8) {
      view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
    } else if (size === 4) {
      view.setUint32(offset, Number(BigInt.asUintN(32, BigInt(value))), true);
    } else if (size === 2) {
      view.setUint16(offset, Number(value) & 0xffff, true);
    } else {
      view.setUint8(offset, Number(value) & 0xff);
    }
  }
  return { bytes, offsets: placed.map((p) => p.offset) };
}

function words(bits: 32 | 64, values: bigint[]): Uint8Array {
  return cStruct(bits, values.map((v) => ['long', v] as CField)).bytes;
}

export interface NoteSpec {
  name: string;
  type: number;
  desc: Uint8Array;
  /** Zero bytes written after this note (a kernel quirk). */
  gapAfter?: number;
}

/** `user_regs_struct` members as the kernel names them, in order. */
export const I386_USER_REGS = ['bx', 'cx', 'dx', 'si', 'di', 'bp', 'ax', 'ds', 'es', 'fs', 'gs', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss'];
export const X86_64_USER_REGS = [
  'r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di', 'orig_ax',
  'ip', 'cs', 'flags', 'sp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
];
/** `struct user_pt_regs`: regs[31], sp, pc, pstate. */
export const AARCH64_USER_REGS = [...Array.from({ length: 31 }, (_, i) => `regs[${i}]`), 'sp', 'pc', 'pstate'];

export interface PrstatusSpec {
  pid: number;
  signal?: number;
  code?: number;
  cursig?: number;
  /** By the kernel's member names (`ip`, `sp`, `regs[0]`, `pstate`). */
  regs: Record<string, bigint>;
}

/** `struct elf_prstatus` for an ABI: the common head, then `pr_reg`, then `pr_fpvalid`. */
function prstatus(bits: 32 | 64, names: string[], spec: PrstatusSpec): Uint8Array {
  const timeval = (): CField[] => [['long', 0], ['long', 0]];
  return cStruct(bits, [
    ['int', spec.signal ?? 0], ['int', spec.code ?? 0], ['int', 0], // pr_info: si_signo, si_code, si_errno
    ['short', spec.cursig ?? spec.signal ?? 0], // pr_cursig
    ['long', 0], ['long', 0], // pr_sigpend, pr_sighold
    ['int', spec.pid], ['int', 1], ['int', spec.pid], ['int', spec.pid], // pr_pid, pr_ppid, pr_pgrp, pr_sid
    ...timeval(), ...timeval(), ...timeval(), ...timeval(),
    ...names.map((n) => ['long', spec.regs[n] ?? 0n] as CField),
    ['int', 1], // pr_fpvalid
  ]).bytes;
}

export const prstatusI386 = (spec: PrstatusSpec): NoteSpec => ({ name: 'CORE', type: 1, desc: prstatus(32, I386_USER_REGS, spec) });
export const prstatusX64 = (spec: PrstatusSpec): NoteSpec => ({ name: 'CORE', type: 1, desc: prstatus(64, X86_64_USER_REGS, spec) });
export const prstatusArm64 = (spec: PrstatusSpec): NoteSpec => ({ name: 'CORE', type: 1, desc: prstatus(64, AARCH64_USER_REGS, spec) });

/** `struct elf_prpsinfo`; i386 has 16-bit uid/gid. */
export function prpsinfo(bits: 32 | 64, pid: number, fname: string, args: string, uid16 = bits === 32): NoteSpec {
  const id: CType = uid16 ? 'short' : 'int';
  return {
    name: 'CORE', type: 3,
    desc: cStruct(bits, [
      ['char', 0], ['char', 0x52], ['char', 0], ['char', 0], ['long', 0],
      [id, 1000], [id, 1000], ['int', pid], ['int', 1], ['int', pid], ['int', pid],
      ['char', fname, 16], ['char', args, 80],
    ]).bytes,
  };
}

/** `siginfo_t` (128 bytes) for a fault: si_signo, si_errno, si_code, then the union holding `si_addr`. */
export function siginfo(bits: 32 | 64, signal: number, code: number, address: bigint): NoteSpec {
  const head = cStruct(bits, [['int', signal], ['int', 0], ['int', code], ['long', address]]).bytes;
  const desc = new Uint8Array(128);
  desc.set(head);
  return { name: 'CORE', type: 0x53494749, desc };
}

export function auxv(bits: 32 | 64, pairs: [number, bigint][]): NoteSpec {
  return { name: 'CORE', type: 6, desc: words(bits, [...pairs.flatMap(([t, v]) => [BigInt(t), v]), 0n, 0n]) };
}

export interface FileEntry {
  start: bigint;
  end: bigint;
  /** In pages. */
  pageOffset: bigint;
  path: string;
}

/** `NT_FILE`: count, page size, (start, end, file_ofs)×count, then the NUL-terminated paths. */
export function fileNote(bits: 32 | 64, pageSize: bigint, entries: FileEntry[]): NoteSpec {
  const table = words(bits, [BigInt(entries.length), pageSize, ...entries.flatMap((e) => [e.start, e.end, e.pageOffset])]);
  const names = new TextEncoder().encode(entries.map((e) => `${e.path}\0`).join(''));
  const desc = new Uint8Array(table.length + names.length);
  desc.set(table);
  desc.set(names, table.length);
  return { name: 'CORE', type: 0x46494c45, desc };
}

export const emptyNote = (name: string, type: number, size: number): NoteSpec => ({ name, type, desc: new Uint8Array(size) });

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Elf_Nhdr + name + desc, each padded to 4. */
export function noteBytes(note: NoteSpec): Uint8Array {
  const name = new TextEncoder().encode(`${note.name}\0`);
  const out = new Uint8Array(12 + pad4(name.length) + pad4(note.desc.length) + (note.gapAfter ?? 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, name.length, true);
  view.setUint32(4, note.desc.length, true);
  view.setUint32(8, note.type, true);
  out.set(name, 12);
  out.set(note.desc, 12 + pad4(name.length));
  return out;
}

export interface SegmentSpec {
  type?: number;
  vaddr: bigint;
  /** The bytes the core holds (p_filesz). */
  data?: Uint8Array;
  /** Defaults to the data's length. */
  memsz?: bigint;
  /** PF_R 4 | PF_W 2 | PF_X 1. */
  flags?: number;
  /** Write this file offset instead of the real one (for bad input). */
  offsetOverride?: bigint;
}

export interface ElfSpec {
  bits: 32 | 64;
  machine: number;
  /** ET_CORE 4 by default. */
  type?: number;
  osabi?: number;
  entry?: bigint;
  segments: SegmentSpec[];
  /** For cores: one PT_NOTE holding these, first in the table. */
  notes?: NoteSpec[];
  /** Raw bytes appended after the notes and inside PT_NOTE (garbage, partial headers). */
  noteTail?: Uint8Array;
  /** Written as e_phnum instead of the real count. */
  phnumOverride?: number;
  /** Section headers and the data they point at (appended at the end). */
  sections?: { type: number; link?: number; data: Uint8Array; entsize?: number }[];
}

function phdr(bits: 32 | 64, p: { type: number; flags: number; offset: bigint; vaddr: bigint; filesz: bigint; memsz: bigint; align: bigint }): Uint8Array {
  // Elf64_Phdr puts p_flags second; Elf32_Phdr puts it seventh.
  return bits === 64
    ? cStruct(64, [['int', p.type], ['int', p.flags], ['u64', p.offset], ['u64', p.vaddr], ['u64', 0n], ['u64', p.filesz], ['u64', p.memsz], ['u64', p.align]]).bytes
    : cStruct(32, [['int', p.type], ['int', p.offset], ['int', p.vaddr], ['int', 0], ['int', p.filesz], ['int', p.memsz], ['int', p.flags], ['int', p.align]]).bytes;
}

function shdr(bits: 32 | 64, s: { type: number; offset: bigint; size: bigint; link: number; entsize: number }): Uint8Array {
  const word: CType = bits === 64 ? 'u64' : 'int';
  return cStruct(bits, [
    ['int', 0], ['int', s.type], [word, 0], [word, 0], [word, s.offset], [word, s.size],
    ['int', s.link], ['int', 0], [word, 0], [word, s.entsize],
  ]).bytes;
}

function ehdr(bits: 32 | 64, spec: ElfSpec, phoff: bigint, phnum: number, shoff: bigint, shnum: number): Uint8Array {
  const ident = new Uint8Array(16);
  ident.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, 1, 1, spec.osabi ?? 0]);
  const word: CType = bits === 64 ? 'u64' : 'int';
  const phentsize = bits === 64 ? 56 : 32;
  const shentsize = bits === 64 ? 64 : 40;
  return cStruct(bits, [
    ['char', ident, 16], ['short', spec.type ?? 4], ['short', spec.machine], ['int', 1],
    [word, spec.entry ?? 0n], [word, phoff], [word, shoff], ['int', 0],
    ['short', bits === 64 ? 64 : 52], ['short', phentsize], ['short', phnum], ['short', shentsize], ['short', shnum], ['short', 0],
  ]).bytes;
}

/**
 * An ELF file: header, program headers (PT_NOTE first when there are
 * notes), notes, segment data each at a 0x1000-aligned offset, then any
 * sections.
 */
export function buildElf(spec: ElfSpec): Uint8Array {
  const { bits } = spec;
  const headerSize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const noteBlob = spec.notes ? concat([...spec.notes.map(noteBytes), spec.noteTail ?? new Uint8Array(0)]) : undefined;
  const phnum = spec.segments.length + (noteBlob ? 1 : 0);
  const phoff = BigInt(headerSize);
  let at = headerSize + phnum * phentsize;
  const noteOffset = at;
  if (noteBlob) at += noteBlob.length;
  const placed = spec.segments.map((s) => {
    at = Math.ceil(at / 0x1000) * 0x1000;
    const offset = at;
    at += s.data?.length ?? 0;
    return offset;
  });
  const sectionData = (spec.sections ?? []).map((s) => {
    at = Math.ceil(at / 8) * 8;
    const offset = at;
    at += s.data.length;
    return offset;
  });
  const shnum = spec.sections ? spec.sections.length + 1 : 0;
  at = Math.ceil(at / 8) * 8;
  const shoff = shnum ? at : 0;
  at += shnum * (bits === 64 ? 64 : 40);

  const out = new Uint8Array(at);
  out.set(ehdr(bits, spec, phoff, spec.phnumOverride ?? phnum, BigInt(shoff), shnum), 0);
  let ph = headerSize;
  if (noteBlob) {
    out.set(phdr(bits, { type: 4, flags: 0, offset: BigInt(noteOffset), vaddr: 0n, filesz: BigInt(noteBlob.length), memsz: 0n, align: 4n }), ph);
    out.set(noteBlob, noteOffset);
    ph += phentsize;
  }
  spec.segments.forEach((s, i) => {
    const filesz = BigInt(s.data?.length ?? 0);
    out.set(phdr(bits, {
      type: s.type ?? 1, flags: s.flags ?? 4, offset: s.offsetOverride ?? BigInt(placed[i]!), vaddr: s.vaddr,
      filesz, memsz: s.memsz ?? filesz, align: 0x1000n,
    }), ph);
    if (s.data) out.set(s.data, placed[i]!);
    ph += phentsize;
  });
  (spec.sections ?? []).forEach((s, i) => {
    out.set(s.data, sectionData[i]!);
    out.set(shdr(bits, { type: s.type, offset: BigInt(sectionData[i]!), size: BigInt(s.data.length), link: s.link ?? 0, entsize: s.entsize ?? 0 }), shoff + (i + 1) * (bits === 64 ? 64 : 40));
  });
  return out;
}

export interface SymbolSpec {
  name: string;
  value: bigint;
  size: bigint;
  /** STT_FUNC 2 by default. */
  type?: number;
}

/** `.symtab` + `.strtab` sections for `buildElf`: symbols defined in section 1. */
export function symbolSections(bits: 32 | 64, symbols: SymbolSpec[]): ElfSpec['sections'] {
  const names = ['', ...symbols.map((s) => s.name)];
  const strtab = new TextEncoder().encode(names.map((n) => `${n}\0`).join(''));
  const offsets: number[] = [];
  let at = 0;
  for (const n of names) {
    offsets.push(at);
    at += new TextEncoder().encode(n).length + 1;
  }
  const entry = (s: SymbolSpec | undefined, nameOffset: number): Uint8Array => {
    const info = s ? (1 << 4) | (s.type ?? 2) : 0; // STB_GLOBAL
    const shndx = s ? 1 : 0;
    return bits === 64
      ? cStruct(64, [['int', nameOffset], ['char', info], ['char', 0], ['short', shndx], ['u64', s?.value ?? 0n], ['u64', s?.size ?? 0n]]).bytes
      : cStruct(32, [['int', nameOffset], ['int', s?.value ?? 0n], ['int', s?.size ?? 0n], ['char', info], ['char', 0], ['short', shndx]]).bytes;
  };
  const symtab = concat([entry(undefined, 0), ...symbols.map((s, i) => entry(s, offsets[i + 1]!))]);
  // Section 1 is .symtab (SHT_SYMTAB 2) linking section 2, .strtab (SHT_STRTAB 3).
  return [
    { type: 2, link: 2, data: symtab, entsize: bits === 64 ? 24 : 16 },
    { type: 3, data: strtab },
  ];
}

export { concat } from '../../helpers/bytes.ts';
import { concat } from '../../helpers/bytes.ts';

/** `length` bytes counting up from `seed`, so any misplaced byte shows. */
export function pattern(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 7) & 0xff);
}
