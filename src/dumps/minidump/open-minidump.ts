/**
 * Opens a Windows minidump (MDMP, also as Breakpad and Crashpad write it on
 * Linux and macOS) as a `Dump`. Open reads the header, the directory and the
 * small streams faultline needs (SystemInfo, ThreadList and contexts,
 * ThreadNames, ModuleList, Exception, MiscInfo, MemoryInfoList, and the
 * memory descriptors); memory bytes stay in the file and are read on demand,
 * so a dump of many gigabytes opens at once. Other streams are never read.
 *
 * Bad input is one `DumpFormatError` naming the stream and file offset:
 * 'bad-magic' (not a minidump), 'truncated' (something runs past the end of
 * the file), 'bad-field' (an impossible count or size), 'conflict' (memory
 * ranges that disagree), 'unsupported' (an architecture faultline cannot
 * emulate).
 *
 * @example
 * ```ts
 * const dump = openMinidump('ascii_read_av.dmp');
 * dump.fault;                      // { kind: 'exception', code: 0xc0000005n, address: 0xd6a6cdn, parameters: [0n, 0x41414141n], … }
 * dump.threads[0].contexts[0].registers.eip; // 0xd6a6cdn
 * dump.symbols.format(0xd6a6cdn);  // 'crashme+0x…'
 * dump.close();
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import type { Dump, DumpModule, DumpNote, Fault } from '../model.ts';
import { SymbolIndex } from '../symbol-table.ts';
import { readExceptionStream } from './exception.ts';
import { faultOf } from './fault.ts';
import { FileMemory } from './file-memory.ts';
import { MemoryState, readMemoryInfoList, regionAt, type MemoryRegionInfo } from './memory-info.ts';
import { normaliseRegions } from '../address-map.ts';
import { checkedSegment, readMemory64List, readMemoryList, type MemorySegment } from './memory-list.ts';
import { MinidumpFile } from './minidump-file.ts';
import { readMiscInfoStream } from './misc-info.ts';
import { moduleNames } from './module-names.ts';
import { readModuleList } from './modules.ts';
import { StreamType } from './streams.ts';
import { archOfProcessor, osOfPlatform, readSystemInfo, SYSTEM_INFO_SIZE, type SystemInfo } from './system-info.ts';
import { assembleThreads } from './thread-contexts.ts';
import { readThreadList, readThreadNames, type MinidumpThread } from './threads.ts';

/** A module of a minidump: the common fields and what MINIDUMP_MODULE adds. */
export interface MinidumpModule extends DumpModule {
  /** PE TimeDateStamp (seconds since 1970), 0 on Linux. */
  timestamp: number;
  checksum: number;
  /** From VS_FIXEDFILEINFO: '5.1.2600.2180'. */
  fileVersion?: string;
  /** PDB path from the CodeView record. */
  debugFile?: string;
  /** PDB GUID and age, or GNU build id: the key symbol servers use. */
  debugIdentifier?: string;
}

/** A stream listed in the directory. */
export interface MinidumpStreamInfo {
  type: number;
  name: string;
  offset: bigint;
  size: number;
}

/** A minidump, opened: the common `Dump` and what only minidumps tell. */
export interface MinidumpDump extends Dump {
  format: 'minidump';
  modules: MinidumpModule[];
  memory: FileMemory;
  /** MINIDUMP_HEADER.TimeDateStamp: when the dump was written. */
  writtenAt: Date;
  /** MINIDUMP_HEADER.Flags (MINIDUMP_TYPE). */
  dumpFlags: bigint;
  systemInfo?: SystemInfo & { csdVersion?: string };
  processId?: number;
  processCreatedAt?: Date;
  streams: MinidumpStreamInfo[];
  /** The MemoryInfoList regions (state, type, protection), sorted by base; empty when the dump lacks the stream. */
  memoryRegions(): MemoryRegionInfo[];
  /** The MemoryInfoList region holding `address`, or undefined. */
  memoryRegionAt(address: bigint): MemoryRegionInfo | undefined;
  /** Closes the file; memory reads fail after it. */
  close(): void;
}

/**
 * Opens the minidump at `path`. Throws DumpFormatError for anything that is
 * not a well-formed minidump; the file stays open for memory reads until
 * `close()`.
 *
 * @example
 * ```ts
 * const dump = openMinidump('minidump2.dmp');
 * dump.modules[0].name; // 'test_app'
 * dump.close();
 * ```
 */
export function openMinidump(path: string): MinidumpDump {
  const file = MinidumpFile.open(path);
  try {
    return assemble(file);
  } catch (error) {
    file.close();
    throw error;
  }
}

