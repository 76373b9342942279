/**
 * Builds Windows kernel dumps (`PAGEDUMP`, `PAGEDU64`) for tests, from the
 * struct declarations of ntiodump.h, winnt.h and `dt nt!…` (DUMP_HEADER32/64,
 * PHYSICAL_MEMORY_DESCRIPTOR, the bitmap headers, TRIAGE_DUMP, KLDR entries,
 * CONTEXT, KTRAP_FRAME), independently of faultline's parser: every struct
 * is its fields in declaration order, so each offset is the sum of the
 * fields before it (writeStruct), never a constant copied from the parser.
 *
 * It lays out physical memory (page tables first, then data pages), builds
 * the page tables for x86 without PAE (2 levels, 4-byte entries, 4 MiB
 * large pages), PAE (4-entry PDPT, 2 MiB) or x64 (4 levels, 2 MiB / 1 GiB),
 * with the self-map entry Windows keeps, a PsLoadedModuleList with
 * LDR_DATA_TABLE_ENTRYs, PE headers with export tables, and writes the
 * layout each DumpType uses: runs (full), bitmap (kernel, bitmap full,
 * bitmap kernel) or the triage directory. Output is a list of chunks at
 * file offsets, so a 4 GiB dump is written as a sparse file.
 *
 * @example
 * ```ts
 * writeKernelDump(path, { arch: 'x64', dumpType: 5, pages: [{ va: 0xfffff80000200000n, bytes: code, execute: true }], … });
 * ```
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { writeStruct, sizeOf, offsetOf, type StructLayout } from '../dumps/minidump/builder.ts';

export type KernelArch = 'x86' | 'x86-pae' | 'x64';
export type Registers = Record<string, bigint>;

export interface VirtualPage {
  /** Page-aligned virtual address. */
  va: bigint;
  /** Up to 4096 bytes (the rest zero). */
  bytes: Uint8Array;
  write?: boolean;
  execute?: boolean;
}

export interface ModuleSpec {
  /** File name, e.g. 'ntoskrnl.exe'. */
  file: string;
  base: bigint;
  size: bigint;
  /** Exported names written into a PE header page at `base`. */
  exports?: { name: string; address: bigint }[];
  /** The LDR_DATA_TABLE_ENTRY's TimeDateStamp (0 when absent). */
  timeDateStamp?: number;
}

export interface KernelDumpSpec {
  arch: KernelArch;
  dumpType: 1 | 2 | 4 | 5 | 6;
  build?: number;
  processors?: number;
  bugcheck: { code: bigint; parameters: bigint[] };
  /** The header's CONTEXT. */
  context: Registers;
  pages: VirtualPage[];
  /** Large pages: `va` aligned to the large size; `bytes` placed at `offset` inside it. */
  largePages?: { va: bigint; huge?: boolean; fill?: { offset: number; bytes: Uint8Array }[] }[];
  modules?: ModuleSpec[];
  /** Where the module list lives (one page). */
  listVa?: bigint;
  /** Triage: the stack the dump keeps; other pages become data blocks. */
  triageStack?: { address: bigint; bytes: Uint8Array };
  /** Bitmap full: physical pages the bitmap covers (all set); default what the dump uses. */
  physicalPages?: number;
  /** Last-level entries written as given (present bit clear: transition, prototype, paged out). */
  nonPresent?: { va: bigint; entry: bigint }[];
  /** Hostile: every entry of the top table points to one second-level table, every entry of which points to it again. */
  loopingTables?: boolean;
}

export interface BuiltDump {
  size: bigint;
  chunks: { offset: bigint; bytes: Uint8Array }[];
  /** Physical page of each virtual page given. */
  pfnOf: Map<bigint, number>;
  directoryTableBase: bigint;
  psLoadedModuleList: bigint;
}

const PAGE = 0x1000;
const FILLER = new TextEncoder().encode('PAGE');

// ---- Struct declarations (field, bytes), in declaration order ----

const DUMP_HEADER64: StructLayout = [
  ['Signature', 4], ['ValidDump', 4], ['MajorVersion', 4], ['MinorVersion', 4],
  ['DirectoryTableBase', 8], ['PfnDataBase', 8], ['PsLoadedModuleList', 8], ['PsActiveProcessHead', 8],
  ['MachineImageType', 4], ['NumberProcessors', 4], ['BugCheckCode', 4], ['Pad0', 4],
  ['BugCheckParameter1', 8], ['BugCheckParameter2', 8], ['BugCheckParameter3', 8], ['BugCheckParameter4', 8],
  ['VersionUser', 32], ['KdDebuggerDataBlock', 8], ['PhysicalMemoryBlockBuffer', 0x2c0],
  ['ContextRecord', 3000], ['Exception', 0x98], ['DumpType', 4], ['Pad1', 4], ['RequiredDumpSpace', 8],
  ['SystemTime', 8], ['Comment', 128], ['SystemUpTime', 8], ['MiniDumpFields', 4], ['SecondaryDataState', 4],
  ['ProductType', 4], ['SuiteMask', 4], ['WriterStatus', 4], ['Unused1', 1], ['KdSecondaryVersion', 1],
  ['Unused', 2], ['Attributes', 4], ['BootId', 4], ['Reserved', 4008],
];

