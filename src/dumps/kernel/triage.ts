/**
 * A triage dump (DumpType 4, the kernel "minidump"): after the header,
 * TRIAGE_DUMP (at 0x2000 for PAGEDU64, 0x1000 for PAGEDUMP) gives file
 * offsets of what the dump kept: the faulting thread's stack, the loaded
 * drivers, a pool of their names, and data blocks (memory by address).
 * `TRGD` at ValidOffset marks a dump written to the end.
 *
 * TRIAGE_DUMP: ServicePackBuild 0x00, SizeOfDump 0x04, ValidOffset 0x08,
 * ContextOffset 0x0c, ExceptionOffset 0x10, MmOffset 0x14,
 * UnloadedDriversOffset 0x18, PrcbOffset 0x1c, ProcessOffset 0x20,
 * ThreadOffset 0x24, CallStackOffset 0x28, SizeOfCallStack 0x2c,
 * DriverListOffset 0x30, DriverCount 0x34, StringPoolOffset 0x38,
 * StringPoolSize 0x3c, BrokenDriverOffset 0x40, TriageOptions 0x44,
 * TopOfStack 0x48; then 64-bit: DataPageAddress 0x60, DataPageOffset 0x68,
 * DataPageSize 0x6c, DataBlocksOffset 0x78, DataBlocksCount 0x7c; 32-bit:
 * DataPageAddress 0x4c, DataPageOffset 0x50, DataPageSize 0x54,
 * DataBlocksOffset 0x60, DataBlocksCount 0x64.
 *
 * DUMP_DRIVER_ENTRY: DriverNameOffset, then a KLDR_DATA_TABLE_ENTRY (64-bit:
 * at +0x8, DllBase +0x38, SizeOfImage +0x48, 0x90 bytes an entry; 32-bit:
 * at +0x4, DllBase +0x1c, SizeOfImage +0x24, 0x4c bytes). DUMP_STRING:
 * Length (characters), then UTF-16 and a NUL. TRIAGE_DATA_BLOCK: Address
 * (u64), Offset, Size (16 bytes).
 *
 * @example
 * ```ts
 * const triage = readTriage(file, header, notes);
 * triage.drivers.length; // 151
 * ```
 */