function assemble(file: MinidumpFile): MinidumpDump {
  const notes: DumpNote[] = [...file.notes];
  const systemInfo = readSystemInfoWithVersion(file);
  const os = systemInfo && osOfPlatform(systemInfo.platformId);
  let systemArch: Arch | undefined;
  if (systemInfo) {
    systemArch = archOfProcessor(systemInfo.processorArchitecture);
    if (!systemArch) {
      throw file.error(BigInt(file.stream(StreamType.SystemInfo)!.location.rva),
        `SystemInfoStream ProcessorArchitecture 0x${systemInfo.processorArchitecture.toString(16)} is not x86, x64 or ARM64, which faultline cannot emulate`, 'unsupported');
    }
  }

  const rawThreads = readThreadList(file);
  const names = readThreadNames(file);
  const exception = readExceptionStream(file);
  const rawModules = readModuleList(file);
  const misc = readMiscInfoStream(file);
  const regions = readMemoryInfoList(file);
  const segments = [...readMemoryList(file), ...readMemory64List(file), ...stackSegments(file, rawThreads)];
  const memory = FileMemory.build(file, segments, regions.length ? (start) => kindAt(regions, start) : undefined);

  const { arch, threads, exceptionPc } = assembleThreads({
    file, threads: rawThreads, names, exception, systemArch, os, memory, modulePaths: rawModules.map((m) => m.path), notes,
  });
  const fault: Fault | undefined = exception && faultOf(exception, os, arch, exceptionPc, notes);

  const displayNames = moduleNames(rawModules.map((m) => m.path), rawModules.map((m) => m.baseOfImage), os);
  const symbols = new SymbolIndex({ arch });
  const modules: MinidumpModule[] = rawModules.map((raw, i) => {
    const module: MinidumpModule = { name: displayNames[i]!, base: raw.baseOfImage, size: BigInt(raw.sizeOfImage), path: raw.path, timestamp: raw.timeDateStamp, checksum: raw.checkSum };
    if (raw.fileVersion) module.fileVersion = raw.fileVersion;
    if (raw.debugFile) module.debugFile = raw.debugFile;
    if (raw.debugIdentifier) {
      module.debugIdentifier = raw.debugIdentifier;
      module.debugId = raw.debugFile ? `${raw.debugFile.split(/[\\/]/).pop()}/${raw.debugIdentifier}` : raw.debugIdentifier;
    }
    if (raw.codeView?.kind === 'elf') module.buildId = raw.debugIdentifier;
    symbols.addModule(module.name, module.base, module.size, { source: `ModuleListStream[${i}]`, offset: raw.offset });
    return module;
  }).sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));

  const dump: MinidumpDump = {
    format: 'minidump',
    path: file.path,
    arch,
    threads,
    modules,
    symbols,
    memory,
    notes,
    writtenAt: new Date(file.header.timeDateStamp * 1000),
    dumpFlags: file.header.flags,
    streams: file.directory.map((s) => ({ type: s.streamType, name: s.name, offset: BigInt(s.location.rva), size: s.location.dataSize })),
    memoryRegions: () => regions.slice(),
    memoryRegionAt: (address) => regionAt(regions, address),
    close: () => file.close(),
  };
  if (os) dump.os = os;
  if (fault) dump.fault = fault;
  // VirtualQuery lists every region, committed or not: the committed ones were mapped.
  if (regions.length) {
    dump.addressMap = {
      regions: normaliseRegions(regions.filter((r) => r.state === MemoryState.Commit && r.protection !== '').map((r) => ({
        start: r.baseAddress, end: r.baseAddress + r.regionSize, read: r.readable, write: r.writable, execute: r.executable,
      }))),
      complete: true,
    };
  }
  if (systemInfo) dump.systemInfo = systemInfo;
  if (misc?.processId !== undefined) dump.processId = misc.processId;
  if (misc?.processCreateTime !== undefined) dump.processCreatedAt = new Date(misc.processCreateTime * 1000);
  return dump;
}

function readSystemInfoWithVersion(file: MinidumpFile): (SystemInfo & { csdVersion?: string }) | undefined {
  const stream = file.stream(StreamType.SystemInfo);
  if (!stream) return undefined;
  const info: SystemInfo & { csdVersion?: string } = readSystemInfo(file.streamReader(stream, SYSTEM_INFO_SIZE, 'MINIDUMP_SYSTEM_INFO'), 0);
  if (info.csdVersionRva !== 0) {
    const csd = file.readString(BigInt(info.csdVersionRva), `${stream.name} CSDVersion`);
    if (csd) info.csdVersion = csd;
  }
  return info;
}

/** Each thread's stack as a memory segment (usually also in the MemoryList; repeats are merged). */
function stackSegments(file: MinidumpFile, threads: MinidumpThread[]): MemorySegment[] {
  return threads.filter((t) => t.stack.memory.dataSize > 0).map((t) => checkedSegment(file, {
    start: t.stack.startOfMemoryRange,
    size: BigInt(t.stack.memory.dataSize),
    fileOffset: BigInt(t.stack.memory.rva),
    source: `ThreadListStream thread 0x${t.threadId.toString(16)} stack`,
  }, t.offset + 0x18n));
}

function kindAt(regions: MemoryRegionInfo[], address: bigint): 'code' | 'data' | undefined {
  const region = regionAt(regions, address);
  if (!region || region.protection === '') return undefined;
  return region.executable ? 'code' : 'data';
}