const DUMP_HEADER32: StructLayout = [
  ['Signature', 4], ['ValidDump', 4], ['MajorVersion', 4], ['MinorVersion', 4],
  ['DirectoryTableBase', 4], ['PfnDataBase', 4], ['PsLoadedModuleList', 4], ['PsActiveProcessHead', 4],
  ['MachineImageType', 4], ['NumberProcessors', 4], ['BugCheckCode', 4],
  ['BugCheckParameter1', 4], ['BugCheckParameter2', 4], ['BugCheckParameter3', 4], ['BugCheckParameter4', 4],
  ['VersionUser', 32], ['PaeEnabled', 1], ['KdSecondaryVersion', 1], ['Spare', 2], ['KdDebuggerDataBlock', 4],
  ['PhysicalMemoryBlockBuffer', 700], ['ContextRecord', 1200], ['Exception', 80], ['Comment', 128],
  ['Reserved0', 1768], ['DumpType', 4], ['MiniDumpFields', 4], ['SecondaryDataState', 4], ['ProductType', 4],
  ['SuiteMask', 4], ['WriterStatus', 4], ['RequiredDumpSpace', 8], ['Reserved2', 16], ['SystemUpTime', 8],
  ['SystemTime', 8], ['Reserved3', 56],
];

const BMP_HEADER64: StructLayout = [
  ['Signature', 4], ['ValidDump', 4], ['Padding', 0x18], ['FirstPage', 8], ['TotalPresentPages', 8], ['Pages', 8],
];
const SUMMARY_DUMP32: StructLayout = [
  ['Signature', 4], ['ValidDump', 4], ['DumpOptions', 4], ['HeaderSize', 4], ['BitmapSize', 4], ['Pages', 4],
  ['SizeOfBitmap', 4], ['Buffer', 4],
];

const TRIAGE_COMMON: StructLayout = [
  ['ServicePackBuild', 4], ['SizeOfDump', 4], ['ValidOffset', 4], ['ContextOffset', 4], ['ExceptionOffset', 4],
  ['MmOffset', 4], ['UnloadedDriversOffset', 4], ['PrcbOffset', 4], ['ProcessOffset', 4], ['ThreadOffset', 4],
  ['CallStackOffset', 4], ['SizeOfCallStack', 4], ['DriverListOffset', 4], ['DriverCount', 4],
  ['StringPoolOffset', 4], ['StringPoolSize', 4], ['BrokenDriverOffset', 4], ['TriageOptions', 4],
];
const TRIAGE_DUMP64: StructLayout = [
  ...TRIAGE_COMMON, ['TopOfStack', 8], ['BStoreOffset', 4], ['SizeOfBStore', 4], ['LimitOfBStore', 8],
  ['DataPageAddress', 8], ['DataPageOffset', 4], ['DataPageSize', 4], ['DebuggerDataOffset', 4],
  ['DebuggerDataSize', 4], ['DataBlocksOffset', 4], ['DataBlocksCount', 4],
];
const TRIAGE_DUMP32: StructLayout = [
  ...TRIAGE_COMMON, ['TopOfStack', 4], ['DataPageAddress', 4], ['DataPageOffset', 4], ['DataPageSize', 4],
  ['DebuggerDataOffset', 4], ['DebuggerDataSize', 4], ['DataBlocksOffset', 4], ['DataBlocksCount', 4],
];
const TRIAGE_DATA_BLOCK: StructLayout = [['Address', 8], ['Offset', 4], ['Size', 4]];

const KLDR64: StructLayout = [
  ['InLoadOrderFlink', 8], ['InLoadOrderBlink', 8], ['Undefined1', 8], ['Undefined2', 8], ['Undefined3', 8],
  ['NonPagedDebugInfo', 8], ['DllBase', 8], ['EntryPoint', 8], ['SizeOfImage', 4], ['Pad0', 4],
  ['FullDllName', 16], ['BaseDllName', 16], ['Flags', 4], ['LoadCount', 2], ['Undefined5', 2],
  ['Undefined6', 8], ['CheckSum', 4], ['Pad1', 4], ['TimeDateStamp', 4], ['Pad2', 4],
];
const KLDR32: StructLayout = [
  ['InLoadOrderFlink', 4], ['InLoadOrderBlink', 4], ['Undefined1', 4], ['Undefined2', 4], ['Undefined3', 4],
  ['NonPagedDebugInfo', 4], ['DllBase', 4], ['EntryPoint', 4], ['SizeOfImage', 4],
  ['FullDllName', 8], ['BaseDllName', 8], ['Flags', 4], ['LoadCount', 2], ['Undefined5', 2],
  ['Undefined6', 4], ['CheckSum', 4], ['TimeDateStamp', 4],
];
const UNICODE_STRING64: StructLayout = [['Length', 2], ['MaximumLength', 2], ['Pad', 4], ['Buffer', 8]];
const UNICODE_STRING32: StructLayout = [['Length', 2], ['MaximumLength', 2], ['Buffer', 4]];

