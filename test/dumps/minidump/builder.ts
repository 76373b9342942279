/**
 * Builds minidumps for tests from the struct declarations in
 * minidumpapiset.h and winnt.h, independently of the parser: every struct is
 * written as its fields in declaration order with their sizes, so a field
 * offset comes from adding up the fields before it, never from the parser's
 * hex constants. A wrong offset in either place shows up as a mismatch.
 *
 * Layout: header at 0, a directory with room for `capacity` entries at 0x20,
 * then every blob in the order it was added (4-byte aligned), so each method
 * can return the RVA of what it wrote.
 *
 * @example
 * ```ts
 * const b = new MinidumpBuilder();
 * b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
 * const context = b.data(x86Context({ ContextFlags: 0x1003f, Eip: 0x401000 }));
 * b.threadList([{ ThreadId: 1, context: { rva: context, size: X86_CONTEXT_BYTES } }]);
 * writeFileSync(path, b.build());
 * ```
 */

type FieldValue = number | bigint | Uint8Array;
/** A struct as [field name, size in bytes] in declaration order. */
export type StructLayout = readonly (readonly [string, number])[];

/** Size of a struct: the sum of its fields. */
export function sizeOf(layout: StructLayout): number {
  return layout.reduce((sum, [, size]) => sum + size, 0);
}

/** Offset of `field`: the sum of the fields declared before it. */
export function offsetOf(layout: StructLayout, field: string): number {
  let offset = 0;
  for (const [name, size] of layout) {
    if (name === field) return offset;
    offset += size;
  }
  throw new Error(`No field ${field}`);
}

/** The bytes of a struct; fields not given are zero. Numbers are little-endian. */
export function writeStruct(layout: StructLayout, values: Record<string, FieldValue | undefined>): Uint8Array {
  const out = new Uint8Array(sizeOf(layout));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const [name, size] of layout) {
    const value = values[name];
    if (value instanceof Uint8Array) out.set(value.subarray(0, size), offset);
    else if (value !== undefined) {
      if (size === 1) view.setUint8(offset, Number(value));
      else if (size === 2) view.setUint16(offset, Number(value), true);
      else if (size === 4) view.setUint32(offset, Number(BigInt.asUintN(32, BigInt(value))), true);
      else if (size === 8) view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
      else throw new Error(`Field ${name} of ${size} bytes needs bytes`);
    }
    offset += size;
  }
  for (const name of Object.keys(values)) if (!layout.some(([n]) => n === name)) throw new Error(`Unknown field ${name}`);
  return out;
}

const repeat = (prefix: string, names: string[], size: number): [string, number][] => names.map((n) => [`${prefix}${n}`, size]);

