/**
 * The header of a Windows kernel dump (`MEMORY.DMP`): DUMP_HEADER32
 * (`PAGEDUMP`, 0x1000 bytes) or DUMP_HEADER64 (`PAGEDU64`, 0x2000 bytes),
 * as ntiodump.h / kdmp-parser / Volatility lay them out. Offsets below are
 * the ones `dt nt!_DUMP_HEADER` and kdmp-parser's static_asserts give.
 *
 * | field | 32-bit | 64-bit |
 * |---|---|---|
 * | DirectoryTableBase | 0x10 | 0x10 |
 * | PfnDataBase | 0x14 | 0x18 |
 * | PsLoadedModuleList | 0x18 | 0x20 |
 * | PsActiveProcessHead | 0x1c | 0x28 |
 * | MachineImageType | 0x20 | 0x30 |
 * | NumberProcessors | 0x24 | 0x34 |
 * | BugCheckCode | 0x28 | 0x38 |
 * | BugCheckParameter1..4 | 0x2c | 0x40 |
 * | PaeEnabled | 0x5c | — |
 * | KdDebuggerDataBlock | 0x60 | 0x80 |
 * | PhysicalMemoryBlock | 0x64 | 0x88 |
 * | ContextRecord | 0x320 | 0x348 |
 * | Exception | 0x7d0 | 0xf00 |
 * | DumpType | 0xf88 | 0xf98 |
 * | RequiredDumpSpace | 0xfa0 | 0xfa0 |
 * | SystemTime | — | 0xfa8 |
 *
 * Fields a dump type does not use hold the filler `PAGE` (0x45474150).
 *
 * @example
 * ```ts
 * const header = readKernelHeader(FileSource.open('MEMORY.DMP', 'kernel-dump'));
 * header.bugcheck.code; // 0x1000007en
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { ByteReader } from '../binary/byte-reader.ts';
import type { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { hexOf, pa, PAGE_SIZE, va, type Pa, type Va } from './address.ts';

/** DumpType values faultline reads. */
export const DumpType = {
  Full: 1,
  Kernel: 2,
  Triage: 4,
  BitmapFull: 5,
  BitmapKernel: 6,
} as const;

const DUMP_TYPE_NAMES: Record<number, string> = {
  1: 'full', 2: 'kernel', 4: 'triage', 5: 'bitmap full', 6: 'bitmap kernel',
};

/** What `PAGE` filler reads as in a u32 field. */
export const FILLER = 0x45474150;

/** One PHYSICAL_MEMORY_RUN: pages [basePage, basePage + pageCount). */
export interface PhysicalRun {
  basePage: bigint;
  pageCount: bigint;
}

export interface KernelHeader {
  bits: 32 | 64;
  /** 0x1000 or 0x2000: where page data (full dumps) or the next header starts. */
  size: number;
  arch: Arch;
  machineImageType: number;
  majorVersion: number;
  /** The NT build number. */
  minorVersion: number;
  dumpType: number;
  dumpTypeName: string;
  /** x86 only: PAE page tables. */
  pae: boolean;
  directoryTableBase: Pa;
  pfnDatabase: Va;
  psLoadedModuleList: Va;
  psActiveProcessHead: Va;
  kdDebuggerDataBlock: Va;
  processors: number;
  bugcheck: { code: bigint; parameters: bigint[] };
  /** The PHYSICAL_MEMORY_DESCRIPTOR runs: the layout of a full dump's pages (empty for other types). */
  runs: PhysicalRun[];
  /** File offset of the CONTEXT. */
  contextOffset: number;
  /** File offset of the EXCEPTION_RECORD32/64. */
  exceptionOffset: number;
  requiredDumpSpace?: bigint;
  systemTime?: Date;
  /** The header's bytes. */
  reader: ByteReader;
}

const MACHINES: Record<number, Arch> = { 0x14c: 'x86', 0x8664: 'x64', 0xaa64: 'arm64' };

/** Most processors a Windows kernel supports; a larger count is a corrupt header. */
const MAX_PROCESSORS = 2048;

/**
 * The header of `file`. Throws a DumpFormatError naming the field for a
 * wrong signature, an unknown DumpType or machine, a processor count or run
 * list that cannot be, or runs whose pages lie past the end of the file.
 *
 * @example
 * ```ts
 * readKernelHeader(file).dumpTypeName; // 'bitmap full'
 * ```
 */