const CONTEXT_X86: StructLayout = [
  ['ContextFlags', 4], ['Dr0', 4], ['Dr1', 4], ['Dr2', 4], ['Dr3', 4], ['Dr6', 4], ['Dr7', 4], ['FloatSave', 112],
  ['SegGs', 4], ['SegFs', 4], ['SegEs', 4], ['SegDs', 4], ['Edi', 4], ['Esi', 4], ['Ebx', 4], ['Edx', 4],
  ['Ecx', 4], ['Eax', 4], ['Ebp', 4], ['Eip', 4], ['SegCs', 4], ['EFlags', 4], ['Esp', 4], ['SegSs', 4],
  ['ExtendedRegisters', 512],
];
const CONTEXT_X64: StructLayout = [
  ['P1Home', 8], ['P2Home', 8], ['P3Home', 8], ['P4Home', 8], ['P5Home', 8], ['P6Home', 8],
  ['ContextFlags', 4], ['MxCsr', 4], ['SegCs', 2], ['SegDs', 2], ['SegEs', 2], ['SegFs', 2], ['SegGs', 2], ['SegSs', 2],
  ['EFlags', 4], ['Dr0', 8], ['Dr1', 8], ['Dr2', 8], ['Dr3', 8], ['Dr6', 8], ['Dr7', 8],
  ['Rax', 8], ['Rcx', 8], ['Rdx', 8], ['Rbx', 8], ['Rsp', 8], ['Rbp', 8], ['Rsi', 8], ['Rdi', 8],
  ['R8', 8], ['R9', 8], ['R10', 8], ['R11', 8], ['R12', 8], ['R13', 8], ['R14', 8], ['R15', 8], ['Rip', 8],
  ['Rest', 0x4d0 - 0x100],
];

/** KTRAP_FRAME, x86, Windows XP to 7 (builds < 9200). */
export const KTRAP_FRAME_X86: StructLayout = [
  ['DbgEbp', 4], ['DbgEip', 4], ['DbgArgMark', 4], ['DbgArgPointer', 4], ['TempSegCs', 4], ['TempEsp', 4],
  ['Dr0', 4], ['Dr1', 4], ['Dr2', 4], ['Dr3', 4], ['Dr6', 4], ['Dr7', 4], ['SegGs', 4], ['SegEs', 4], ['SegDs', 4],
  ['Edx', 4], ['Ecx', 4], ['Eax', 4], ['PreviousPreviousMode', 4], ['ExceptionList', 4], ['SegFs', 4],
  ['Edi', 4], ['Esi', 4], ['Ebx', 4], ['Ebp', 4], ['ErrCode', 4], ['Eip', 4], ['SegCs', 4], ['EFlags', 4],
  ['HardwareEsp', 4], ['HardwareSegSs', 4], ['V86Es', 4], ['V86Ds', 4], ['V86Fs', 4], ['V86Gs', 4],
];
/** KTRAP_FRAME, x64. */
export const KTRAP_FRAME_X64: StructLayout = [
  ['P1Home', 8], ['P2Home', 8], ['P3Home', 8], ['P4Home', 8], ['P5', 8], ['PreviousMode', 1], ['PreviousIrql', 1],
  ['FaultIndicator', 1], ['ExceptionActive', 1], ['MxCsr', 4], ['Rax', 8], ['Rcx', 8], ['Rdx', 8], ['R8', 8],
  ['R9', 8], ['R10', 8], ['R11', 8], ['GsBase', 8], ['Xmm', 96], ['FaultAddress', 8], ['Dr0', 8], ['Dr1', 8],
  ['Dr2', 8], ['Dr3', 8], ['Dr6', 8], ['Dr7', 8], ['DebugControl', 8], ['LastBranchToRip', 8],
  ['LastBranchFromRip', 8], ['LastExceptionToRip', 8], ['LastExceptionFromRip', 8], ['SegDs', 2], ['SegEs', 2],
  ['SegFs', 2], ['SegGs', 2], ['TrapFrame', 8], ['Rbx', 8], ['Rdi', 8], ['Rsi', 8], ['Rbp', 8], ['ErrorCode', 8],
  ['Rip', 8], ['SegCs', 2], ['Fill0', 1], ['Logging', 1], ['Fill1', 4], ['EFlags', 4], ['Fill2', 4], ['Rsp', 8],
  ['SegSs', 2], ['Fill3', 2], ['Fill4', 4],
];

