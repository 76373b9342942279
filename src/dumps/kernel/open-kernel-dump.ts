/**
 * Opens a Windows kernel dump (`PAGEDUMP` / `PAGEDU64`: full, kernel,
 * bitmap and triage) as a `Dump`. Open reads the header, the physical
 * memory layout (runs or bitmap) or the triage directory, the loaded-module
 * list and the contexts the bugcheck leads to; memory is read through the
 * page tables and the file handle on demand, so a dump of many gigabytes
 * opens at once with little memory.
 *
 * The processor that bugchecked is one thread: its contexts are the trap
 * frame or CONTEXT record the bugcheck parameters lead to (fault-contexts.ts),
 * then the header's CONTEXT (the state in KeBugCheckEx).
 *
 * @example
 * ```ts
 * const dump = openKernelDump('MEMORY.DMP');
 * dump.fault;                 // { kind: 'bugcheck', code: 0x8en, parameters: [...] }
 * dump.symbols.format(pc);    // 'nt+0x5d3e1' or 'nt!KeBugCheckEx+0x…' when exported
 * dump.close();
 * ```
 */
import type { Arch } from '../../../emu/registers.ts';
import { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { layeredSymbols } from '../layered-symbols.ts';
import type { Dump, DumpNote, MachineFacts, MemoryView, RegisterContext } from '../model.ts';
import { SymbolIndex } from '../symbol-table.ts';
import { hexOf } from './address.ts';
import { CONTEXT_REGISTERS_SIZE, readContextRecord } from './contexts.ts';
import { faultContexts } from './fault-contexts.ts';
import { DumpType, FILLER, readKernelHeader, type KernelHeader } from './header.ts';
import { walkLoadedModules, type KernelModule } from './modules.ts';
import { PagedMemory } from './paged-memory.ts';
import { PageWalker } from './page-walk.ts';
import { readPeExports } from './pe-exports.ts';
import { readPhysicalLayout, type PhysicalMemory } from './physical.ts';
import { readTriage, type TriageDump } from './triage.ts';

/** A kernel dump, opened. */
export interface KernelDump extends Dump {
  format: 'kernel-dump';
  modules: KernelModule[];
  machine: MachineFacts;
  header: KernelHeader;
  /** Physical memory (none for a triage dump). */
  physical?: PhysicalMemory;
  /** Page walks (none for a triage dump). */
  walker?: PageWalker;
  triage?: TriageDump;
  close(): void;
}

/** The CPU-type bit a CONTEXT's ContextFlags carries, and where the flags are. */
const CONTEXT_CPU: Record<Arch, { at: number; bit: number }> = {
  x86: { at: 0x0, bit: 0x0001_0000 },
  x64: { at: 0x30, bit: 0x0010_0000 },
  arm64: { at: 0x0, bit: 0x0040_0000 },
};

/**
 * Opens the kernel dump at `path`. Throws DumpFormatError (one line naming
 * the field and offset) for anything malformed; the file stays open for
 * memory reads until `close()`.
 */
export function openKernelDump(path: string): KernelDump {
  const file = FileSource.open(path, 'kernel-dump');
  try {
    return assemble(file);
  } catch (error) {
    file.close();
    throw error;
  }
}

function machineName(header: KernelHeader): string {
  if (header.arch === 'x86') return header.pae ? 'x86 (PAE)' : 'x86';
  return header.arch === 'x64' ? 'x64' : 'ARM64';
}

function assemble(file: FileSource): KernelDump {
  const notes: DumpNote[] = [];
  const header = readKernelHeader(file);
  const { arch } = header;
  let memory: MemoryView;
  let modules: KernelModule[];
  let physical: PhysicalMemory | undefined;
  let walker: PageWalker | undefined;
  let paged: PagedMemory | undefined;
  let triage: TriageDump | undefined;
  let contextOffset = header.contextOffset;
  if (header.dumpType === DumpType.Triage) {
    triage = readTriage(file, header, notes);
    memory = triage.memory;
    modules = triage.drivers;
    contextOffset = triage.contextOffset;
  } else {
    if (arch === 'arm64') throw header.reader.error(0x30, 'ARM64 page tables are not walked: only ARM64 triage dumps are read', 'unsupported');
    physical = readPhysicalLayout(file, header, notes);
    walker = new PageWalker(physical, arch === 'x64' ? 'x64' : header.pae ? 'pae' : 'x86', header.directoryTableBase, { format: file.format, path: file.path });
    paged = new PagedMemory(walker, physical, notes);
    memory = paged;
    modules = walkLoadedModules(memory, arch, header.psLoadedModuleList, notes);
  }

  const headerContext = readHeaderContext(file, header, contextOffset, notes);
  const build = header.minorVersion;
  const contexts: RegisterContext[] = [
    ...faultContexts(memory, arch, header.bugcheck, headerContext, {
      build, path: file.path, kernelSs: headerContext?.registers.ss,
    }),
  ];
  if (headerContext) contexts.push(headerContext);

  const index = new SymbolIndex({ arch });
  modules.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  for (const m of modules) index.addModule(m.name, m.base, m.size, { source: triage ? 'TRIAGE_DUMP driver list' : 'PsLoadedModuleList', offset: m.entry });
  const symbols = layeredSymbols(index, () => exportSymbols(memory, modules, arch), arch);

  const machine: MachineFacts = { machine: machineName(header), processors: header.processors, build, dumpType: header.dumpTypeName };
  if (header.systemTime) machine.systemTime = header.systemTime;
  const exception = readHeaderException(file, header, triage?.exceptionOffset ?? header.exceptionOffset);
  if (exception) machine.exception = exception;

  const dump: KernelDump = {
    format: 'kernel-dump',
    path: file.path,
    arch,
    os: 'windows',
    fault: {
      kind: 'bugcheck',
      code: header.bugcheck.code,
      parameters: header.bugcheck.parameters,
      provenance: { source: `DUMP_HEADER${header.bits} BugCheckCode`, offset: header.bits === 64 ? 0x38n : 0x28n },
    },
    threads: [{ id: 0, name: 'the processor that bugchecked', contexts }],
    modules,
    symbols,
    memory,
    machine,
    header,
    notes,
    close: () => file.close(),
  };
  if (physical) dump.physical = physical;
  if (walker) dump.walker = walker;
  if (triage) dump.triage = triage;
  if (paged) {
    const map = paged;
    Object.defineProperty(dump, 'addressMap', { enumerable: true, configurable: true, get: () => ({ regions: map.regions(), complete: false }) });
  }
  return dump;
}

/** The header's (or triage dump's) CONTEXT, unless it is filler or another CPU's. */
function readHeaderContext(file: FileSource, header: KernelHeader, offset: number, notes: DumpNote[]): RegisterContext | undefined {
  const size = CONTEXT_REGISTERS_SIZE[header.arch];
  if (BigInt(offset) + BigInt(size) > file.size) {
    throw new DumpFormatError(file.format, file.path, `ContextRecord at offset ${hexOf(offset)} (${size} bytes) runs past the end of the file (${file.size} bytes)`, { offset: BigInt(offset), code: 'truncated' });
  }
  const r = file.reader(BigInt(offset), size, 'CONTEXT');
  const cpu = CONTEXT_CPU[header.arch];
  const flags = r.u32(cpu.at, 'ContextFlags');
  if ((flags & 0x00ff_0000) !== cpu.bit) {
    notes.push({ level: 'warning', message: `The CONTEXT at offset ${hexOf(offset)} has ContextFlags ${hexOf(flags)}, not an ${header.arch} context: no register state from the header` });
    return undefined;
  }
  return {
    kind: 'context',
    label: 'bugcheck context (DUMP_HEADER ContextRecord)',
    registers: readContextRecord(r, 0, header.arch),
    provenance: { source: 'DUMP_HEADER ContextRecord', offset: BigInt(offset) },
  };
}

/** The EXCEPTION_RECORD32/64 at `offset`, unless empty or filler. */
function readHeaderException(file: FileSource, header: KernelHeader, offset: number): { code: bigint; address: bigint } | undefined {
  const size = header.bits === 64 ? 0x18 : 0x10;
  if (BigInt(offset) + BigInt(size) > file.size) return undefined;
  const r = file.reader(BigInt(offset), size, `EXCEPTION_RECORD${header.bits}`);
  const code = r.u32(0, 'ExceptionCode');
  if (code === 0 || code === FILLER) return undefined;
  return { code: BigInt(code), address: header.bits === 64 ? r.u64(0x10, 'ExceptionAddress') : BigInt(r.u32(0x0c, 'ExceptionAddress')) };
}

/** Exported names of every module whose PE headers the dump holds. */
function exportSymbols(memory: MemoryView, modules: KernelModule[], arch: Arch): SymbolIndex {
  const index = new SymbolIndex({ arch });
  for (const m of modules) {
    for (const e of readPeExports(memory, m.base, m.size)) index.add(m.name, e.name, e.address, undefined, { source: `${m.name} export table` });
  }
  return index;
}