export function readKernelHeader(file: FileSource): KernelHeader {
  if (file.size < 8n) throw new DumpFormatError(file.format, file.path, `The file is ${file.size} bytes, too short for a kernel dump header`, { offset: 0n, code: 'truncated' });
  const magic = new TextDecoder('latin1').decode(file.read(0n, 8, 'DUMP_HEADER Signature'));
  const bits = magic === 'PAGEDU64' ? 64 : magic === 'PAGEDUMP' ? 32 : undefined;
  if (bits === undefined) throw new DumpFormatError(file.format, file.path, `Signature '${magic}' is not PAGEDUMP or PAGEDU64`, { offset: 0n, code: 'bad-magic' });
  const size = bits === 64 ? 0x2000 : 0x1000;
  if (file.size < BigInt(size)) {
    throw new DumpFormatError(file.format, file.path, `DUMP_HEADER${bits} needs 0x${size.toString(16)} bytes; the file is ${file.size} bytes`, { offset: 0n, code: 'truncated' });
  }
  const r = file.reader(0n, size, `DUMP_HEADER${bits}`);
  return bits === 64 ? readHeader64(r, file) : readHeader32(r, file);
}

function common(r: ByteReader, machineAt: number): { arch: Arch; machineImageType: number } {
  const machineImageType = r.u32(machineAt, 'MachineImageType');
  const arch = MACHINES[machineImageType];
  if (!arch) throw r.error(machineAt, `MachineImageType ${hexOf(machineImageType)} is not x86 (0x14c), x64 (0x8664) or ARM64 (0xaa64)`, 'unsupported');
  return { arch, machineImageType };
}

function dumpTypeAt(r: ByteReader, at: number): { dumpType: number; dumpTypeName: string } {
  const dumpType = r.u32(at, 'DumpType');
  const dumpTypeName = DUMP_TYPE_NAMES[dumpType];
  if (!dumpTypeName) throw r.error(at, `DumpType ${dumpType} is not one faultline reads (1 full, 2 kernel, 4 triage, 5 bitmap full, 6 bitmap kernel)`, 'unsupported');
  return { dumpType, dumpTypeName };
}

function processorsAt(r: ByteReader, at: number): number {
  const processors = r.u32(at, 'NumberProcessors');
  if (processors === 0 || processors > MAX_PROCESSORS) throw r.error(at, `NumberProcessors ${processors} is not between 1 and ${MAX_PROCESSORS}`);
  return processors;
}

/**
 * The runs of PHYSICAL_MEMORY_DESCRIPTOR at `at`, checked: no more than
 * fit in the descriptor's buffer (`end`), no wrap, sorted and disjoint, and
 * (a full dump) their pages inside the file after the header.
 */
function readRuns(r: ByteReader, file: FileSource, at: number, end: number, bits: 32 | 64, headerSize: number): PhysicalRun[] {
  const word = bits === 64 ? 8 : 4;
  const count = r.u32(at, 'PhysicalMemoryBlock.NumberOfRuns');
  const first = at + (bits === 64 ? 0x10 : 0x8);
  const max = Math.floor((end - first) / (2 * word));
  if (count === 0 || count > max) throw r.error(at, `PhysicalMemoryBlock.NumberOfRuns ${count} is not between 1 and the ${max} the header holds`);
  const declared = bits === 64 ? r.u64(at + 8, 'PhysicalMemoryBlock.NumberOfPages') : BigInt(r.u32(at + 4, 'PhysicalMemoryBlock.NumberOfPages'));
  const runs: PhysicalRun[] = [];
  let total = 0n;
  const read = (offset: number, field: string): bigint => (bits === 64 ? r.u64(offset, field) : BigInt(r.u32(offset, field)));
  for (let i = 0; i < count; i++) {
    const offset = first + i * 2 * word;
    const basePage = read(offset, `PhysicalMemoryBlock.Run[${i}].BasePage`);
    const pageCount = read(offset + word, `PhysicalMemoryBlock.Run[${i}].PageCount`);
    const last = runs[runs.length - 1];
    if (basePage + pageCount > 1n << 40n) throw r.error(offset, `PhysicalMemoryBlock.Run[${i}] (pages ${hexOf(basePage)}+${hexOf(pageCount)}) lies past the 52-bit physical address space`);
    if (last && basePage < last.basePage + last.pageCount) {
      throw r.error(offset, `PhysicalMemoryBlock.Run[${i}] (page ${hexOf(basePage)}) starts inside or before Run[${i - 1}] (pages ${hexOf(last.basePage)}+${hexOf(last.pageCount)})`);
    }
    total += pageCount;
    const dataEnd = BigInt(headerSize) + total * BigInt(PAGE_SIZE);
    if (dataEnd > file.size) {
      throw new DumpFormatError(file.format, file.path,
        `PhysicalMemoryBlock.Run[${i}] (pages ${hexOf(basePage)}+${hexOf(pageCount)}) runs past the end of the file: its pages end at offset ${hexOf(dataEnd)}, the file is ${file.size} bytes (the run is at offset ${hexOf(offset)})`,
        { offset: BigInt(offset), code: 'truncated' });
    }
    runs.push({ basePage, pageCount });
  }
  if (declared !== total) {
    throw r.error(at, `PhysicalMemoryBlock.NumberOfPages ${hexOf(declared)} is not the ${hexOf(total)} pages its runs hold`);
  }
  return runs;
}