const capital = (name: string): string => name[0]!.toUpperCase() + name.slice(1);

/** CONTEXT bytes with CONTEXT_CONTROL|INTEGER|SEGMENTS. Register names as faultline spells them (eax, rip, efl). */
export function contextBytes(arch: KernelArch, registers: Registers): Uint8Array {
  const values: Record<string, bigint> = {};
  for (const [name, value] of Object.entries(registers)) {
    const field = name === 'efl' ? 'EFlags' : /^(cs|ds|es|fs|gs|ss)$/.test(name) ? `Seg${capital(name)}` : capital(name);
    values[field] = value;
  }
  const layout = arch === 'x64' ? CONTEXT_X64 : CONTEXT_X86;
  for (const key of Object.keys(values)) if (!layout.some(([n]) => n === key)) delete values[key];
  if (arch === 'x64') return writeStruct(CONTEXT_X64, { ...values, ContextFlags: 0x10_0007n });
  return writeStruct(CONTEXT_X86, { ...values, ContextFlags: 0x1_0007n });
}

/** KTRAP_FRAME bytes for `registers` (a kernel-mode trap: no HardwareEsp/SegSs on x86). */
export function trapFrameBytes(arch: KernelArch, registers: Registers): Uint8Array {
  const values: Record<string, bigint> = {};
  for (const [name, value] of Object.entries(registers)) {
    if (arch !== 'x64' && (name === 'esp' || name === 'ss')) continue;
    const field = name === 'efl' ? 'EFlags' : /^(cs|ds|es|fs|gs|ss)$/.test(name) ? `Seg${capital(name)}` : capital(name);
    values[field] = value;
  }
  const layout = arch === 'x64' ? KTRAP_FRAME_X64 : KTRAP_FRAME_X86;
  for (const key of Object.keys(values)) if (!layout.some(([n]) => n === key)) delete values[key];
  return writeStruct(layout, values);
}

// ---- Page tables ----

interface Paging {
  shifts: number[];
  width: 4 | 8;
  /** Entries of the top table. */
  topEntries: number;
}

const PAGING: Record<KernelArch, Paging> = {
  x86: { shifts: [22, 12], width: 4, topEntries: 1024 },
  'x86-pae': { shifts: [30, 21, 12], width: 8, topEntries: 4 },
  x64: { shifts: [39, 30, 21, 12], width: 8, topEntries: 512 },
};

class PhysicalSpace {
  /** Physical page → its 4096 bytes. */
  readonly pages = new Map<number, Uint8Array>();
  private nextTable = 0x10;
  private nextData = 0x400;

  table(): number {
    const pfn = this.nextTable++;
    if (pfn >= 0x400) throw new Error('Builder: too many page tables');
    this.pages.set(pfn, new Uint8Array(PAGE));
    return pfn;
  }

  data(bytes?: Uint8Array): number {
    const pfn = this.nextData++;
    const page = new Uint8Array(PAGE);
    if (bytes) page.set(bytes.subarray(0, PAGE));
    this.pages.set(pfn, page);
    return pfn;
  }

  /** `count` pages aligned to `count` (a large page); their bytes are made when written (`page`). */
  aligned(count: number): number {
    this.nextData = Math.ceil(this.nextData / count) * count;
    const first = this.nextData;
    this.nextData += count;
    return first;
  }

  /** The bytes of physical page `pfn`, made zero on first use. */
  page(pfn: number): Uint8Array {
    let bytes = this.pages.get(pfn);
    if (!bytes) this.pages.set(pfn, (bytes = new Uint8Array(PAGE)));
    return bytes;
  }

  /** One past the highest data page used or reserved. */
  get dataEnd(): number {
    return this.nextData;
  }
}

function setEntry(page: Uint8Array, index: number, width: 4 | 8, value: bigint): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (width === 4) view.setUint32(index * 4, Number(value & 0xffff_ffffn), true);
  else view.setBigUint64(index * 8, value, true);
}

function getEntry(page: Uint8Array, index: number, width: 4 | 8): bigint {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  return width === 4 ? BigInt(view.getUint32(index * 4, true)) : view.getBigUint64(index * 8, true);
}

class PageTables {
  readonly top: number;
  private readonly paging: Paging;

  constructor(private readonly arch: KernelArch, private readonly space: PhysicalSpace) {
    this.paging = PAGING[arch];
    this.top = space.table();
    if (arch === 'x86-pae') {
      // All four page directories exist from the start (as on Windows), and map themselves at 0xc0000000.
      const dirs = [0, 1, 2, 3].map(() => space.table());
      dirs.forEach((pd, i) => setEntry(this.page(this.top), i, 8, (BigInt(pd) << 12n) | 1n));
      dirs.forEach((pd, i) => setEntry(this.page(dirs[3]!), i, 8, (BigInt(pd) << 12n) | 3n));
    } else if (arch === 'x86') {
      setEntry(this.page(this.top), 0x300, 4, (BigInt(this.top) << 12n) | 3n);
    } else {
      setEntry(this.page(this.top), 0x1ed, 8, (BigInt(this.top) << 12n) | 3n);
    }
  }