// minidumpapiset.h
export const MINIDUMP_HEADER: StructLayout = [['Signature', 4], ['Version', 4], ['NumberOfStreams', 4], ['StreamDirectoryRva', 4], ['CheckSum', 4], ['TimeDateStamp', 4], ['Flags', 8]];
export const MINIDUMP_DIRECTORY: StructLayout = [['StreamType', 4], ['DataSize', 4], ['Rva', 4]];
export const MINIDUMP_THREAD: StructLayout = [
  ['ThreadId', 4], ['SuspendCount', 4], ['PriorityClass', 4], ['Priority', 4], ['Teb', 8],
  ['Stack.StartOfMemoryRange', 8], ['Stack.Memory.DataSize', 4], ['Stack.Memory.Rva', 4],
  ['ThreadContext.DataSize', 4], ['ThreadContext.Rva', 4],
];
const VS_FIXEDFILEINFO = repeat('VersionInfo.', ['dwSignature', 'dwStrucVersion', 'dwFileVersionMS', 'dwFileVersionLS', 'dwProductVersionMS', 'dwProductVersionLS', 'dwFileFlagsMask', 'dwFileFlags', 'dwFileOS', 'dwFileType', 'dwFileSubtype', 'dwFileDateMS', 'dwFileDateLS'], 4);
export const MINIDUMP_MODULE: StructLayout = [
  ['BaseOfImage', 8], ['SizeOfImage', 4], ['CheckSum', 4], ['TimeDateStamp', 4], ['ModuleNameRva', 4],
  ...VS_FIXEDFILEINFO,
  ['CvRecord.DataSize', 4], ['CvRecord.Rva', 4], ['MiscRecord.DataSize', 4], ['MiscRecord.Rva', 4], ['Reserved0', 8], ['Reserved1', 8],
];
export const MINIDUMP_MEMORY_DESCRIPTOR: StructLayout = [['StartOfMemoryRange', 8], ['Memory.DataSize', 4], ['Memory.Rva', 4]];
export const MINIDUMP_MEMORY_DESCRIPTOR64: StructLayout = [['StartOfMemoryRange', 8], ['DataSize', 8]];
export const MINIDUMP_EXCEPTION_STREAM: StructLayout = [
  ['ThreadId', 4], ['__alignment', 4],
  ['ExceptionCode', 4], ['ExceptionFlags', 4], ['ExceptionRecord', 8], ['ExceptionAddress', 8], ['NumberParameters', 4], ['__unusedAlignment', 4],
  ...Array.from({ length: 15 }, (_, i) => [`ExceptionInformation${i}`, 8] as [string, number]),
  ['ThreadContext.DataSize', 4], ['ThreadContext.Rva', 4],
];
export const MINIDUMP_SYSTEM_INFO: StructLayout = [
  ['ProcessorArchitecture', 2], ['ProcessorLevel', 2], ['ProcessorRevision', 2], ['NumberOfProcessors', 1], ['ProductType', 1],
  ['MajorVersion', 4], ['MinorVersion', 4], ['BuildNumber', 4], ['PlatformId', 4], ['CSDVersionRva', 4], ['SuiteMask', 2], ['Reserved2', 2],
  ['VendorId', 12], ['VersionInformation', 4], ['FeatureInformation', 4], ['AMDExtendedCpuFeatures', 4],
];
export const MINIDUMP_MISC_INFO: StructLayout = [['SizeOfInfo', 4], ['Flags1', 4], ['ProcessId', 4], ['ProcessCreateTime', 4], ['ProcessUserTime', 4], ['ProcessKernelTime', 4]];
export const MINIDUMP_MEMORY_INFO_LIST: StructLayout = [['SizeOfHeader', 4], ['SizeOfEntry', 4], ['NumberOfEntries', 8]];
export const MINIDUMP_MEMORY_INFO: StructLayout = [
  ['BaseAddress', 8], ['AllocationBase', 8], ['AllocationProtect', 4], ['__alignment1', 4], ['RegionSize', 8], ['State', 4], ['Protect', 4], ['Type', 4], ['__alignment2', 4],
];
export const MINIDUMP_THREAD_NAME: StructLayout = [['ThreadId', 4], ['RvaOfThreadName', 8]];