function readHeader64(r: ByteReader, file: FileSource): KernelHeader {
  const valid = r.u32(0x04, 'ValidDump');
  const { arch, machineImageType } = common(r, 0x30);
  if (arch === 'x86') throw r.error(0x30, 'MachineImageType says x86, but the header is PAGEDU64 (64-bit)');
  const { dumpType, dumpTypeName } = dumpTypeAt(r, 0xf98);
  if (valid !== 0x34365544) throw r.error(0x04, `ValidDump ${hexOf(valid)} is not 'DU64'`, 'bad-magic');
  const header: KernelHeader = {
    bits: 64,
    size: 0x2000,
    arch,
    machineImageType,
    majorVersion: r.u32(0x08, 'MajorVersion'),
    minorVersion: r.u32(0x0c, 'MinorVersion'),
    dumpType,
    dumpTypeName,
    pae: false,
    directoryTableBase: pa(r.u64(0x10, 'DirectoryTableBase')),
    pfnDatabase: va(r.u64(0x18, 'PfnDataBase')),
    psLoadedModuleList: va(r.u64(0x20, 'PsLoadedModuleList')),
    psActiveProcessHead: va(r.u64(0x28, 'PsActiveProcessHead')),
    processors: processorsAt(r, 0x34),
    bugcheck: {
      code: BigInt(r.u32(0x38, 'BugCheckCode')),
      parameters: [0, 1, 2, 3].map((i) => r.u64(0x40 + 8 * i, `BugCheckParameter${i + 1}`)),
    },
    kdDebuggerDataBlock: va(r.u64(0x80, 'KdDebuggerDataBlock')),
    runs: dumpType === DumpType.Full ? readRuns(r, file, 0x88, 0x348, 64, 0x2000) : [],
    contextOffset: 0x348,
    exceptionOffset: 0xf00,
    requiredDumpSpace: r.u64(0xfa0, 'RequiredDumpSpace'),
    reader: r,
  };
  const fileTime = r.u64(0xfa8, 'SystemTime');
  // FILETIME: 100 ns ticks since 1601; 11644473600 s separate 1601 from 1970.
  const ms = Number(fileTime / 10_000n) - 11_644_473_600_000;
  if (fileTime !== 0n && ms > 0 && ms < 8.64e15) header.systemTime = new Date(ms);
  return header;
}

function readHeader32(r: ByteReader, file: FileSource): KernelHeader {
  const valid = r.u32(0x04, 'ValidDump');
  const { arch, machineImageType } = common(r, 0x20);
  if (arch !== 'x86') throw r.error(0x20, `MachineImageType says ${arch}, but the header is PAGEDUMP (32-bit)`);
  const { dumpType, dumpTypeName } = dumpTypeAt(r, 0xf88);
  if (valid !== 0x504d5544) throw r.error(0x04, `ValidDump ${hexOf(valid)} is not 'DUMP'`, 'bad-magic');
  const paeByte = r.u8(0x5c, 'PaeEnabled');
  if (paeByte > 1) throw r.error(0x5c, `PaeEnabled ${paeByte} is neither 0 nor 1`);
  const u32 = (at: number, field: string): bigint => BigInt(r.u32(at, field));
  return {
    bits: 32,
    size: 0x1000,
    arch,
    machineImageType,
    majorVersion: r.u32(0x08, 'MajorVersion'),
    minorVersion: r.u32(0x0c, 'MinorVersion'),
    dumpType,
    dumpTypeName,
    pae: paeByte === 1,
    directoryTableBase: pa(u32(0x10, 'DirectoryTableBase')),
    pfnDatabase: va(u32(0x14, 'PfnDataBase')),
    psLoadedModuleList: va(u32(0x18, 'PsLoadedModuleList')),
    psActiveProcessHead: va(u32(0x1c, 'PsActiveProcessHead')),
    processors: processorsAt(r, 0x24),
    bugcheck: {
      code: u32(0x28, 'BugCheckCode'),
      parameters: [0, 1, 2, 3].map((i) => u32(0x2c + 4 * i, `BugCheckParameter${i + 1}`)),
    },
    kdDebuggerDataBlock: va(u32(0x60, 'KdDebuggerDataBlock')),
    runs: dumpType === DumpType.Full ? readRuns(r, file, 0x64, 0x320, 32, 0x1000) : [],
    contextOffset: 0x320,
    exceptionOffset: 0x7d0,
    requiredDumpSpace: r.u64(0xfa0, 'RequiredDumpSpace'),
    reader: r,
  };
}