  private page(pfn: number): Uint8Array {
    return this.space.pages.get(pfn)!;
  }

  /** Maps `va` to `pfn` at `leafDepth` (the last level, or one above for a large page). */
  map(va: bigint, pfn: number, rights: { write: boolean; execute: boolean }, leafDepth = this.paging.shifts.length - 1): void {
    const { shifts, width } = this.paging;
    let table = this.top;
    for (let depth = 0; depth < leafDepth; depth++) {
      const index = Number((va >> BigInt(shifts[depth]!)) & BigInt(depth === 0 ? this.paging.topEntries - 1 : (width === 4 ? 1023 : 511)));
      let entry = getEntry(this.page(table), index, width);
      if ((entry & 1n) === 0n) {
        if (this.arch === 'x86-pae' && depth === 0) throw new Error('PAE directories are made up front');
        const next = this.space.table();
        entry = (BigInt(next) << 12n) | 3n;
        setEntry(this.page(table), index, width, entry);
      }
      table = Number((entry & 0x000f_ffff_ffff_f000n) >> 12n);
    }
    const shift = shifts[leafDepth]!;
    const index = Number((va >> BigInt(shift)) & BigInt(width === 4 ? 1023 : 511));
    let entry = (BigInt(pfn) << 12n) | 1n | (rights.write ? 2n : 0n);
    if (leafDepth < shifts.length - 1) entry |= 0x80n;
    if (!rights.execute && this.arch !== 'x86') entry |= 1n << 63n;
    setEntry(this.page(table), index, width, entry);
  }

  /** Writes `entry` as the last-level entry for `va` (a non-present PTE: transition, prototype, paged out). */
  raw(va: bigint, entry: bigint): void {
    this.map(va, 0, { write: false, execute: true });
    const { shifts, width } = this.paging;
    let table = this.top;
    for (let depth = 0; depth < shifts.length - 1; depth++) {
      const index = Number((va >> BigInt(shifts[depth]!)) & BigInt(depth === 0 ? this.paging.topEntries - 1 : (width === 4 ? 1023 : 511)));
      table = Number((getEntry(this.page(table), index, width) & 0x000f_ffff_ffff_f000n) >> 12n);
    }
    setEntry(this.page(table), Number((va >> 12n) & BigInt(width === 4 ? 1023 : 511)), width, entry);
  }

  /**
   * Makes the tables loop. x64: top[0] → A, every entry of A → B, every
   * entry of B → A. x86 and PAE (whose walks are too short to loop below
   * the directory): 256 directory entries pointing back at their directory.
   */
  loop(): void {
    const { width } = this.paging;
    if (this.arch === 'x64') {
      const [a, b] = [this.space.table(), this.space.table()];
      setEntry(this.page(this.top), 0, 8, (BigInt(a) << 12n) | 3n);
      for (let i = 0; i < 512; i++) {
        setEntry(this.page(a), i, 8, (BigInt(b) << 12n) | 3n);
        setEntry(this.page(b), i, 8, (BigInt(a) << 12n) | 3n);
      }
      return;
    }
    const dir = this.arch === 'x86' ? this.top : Number((getEntry(this.page(this.top), 3, 8) & 0x000f_ffff_ffff_f000n) >> 12n);
    for (let i = 0x100; i < 0x200; i++) setEntry(this.page(dir), i, width, (BigInt(dir) << 12n) | 3n);
  }

}

// ---- Kernel data: module list and PE headers ----

function utf16(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) new DataView(out.buffer).setUint16(i * 2, text.charCodeAt(i), true);
  return out;
}