// winnt.h: the i386 CONTEXT (with FLOATING_SAVE_AREA of 112 bytes) and the AMD64 CONTEXT.
export const X86_CONTEXT: StructLayout = [
  ['ContextFlags', 4], ...repeat('', ['Dr0', 'Dr1', 'Dr2', 'Dr3', 'Dr6', 'Dr7'], 4), ['FloatSave', 112],
  ...repeat('', ['SegGs', 'SegFs', 'SegEs', 'SegDs', 'Edi', 'Esi', 'Ebx', 'Edx', 'Ecx', 'Eax', 'Ebp', 'Eip', 'SegCs', 'EFlags', 'Esp', 'SegSs'], 4),
  ['ExtendedRegisters', 512],
];
export const AMD64_CONTEXT: StructLayout = [
  ...repeat('', ['P1Home', 'P2Home', 'P3Home', 'P4Home', 'P5Home', 'P6Home'], 8),
  ['ContextFlags', 4], ['MxCsr', 4],
  ...repeat('', ['SegCs', 'SegDs', 'SegEs', 'SegFs', 'SegGs', 'SegSs'], 2), ['EFlags', 4],
  ...repeat('', ['Dr0', 'Dr1', 'Dr2', 'Dr3', 'Dr6', 'Dr7'], 8),
  ...repeat('', ['Rax', 'Rcx', 'Rdx', 'Rbx', 'Rsp', 'Rbp', 'Rsi', 'Rdi', 'R8', 'R9', 'R10', 'R11', 'R12', 'R13', 'R14', 'R15', 'Rip'], 8),
  ['FltSave', 512], ['VectorRegister', 26 * 16],
  ...repeat('', ['VectorControl', 'DebugControl', 'LastBranchToRip', 'LastBranchFromRip', 'LastExceptionToRip', 'LastExceptionFromRip'], 8),
];
/** winnt.h ARM64_NT_CONTEXT. */
export const ARM64_CONTEXT: StructLayout = [
  ['ContextFlags', 4], ['Cpsr', 4],
  ...Array.from({ length: 29 }, (_, i) => [`X${i}`, 8] as [string, number]),
  ['Fp', 8], ['Lr', 8], ['Sp', 8], ['Pc', 8], ['V', 32 * 16], ['Fpcr', 4], ['Fpsr', 4],
  ['Bcr', 8 * 4], ['Bvr', 8 * 8], ['Wcr', 2 * 4], ['Wvr', 2 * 8],
];
export const X86_CONTEXT_BYTES = sizeOf(X86_CONTEXT);
export const AMD64_CONTEXT_BYTES = sizeOf(AMD64_CONTEXT);

/** An x86 CONTEXT; ContextFlags defaults to CONTEXT_i386 | CONTROL | INTEGER | SEGMENTS. */
export function x86Context(values: Record<string, number | bigint>): Uint8Array {
  return writeStruct(X86_CONTEXT, { ContextFlags: 0x10007, ...values });
}

/** An AMD64 CONTEXT; ContextFlags defaults to CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS. */
export function amd64Context(values: Record<string, number | bigint>): Uint8Array {
  return writeStruct(AMD64_CONTEXT, { ContextFlags: 0x100007, ...values });
}

/** Stream types, from MINIDUMP_STREAM_TYPE. */
export const STREAM = { ThreadList: 3, ModuleList: 4, MemoryList: 5, Exception: 6, SystemInfo: 7, Memory64List: 9, MiscInfo: 15, MemoryInfoList: 16, ThreadNames: 24 } as const;

export interface Location {
  rva: number;
  size: number;
}

export class MinidumpBuilder {
  private readonly blobs: Uint8Array[] = [];
  private length: number;
  private readonly streams: { type: number; rva: number; size: number }[] = [];

  constructor(private readonly capacity = 16) {
    this.length = sizeOf(MINIDUMP_HEADER) + capacity * sizeOf(MINIDUMP_DIRECTORY);
  }

  /** Where the next blob will go. */
  get nextRva(): number {
    return (this.length + 3) & ~3;
  }

  /** Appends `bytes` 4-byte aligned and returns their RVA. */
  data(bytes: Uint8Array): number {
    const rva = this.nextRva;
    if (rva > this.length) this.blobs.push(new Uint8Array(rva - this.length));
    this.blobs.push(bytes);
    this.length = rva + bytes.length;
    return rva;
  }

  /** A directory entry for `bytes`, appended as a blob; returns its RVA. */
  stream(type: number, bytes: Uint8Array): number {
    const rva = this.data(bytes);
    this.addDirectoryEntry(type, rva, bytes.length);
    return rva;
  }

  /** A directory entry pointing anywhere (for hostile dumps). */
  addDirectoryEntry(type: number, rva: number, size: number): void {
    if (this.streams.length >= this.capacity) throw new Error('Directory full');
    this.streams.push({ type, rva, size });
  }