import type { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { PieceMemory, type MemoryPiece } from '../elf/core-memory.ts';
import type { DumpNote } from '../model.ts';
import { hexOf } from './address.ts';
import type { KernelHeader } from './header.ts';
import { MAX_MODULES, uniqueNames, windbgModuleName, type KernelModule } from './modules.ts';

/** Data blocks read at most (a real triage dump has a few thousand). */
const MAX_DATA_BLOCKS = 0x10000;
const MAX_NAME_CHARS = 512;

export interface TriageDump {
  /** File offset of TRIAGE_DUMP. */
  offset: bigint;
  contextOffset: number;
  exceptionOffset: number;
  topOfStack: bigint;
  stackSize: number;
  drivers: KernelModule[];
  dataBlocks: number;
  memory: PieceMemory;
}

/**
 * TRIAGE_DUMP of `file` and what it points to, every offset and count
 * checked against the file. Throws a DumpFormatError naming the field.
 */
export function readTriage(file: FileSource, header: KernelHeader, notes: DumpNote[]): TriageDump {
  const is64 = header.bits === 64;
  const at = BigInt(header.size);
  const r = file.reader(at, is64 ? 0x80 : 0x68, 'TRIAGE_DUMP');
  const fail = (field: string, offset: number, message: string): DumpFormatError =>
    new DumpFormatError(file.format, file.path, `TRIAGE_DUMP.${field} ${message} (TRIAGE_DUMP at offset ${hexOf(at)})`, { offset: at + BigInt(offset), code: 'truncated' });
  const inFile = (field: string, offset: number, start: bigint, length: bigint): void => {
    if (start + length > file.size) throw fail(field, offset, `${hexOf(start)}+${hexOf(length)} runs past the end of the file (${file.size} bytes)`);
  };

  const validOffset = r.u32(0x08, 'ValidOffset');
  inFile('ValidOffset', 0x08, BigInt(validOffset), 4n);
  const valid = new TextDecoder('latin1').decode(file.read(BigInt(validOffset), 4, 'TRIAGE_DUMP ValidOffset'));
  if (valid !== 'TRGD') notes.push({ level: 'warning', message: `TRIAGE_DUMP.ValidOffset ${hexOf(validOffset)} holds '${valid}', not 'TRGD': the dump may not have been written to the end` });

  const contextOffset = r.u32(0x0c, 'ContextOffset');
  const exceptionOffset = r.u32(0x10, 'ExceptionOffset');
  inFile('ContextOffset', 0x0c, BigInt(contextOffset), 0xccn);
  const callStackOffset = r.u32(0x28, 'CallStackOffset');
  const stackSize = r.u32(0x2c, 'SizeOfCallStack');
  inFile('SizeOfCallStack', 0x2c, BigInt(callStackOffset), BigInt(stackSize));
  const topOfStack = is64 ? r.u64(0x48, 'TopOfStack') : BigInt(r.u32(0x48, 'TopOfStack'));

  const pieces: MemoryPiece[] = [];
  const piece = (start: bigint, size: number, fileOffset: number, source: string): void => {
    if (size === 0) return;
    pieces.push({ start, end: start + BigInt(size), source: file, fileOffset: BigInt(fileOffset), provenance: { source, offset: BigInt(fileOffset) } });
  };
  piece(topOfStack, stackSize, callStackOffset, 'TRIAGE_DUMP call stack');

  const dataPage = is64
    ? { address: r.u64(0x60, 'DataPageAddress'), offset: r.u32(0x68, 'DataPageOffset'), size: r.u32(0x6c, 'DataPageSize'), field: 0x6c }
    : { address: BigInt(r.u32(0x4c, 'DataPageAddress')), offset: r.u32(0x50, 'DataPageOffset'), size: r.u32(0x54, 'DataPageSize'), field: 0x54 };
  if (dataPage.size) {
    inFile('DataPageSize', dataPage.field, BigInt(dataPage.offset), BigInt(dataPage.size));
    piece(dataPage.address, dataPage.size, dataPage.offset, 'TRIAGE_DUMP data page');
  }

  const blocksAt = is64 ? 0x78 : 0x60;
  const blocksOffset = r.u32(blocksAt, 'DataBlocksOffset');
  const blocks = r.u32(blocksAt + 4, 'DataBlocksCount');
  if (blocks > MAX_DATA_BLOCKS) throw r.error(blocksAt + 4, `TRIAGE_DUMP.DataBlocksCount ${blocks} is more than the ${MAX_DATA_BLOCKS} a triage dump holds`);
  inFile('DataBlocksCount', blocksAt + 4, BigInt(blocksOffset), BigInt(blocks) * 16n);
  if (blocks) {
    const list = file.reader(BigInt(blocksOffset), blocks * 16, 'TRIAGE_DATA_BLOCK list');
    for (let i = 0; i < blocks; i++) {
      const address = list.u64(i * 16, `[${i}].Address`);
      const offset = list.u32(i * 16 + 8, `[${i}].Offset`);
      const size = list.u32(i * 16 + 12, `[${i}].Size`);
      if (BigInt(offset) + BigInt(size) > file.size) {
        throw new DumpFormatError(file.format, file.path, `TRIAGE_DATA_BLOCK[${i}] (${hexOf(address)}, ${hexOf(size)} bytes at offset ${hexOf(offset)}) runs past the end of the file (${file.size} bytes)`, { offset: BigInt(blocksOffset + i * 16), code: 'truncated' });
      }
      piece(address, size, offset, `TRIAGE_DATA_BLOCK[${i}]`);
    }
  }

  const drivers = readDrivers(file, r, is64, fail, notes);
  return {
    offset: at, contextOffset, exceptionOffset, topOfStack, stackSize, drivers, dataBlocks: blocks,
    memory: new PieceMemory(disjoint(pieces, notes)),
  };
}

function readDrivers(file: FileSource, r: ReturnType<FileSource['reader']>, is64: boolean, fail: (field: string, offset: number, message: string) => DumpFormatError, notes: DumpNote[]): KernelModule[] {
  const listOffset = r.u32(0x30, 'DriverListOffset');
  const count = r.u32(0x34, 'DriverCount');
  const poolOffset = r.u32(0x38, 'StringPoolOffset');
  const poolSize = r.u32(0x3c, 'StringPoolSize');
  if (count > MAX_MODULES) throw r.error(0x34, `TRIAGE_DUMP.DriverCount ${count} is more than ${MAX_MODULES}`);
  const entrySize = is64 ? 0x90 : 0x4c;
  if (BigInt(listOffset) + BigInt(count * entrySize) > file.size) throw fail('DriverCount', 0x34, `${count} entries at ${hexOf(listOffset)} run past the end of the file (${file.size} bytes)`);
  if (BigInt(poolOffset) + BigInt(poolSize) > file.size) throw fail('StringPoolSize', 0x3c, `${hexOf(poolOffset)}+${hexOf(poolSize)} runs past the end of the file (${file.size} bytes)`);
  if (count === 0) return [];
  const list = file.reader(BigInt(listOffset), count * entrySize, 'DUMP_DRIVER_ENTRY list');
  const drivers: KernelModule[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    const nameOffset = list.u32(at, `[${i}].DriverNameOffset`);
    const base = is64 ? list.u64(at + 0x38, `[${i}].DllBase`) : BigInt(list.u32(at + 0x1c, `[${i}].DllBase`));
    const size = BigInt(list.u32(at + (is64 ? 0x48 : 0x24), `[${i}].SizeOfImage`));
    const path = driverName(file, nameOffset, poolOffset, poolSize);
    if (path === undefined) notes.push({ level: 'warning', message: `DUMP_DRIVER_ENTRY[${i}].DriverNameOffset ${hexOf(nameOffset)} is not a name in the string pool` });
    const module: KernelModule = { name: path ? windbgModuleName(path) : `module_${base.toString(16)}`, base, size, entry: BigInt(listOffset + at) };
    if (path) module.path = path;
    drivers.push(module);
  }
  return uniqueNames(drivers);
}

/** The DUMP_STRING at `offset`, which must lie inside the string pool. */
function driverName(file: FileSource, offset: number, pool: number, poolSize: number): string | undefined {
  if (offset < pool || offset + 4 > pool + poolSize) return undefined;
  const length = new DataView(file.read(BigInt(offset), 4, 'DUMP_STRING.Length').buffer).getUint32(0, true);
  if (length === 0 || length > MAX_NAME_CHARS || offset + 4 + 2 * length > pool + poolSize) return undefined;
  return new TextDecoder('utf-16le').decode(file.read(BigInt(offset + 4), 2 * length, 'DUMP_STRING.Buffer'));
}

/** Pieces sorted with overlaps cut away: bytes already covered by a piece starting earlier are kept from it. */
function disjoint(pieces: MemoryPiece[], notes: DumpNote[]): MemoryPiece[] {
  const sorted = [...pieces].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const kept: MemoryPiece[] = [];
  let cut = 0;
  for (const p of sorted) {
    const last = kept[kept.length - 1];
    if (!last || p.start >= last.end) {
      kept.push(p);
      continue;
    }
    cut++;
    if (p.end <= last.end) continue;
    const skip = last.end - p.start;
    kept.push({ ...p, start: last.end, fileOffset: p.fileOffset + skip, provenance: { ...p.provenance, offset: p.fileOffset + skip } });
  }
  if (cut) notes.push({ level: 'info', message: `${cut} triage memory blocks overlap others; the bytes of the block starting first are kept` });
  return kept;
}