/** The page holding PsLoadedModuleList (at offset 0) and its entries. */
function moduleListPage(arch: KernelArch, listVa: bigint, modules: ModuleSpec[]): Uint8Array {
  const page = new Uint8Array(PAGE);
  const is64 = arch === 'x64';
  const layout = is64 ? KLDR64 : KLDR32;
  const stringLayout = is64 ? UNICODE_STRING64 : UNICODE_STRING32;
  const entrySize = sizeOf(layout);
  const entryAt = (i: number): number => 0x20 + i * entrySize;
  let strings = entryAt(modules.length);
  const putString = (text: string): Uint8Array => {
    const bytes = utf16(text);
    page.set(bytes, strings);
    const value = writeStruct(stringLayout, { Length: bytes.length, MaximumLength: bytes.length + 2, Buffer: listVa + BigInt(strings) });
    strings += bytes.length + 2;
    return value;
  };
  const addressOf = (i: number): bigint => (i < 0 || i >= modules.length ? listVa : listVa + BigInt(entryAt(i)));
  const head = new DataView(page.buffer);
  const setPtr = (at: number, value: bigint): void => (is64 ? head.setBigUint64(at, value, true) : head.setUint32(at, Number(value), true));
  setPtr(0, addressOf(0));
  setPtr(is64 ? 8 : 4, addressOf(modules.length - 1));
  modules.forEach((m, i) => {
    const full = putString(`\\SystemRoot\\system32\\${m.file}`);
    const base = putString(m.file);
    page.set(writeStruct(layout, {
      InLoadOrderFlink: addressOf(i + 1), InLoadOrderBlink: addressOf(i - 1),
      DllBase: m.base, SizeOfImage: m.size, FullDllName: full, BaseDllName: base, TimeDateStamp: m.timeDateStamp ?? 0,
    }), entryAt(i));
  });
  if (strings > PAGE) throw new Error('Builder: the module list does not fit one page');
  return page;
}

/** A PE header page with an export directory naming `exports`. */
export function peHeaderPage(arch: KernelArch, base: bigint, exports: { name: string; address: bigint }[]): Uint8Array {
  const page = new Uint8Array(PAGE);
  const view = new DataView(page.buffer);
  view.setUint16(0, 0x5a4d, true); // 'MZ'
  const lfanew = 0x80;
  view.setUint32(0x3c, lfanew, true);
  view.setUint32(lfanew, 0x4550, true); // 'PE\0\0'
  const optional = lfanew + 4 + 20; // after the signature and IMAGE_FILE_HEADER
  const pe32plus = arch === 'x64';
  view.setUint16(optional, pe32plus ? 0x20b : 0x10b, true);
  const directories = optional + (pe32plus ? 112 : 96);
  const dir = 0x400;
  const sorted = [...exports].sort((a, b) => (a.name < b.name ? -1 : 1));
  const functionsAt = dir + 40;
  const namesAt = functionsAt + 4 * sorted.length;
  const ordinalsAt = namesAt + 4 * sorted.length;
  let text = ordinalsAt + 2 * sorted.length;
  view.setUint32(directories, dir, true);
  view.setUint32(directories + 4, PAGE - dir, true);
  view.setUint32(dir + 20, sorted.length, true); // NumberOfFunctions
  view.setUint32(dir + 24, sorted.length, true); // NumberOfNames
  view.setUint32(dir + 28, functionsAt, true);
  view.setUint32(dir + 32, namesAt, true);
  view.setUint32(dir + 36, ordinalsAt, true);
  sorted.forEach((e, i) => {
    view.setUint32(functionsAt + 4 * i, Number(e.address - base), true);
    view.setUint32(namesAt + 4 * i, text, true);
    view.setUint16(ordinalsAt + 2 * i, i, true);
    page.set(new TextEncoder().encode(`${e.name}\0`), text);
    text += e.name.length + 1;
  });
  return page;
}

// ---- The dump ----

function defaultListVa(arch: KernelArch): bigint {
  return arch === 'x64' ? 0xfffff800_0fff0000n : 0x80ff_0000n;
}