  /** MINIDUMP_STRING: u32 byte length, UTF-16LE text, two zero bytes. */
  string(text: string): number {
    const bytes = new Uint8Array(4 + text.length * 2 + 2);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, text.length * 2, true);
    for (let i = 0; i < text.length; i++) view.setUint16(4 + 2 * i, text.charCodeAt(i), true);
    return this.data(bytes);
  }

  systemInfo(values: Record<string, FieldValue>): number {
    return this.stream(STREAM.SystemInfo, writeStruct(MINIDUMP_SYSTEM_INFO, values));
  }

  /** Threads; each `context` is a blob already written (`data(x86Context(…))`). */
  threadList(threads: { ThreadId: number; Teb?: bigint; stack?: { start: bigint; rva: number; size: number }; context?: Location }[], options: { padding?: boolean } = {}): number {
    const entries = threads.map((t) => writeStruct(MINIDUMP_THREAD, {
      ThreadId: t.ThreadId,
      Teb: t.Teb,
      'Stack.StartOfMemoryRange': t.stack?.start,
      'Stack.Memory.DataSize': t.stack?.size,
      'Stack.Memory.Rva': t.stack?.rva,
      'ThreadContext.DataSize': t.context?.size,
      'ThreadContext.Rva': t.context?.rva,
    }));
    return this.stream(STREAM.ThreadList, list(threads.length, entries, options.padding));
  }

  moduleList(modules: { base: bigint; size: number; name: string; timestamp?: number; pdb?: { guid: Uint8Array; age: number; file: string }; buildId?: Uint8Array }[]): number {
    const entries = modules.map((m) => {
      const nameRva = this.string(m.name);
      let cv: Location | undefined;
      if (m.pdb) {
        const text = new TextEncoder().encode(`${m.pdb.file}\0`);
        const record = new Uint8Array(24 + text.length);
        new DataView(record.buffer).setUint32(0, 0x53445352, true); // 'RSDS'
        record.set(m.pdb.guid, 4);
        new DataView(record.buffer).setUint32(20, m.pdb.age, true);
        record.set(text, 24);
        cv = { rva: this.data(record), size: record.length };
      } else if (m.buildId) {
        const record = new Uint8Array(4 + m.buildId.length);
        record.set([0x4c, 0x45, 0x70, 0x42]); // 'LEpB'
        record.set(m.buildId, 4);
        cv = { rva: this.data(record), size: record.length };
      }
      return writeStruct(MINIDUMP_MODULE, { BaseOfImage: m.base, SizeOfImage: m.size, TimeDateStamp: m.timestamp, ModuleNameRva: nameRva, 'CvRecord.DataSize': cv?.size, 'CvRecord.Rva': cv?.rva });
    });
    return this.stream(STREAM.ModuleList, list(modules.length, entries));
  }

  /** Memory ranges; each range's bytes are written as a blob unless `rva` is given. */
  memoryList(ranges: { start: bigint; bytes?: Uint8Array; rva?: number; size?: number }[], options: { count?: number } = {}): number {
    const entries = ranges.map((r) => {
      const rva = r.rva ?? this.data(r.bytes!);
      return writeStruct(MINIDUMP_MEMORY_DESCRIPTOR, { StartOfMemoryRange: r.start, 'Memory.DataSize': r.size ?? r.bytes!.length, 'Memory.Rva': rva });
    });
    return this.stream(STREAM.MemoryList, list(options.count ?? ranges.length, entries));
  }

  /**
   * MINIDUMP_MEMORY64_LIST. Without `baseRva`, the ranges' bytes are written
   * back to back after the list; with it, only descriptors are written (the
   * caller provides the bytes, e.g. by extending the file).
   */
  memory64List(ranges: { start: bigint; bytes?: Uint8Array; size?: bigint }[], options: { baseRva?: bigint } = {}): number {
    const descriptors = ranges.map((r) => writeStruct(MINIDUMP_MEMORY_DESCRIPTOR64, { StartOfMemoryRange: r.start, DataSize: r.size ?? BigInt(r.bytes!.length) }));
    const size = 16 + 16 * ranges.length;
    const listRva = this.nextRva;
    const baseRva = options.baseRva ?? BigInt(listRva + size);
    const head = new Uint8Array(16);
    new DataView(head.buffer).setBigUint64(0, BigInt(ranges.length), true);
    new DataView(head.buffer).setBigUint64(8, baseRva, true);
    this.stream(STREAM.Memory64List, concat([head, ...descriptors]));
    if (options.baseRva === undefined) for (const r of ranges) this.blobs.push(r.bytes!), (this.length += r.bytes!.length);
    return listRva;
  }

  exception(values: { ThreadId: number; ExceptionCode: number; ExceptionAddress: bigint; parameters?: bigint[]; ExceptionFlags?: number; NumberParameters?: number; context?: Location }): number {
    const info: Record<string, FieldValue | undefined> = {};
    (values.parameters ?? []).forEach((p, i) => (info[`ExceptionInformation${i}`] = p));
    return this.stream(STREAM.Exception, writeStruct(MINIDUMP_EXCEPTION_STREAM, {
      ThreadId: values.ThreadId,
      ExceptionCode: values.ExceptionCode,
      ExceptionFlags: values.ExceptionFlags,
      ExceptionAddress: values.ExceptionAddress,
      NumberParameters: values.NumberParameters ?? values.parameters?.length ?? 0,
      ...info,
      'ThreadContext.DataSize': values.context?.size,
      'ThreadContext.Rva': values.context?.rva,
    }));
  }

  threadNames(names: { ThreadId: number; name: string }[]): number {
    const entries = names.map((n) => writeStruct(MINIDUMP_THREAD_NAME, { ThreadId: n.ThreadId, RvaOfThreadName: BigInt(this.string(n.name)) }));
    return this.stream(STREAM.ThreadNames, list(names.length, entries));
  }

  miscInfo(values: Record<string, number>): number {
    return this.stream(STREAM.MiscInfo, writeStruct(MINIDUMP_MISC_INFO, { SizeOfInfo: sizeOf(MINIDUMP_MISC_INFO), ...values }));
  }

  memoryInfoList(regions: Record<string, FieldValue>[]): number {
    const head = writeStruct(MINIDUMP_MEMORY_INFO_LIST, { SizeOfHeader: sizeOf(MINIDUMP_MEMORY_INFO_LIST), SizeOfEntry: sizeOf(MINIDUMP_MEMORY_INFO), NumberOfEntries: BigInt(regions.length) });
    return this.stream(STREAM.MemoryInfoList, concat([head, ...regions.map((r) => writeStruct(MINIDUMP_MEMORY_INFO, r))]));
  }

  /** The file: header (NumberOfStreams = streams added, unless given), directory, blobs. */
  build(header: Partial<Record<'Signature' | 'Version' | 'NumberOfStreams' | 'StreamDirectoryRva', number>> = {}): Uint8Array {
    const directory = new Uint8Array(this.capacity * sizeOf(MINIDUMP_DIRECTORY));
    this.streams.forEach((s, i) => directory.set(writeStruct(MINIDUMP_DIRECTORY, { StreamType: s.type, DataSize: s.size, Rva: s.rva }), i * sizeOf(MINIDUMP_DIRECTORY)));
    const head = writeStruct(MINIDUMP_HEADER, {
      Signature: 0x504d444d, // 'MDMP'
      Version: 0xa793,
      NumberOfStreams: this.streams.length,
      StreamDirectoryRva: sizeOf(MINIDUMP_HEADER),
      TimeDateStamp: 0x5f5f5f5f,
      ...header,
    });
    return concat([head, directory, ...this.blobs]);
  }
}

/** A u32 count (with 4 bytes of padding after it, if asked) and the entries. */
function list(count: number, entries: Uint8Array[], padding = false): Uint8Array {
  const head = new Uint8Array(padding ? 8 : 4);
  new DataView(head.buffer).setUint32(0, count, true);
  return concat([head, ...entries]);
}

export { concat } from '../../helpers/bytes.ts';
import { concat } from '../../helpers/bytes.ts';