/** The dump's bytes as chunks at file offsets (see the file comment). */
export function buildKernelDump(spec: KernelDumpSpec): BuiltDump {
  const is64 = spec.arch === 'x64';
  const headerSize = is64 ? 0x2000 : 0x1000;
  const modules = spec.modules ?? [];
  const listVa = spec.listVa ?? defaultListVa(spec.arch);
  const pages: VirtualPage[] = [...spec.pages];
  pages.push({ va: listVa, bytes: moduleListPage(spec.arch, listVa, modules), write: true });
  for (const m of modules) if (m.exports?.length) pages.push({ va: m.base, bytes: peHeaderPage(spec.arch, m.base, m.exports) });

  const space = new PhysicalSpace();
  const tables = new PageTables(spec.arch, space);
  const pfnOf = new Map<bigint, number>();
  for (const p of pages) {
    const pfn = space.data(p.bytes);
    pfnOf.set(p.va, pfn);
    tables.map(p.va, pfn, { write: p.write ?? false, execute: p.execute ?? false });
  }
  for (const large of spec.largePages ?? []) {
    const depth = PAGING[spec.arch].shifts.length - (large.huge ? 3 : 2);
    const count = 2 ** (PAGING[spec.arch].shifts[depth]! - 12);
    const first = space.aligned(count);
    for (const f of large.fill ?? []) {
      for (let i = 0; i < f.bytes.length; i++) space.page(first + Math.floor((f.offset + i) / PAGE))[(f.offset + i) % PAGE] = f.bytes[i]!;
    }
    tables.map(large.va, first, { write: true, execute: true }, depth);
  }
  for (const n of spec.nonPresent ?? []) tables.raw(n.va, n.entry);
  if (spec.loopingTables) tables.loop();
  const dtb = BigInt(tables.top) << 12n;

  const chunks: { offset: bigint; bytes: Uint8Array }[] = [];
  const header = new Uint8Array(headerSize);
  for (let i = 0; i < headerSize; i += 4) header.set(FILLER, i);
  const headerLayout = is64 ? DUMP_HEADER64 : DUMP_HEADER32;
  const set = (field: string, value: number | bigint | Uint8Array): void => {
    const fields = writeStruct(headerLayout, { [field]: value });
    const at = offsetOf(headerLayout, field);
    const size = headerLayout.find(([n]) => n === field)![1];
    header.set(fields.subarray(at, at + (value instanceof Uint8Array ? Math.min(value.length, size) : size)), at);
  };
  set('Signature', new TextEncoder().encode('PAGE'));
  set('ValidDump', new TextEncoder().encode(is64 ? 'DU64' : 'DUMP'));
  set('MajorVersion', 0xf);
  set('MinorVersion', spec.build ?? (is64 ? 19041 : 3790));
  set('DirectoryTableBase', dtb);
  set('PfnDataBase', is64 ? 0xfffffa80_00000000n : 0x8100_0000n);
  set('PsLoadedModuleList', listVa);
  set('PsActiveProcessHead', listVa + 0x10n);
  set('MachineImageType', is64 ? 0x8664 : 0x14c);
  set('NumberProcessors', spec.processors ?? 2);
  set('BugCheckCode', spec.bugcheck.code);
  spec.bugcheck.parameters.forEach((p, i) => set(`BugCheckParameter${i + 1}`, p));
  if (!is64) set('PaeEnabled', spec.arch === 'x86-pae' ? 1 : 0);
  set('KdDebuggerDataBlock', listVa + 0x800n);
  set('ContextRecord', contextBytes(spec.arch, spec.context));
  set('Exception', new Uint8Array(is64 ? 0x98 : 80));
  set('DumpType', spec.dumpType);
  set('SystemTime', 132582911029870000n);

  let size: bigint;
  const physical = [...space.pages.keys()].sort((a, b) => a - b);
  const tablePfns = physical.filter((p) => p < 0x400);
  if (spec.dumpType === 1) {
    const runs = [
      { base: tablePfns[0]!, count: tablePfns.length },
      { base: 0x400, count: space.dataEnd - 0x400 },
    ];
    const runLayout: StructLayout = is64
      ? [['NumberOfRuns', 4], ['Pad', 4], ['NumberOfPages', 8], ...runs.flatMap((_, i): [string, number][] => [[`BasePage${i}`, 8], [`PageCount${i}`, 8]])]
      : [['NumberOfRuns', 4], ['NumberOfPages', 4], ...runs.flatMap((_, i): [string, number][] => [[`BasePage${i}`, 4], [`PageCount${i}`, 4]])];
    const values: Record<string, number | bigint> = { NumberOfRuns: runs.length, NumberOfPages: runs.reduce((n, r) => n + r.count, 0) };
    runs.forEach((r, i) => { values[`BasePage${i}`] = r.base; values[`PageCount${i}`] = r.count; });
    set('PhysicalMemoryBlockBuffer', writeStruct(runLayout, values));
    let offset = BigInt(headerSize);
    for (const run of runs) {
      for (let p = run.base; p < run.base + run.count; p++) {
        const bytes = space.pages.get(p);
        if (bytes) chunks.push({ offset, bytes });
        offset += BigInt(PAGE);
      }
    }
    size = offset;
  } else if (spec.dumpType === 4) {
    size = triage(spec, header.length, pages, modules, chunks);
  } else {
    const full = spec.dumpType === 5;
    const bits = full ? Math.max(spec.physicalPages ?? 0, space.dataEnd) : physical[physical.length - 1]! + 1;
    const bitmap = new Uint8Array(Math.ceil(bits / 8));
    const present = full ? Array.from({ length: bits }, (_, i) => i) : physical;
    if (full) {
      bitmap.fill(0xff);
      if (bits % 8) bitmap[bitmap.length - 1] = (1 << (bits % 8)) - 1;
    } else {
      for (const p of physical) bitmap[p >> 3]! |= 1 << (p & 7);
    }
    const fixed = is64 ? BMP_HEADER64 : SUMMARY_DUMP32;
    const bitmapEnd = headerSize + sizeOf(fixed) + bitmap.length;
    const firstPage = Math.ceil(bitmapEnd / PAGE) * PAGE;
    const sig = new TextEncoder().encode(full ? 'FDMP' : 'SDMP');
    const valid = new TextEncoder().encode('DUMP');
    const bmp = is64
      ? writeStruct(BMP_HEADER64, { Signature: sig, ValidDump: valid, FirstPage: firstPage, TotalPresentPages: present.length, Pages: bits })
      : writeStruct(SUMMARY_DUMP32, { Signature: sig, ValidDump: valid, HeaderSize: firstPage, BitmapSize: bits, Pages: present.length, SizeOfBitmap: bits });
    chunks.push({ offset: BigInt(headerSize), bytes: bmp }, { offset: BigInt(headerSize + sizeOf(fixed)), bytes: bitmap });
    // Page N is at FirstPage + (its rank among present pages).
    const rank = new Map<number, number>();
    if (full) for (const p of physical) rank.set(p, p);
    else physical.forEach((p, i) => rank.set(p, i));
    for (const p of physical) chunks.push({ offset: BigInt(firstPage + rank.get(p)! * PAGE), bytes: space.pages.get(p)! });
    size = BigInt(firstPage) + BigInt(present.length) * BigInt(PAGE);
  }
  chunks.unshift({ offset: 0n, bytes: header });
  return { size, chunks, pfnOf, directoryTableBase: dtb, psLoadedModuleList: listVa };
}

/** Writes the triage directory and its blobs after the header; returns the file size. */
function triage(spec: KernelDumpSpec, headerSize: number, pages: VirtualPage[], modules: ModuleSpec[], chunks: { offset: bigint; bytes: Uint8Array }[]): bigint {
  const is64 = spec.arch === 'x64';
  const layout = is64 ? TRIAGE_DUMP64 : TRIAGE_DUMP32;
  let at = headerSize + sizeOf(layout);
  const place = (bytes: Uint8Array): number => {
    at = Math.ceil(at / 8) * 8;
    const offset = at;
    chunks.push({ offset: BigInt(offset), bytes });
    at += bytes.length;
    return offset;
  };
  const contextOffset = place(contextBytes(spec.arch, spec.context));
  const stack = spec.triageStack ?? { address: 0n, bytes: new Uint8Array() };
  const stackOffset = place(stack.bytes);
  // Strings first, so the driver entries can name them.
  const names = modules.map((m) => `\\SystemRoot\\system32\\drivers\\${m.file}`);
  const pool = names.map((n) => {
    const bytes = new Uint8Array(4 + 2 * n.length + 2);
    new DataView(bytes.buffer).setUint32(0, n.length, true);
    bytes.set(utf16(n), 4);
    return bytes;
  });
  const poolOffset = Math.ceil(at / 8) * 8;
  const nameOffsets: number[] = [];
  let cursor = poolOffset;
  for (const s of pool) {
    nameOffsets.push(cursor);
    cursor += s.length;
  }
  const poolBytes = new Uint8Array(cursor - poolOffset);
  pool.forEach((s, i) => poolBytes.set(s, nameOffsets[i]! - poolOffset));
  place(poolBytes);
  const entryLayout: StructLayout = is64
    ? [['DriverNameOffset', 4], ['Pad', 4], ['LdrEntry', sizeOf(KLDR64)]]
    : [['DriverNameOffset', 4], ['LdrEntry', sizeOf(KLDR32)]];
  const drivers = modules.map((m, i) => writeStruct(entryLayout, {
    DriverNameOffset: nameOffsets[i]!,
    LdrEntry: writeStruct(is64 ? KLDR64 : KLDR32, { DllBase: m.base, SizeOfImage: m.size }),
  }));
  const driverOffset = place(drivers.length ? concatBytes(drivers) : new Uint8Array());
  const blocks = pages.map((p) => {
    const page = new Uint8Array(PAGE);
    page.set(p.bytes.subarray(0, PAGE));
    return { address: p.va, offset: place(page), size: PAGE };
  });
  const blocksOffset = place(concatBytes(blocks.map((b) => writeStruct(TRIAGE_DATA_BLOCK, { Address: b.address, Offset: b.offset, Size: b.size }))));
  const validOffset = place(new TextEncoder().encode('TRGDDump'));
  chunks.push({
    offset: BigInt(headerSize),
    bytes: writeStruct(layout, {
      SizeOfDump: at, ValidOffset: validOffset, ContextOffset: contextOffset, ExceptionOffset: headerSize === 0x2000 ? 0xf00 : 0x7d0,
      CallStackOffset: stackOffset, SizeOfCallStack: stack.bytes.length, DriverListOffset: driverOffset, DriverCount: modules.length,
      StringPoolOffset: poolOffset, StringPoolSize: poolBytes.length, TriageOptions: 0xffffffff, TopOfStack: stack.address,
      DataBlocksOffset: blocksOffset, DataBlocksCount: blocks.length,
    }),
  });
  return BigInt(at);
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes the dump to `path` (sparse where no chunk is). */
export function writeKernelDump(path: string, spec: KernelDumpSpec): BuiltDump {
  const built = buildKernelDump(spec);
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, Number(built.size));
    for (const c of built.chunks) writeSync(fd, c.bytes, 0, c.bytes.length, Number(c.offset));
  } finally {
    closeSync(fd);
  }
  return built;
}
