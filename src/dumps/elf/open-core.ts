/**
 * Opens a Linux ELF core (i386, x86-64, AArch64) as a `Dump`: threads and
 * registers from `NT_PRSTATUS`, the fault from `NT_SIGINFO`, memory from
 * the `PT_LOAD` segments read on demand, pages the core left out filled
 * from the executable and libraries (`NT_FILE` + `binaries`/`sysroot`),
 * and symbols from those files. Open reads the headers and notes only.
 *
 * @example
 * ```ts
 * const dump = openElfCore('core.1234', { binaries: ['./crash'] });
 * const pc = dump.threads[0].contexts[0].registers.rip!;
 * dump.symbols.format(pc);  // 'crash!crash_here+0xe'
 * dump.memory.read(pc, 16); // code bytes, from ./crash when the core lacks them
 * dump.fault;               // { kind: 'signal', signal: 11, address: 0x10n, code: 1, threadId: 1234, … }
 * dump.close();
 * ```
 */
import { basename } from 'node:path';
import { normaliseRegions } from '../address-map.ts';
import { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import type { Dump, DumpModule, DumpNote, DumpThread, Fault, FileUse } from '../model.ts';
import { compressionOf } from './compression.ts';
import { PieceMemory, loadSegments, type MemoryPiece, type SegmentGap } from './core-memory.ts';
import { readCoreNotes, type CoreNotes } from './core-notes.ts';
import { ET_CORE, elfTypeName, readElfHeader } from './elf-header.ts';
import { fillGaps, resolveMappedFiles, unlistedMappings, type FoundBy, type MappedFileOptions, type MissingRange } from './mapped-files.ts';
import { walkNotes, type ElfNote } from './notes.ts';
import { prstatusLayout } from './prstatus.ts';
import { AT_ENTRY, AT_PAGESZ, type AuxvEntry, type FileMapping } from './process-notes.ts';
import { PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE, readProgramHeaders, segmentName } from './program-headers.ts';
import { lazyElfSymbols } from './symbols.ts';

const FORMAT = 'elf-core';
/** Note segments larger than this are refused: bounded memory (a 10 000-thread core has about 30 MiB of notes). */
const MAX_NOTE_SEGMENT = 256 << 20;

export type ElfCoreOptions = MappedFileOptions;

/** What an ELF core holds beyond the common model. */
export interface ElfCoreDetails {
  bits: 32 | 64;
  /** `i386`, `x32`, `x86-64`, `AArch64`. */
  abi: string;
  pid?: number;
  processName?: string;
  commandLine?: string;
  auxv: AuxvEntry[];
  /** File-backed mappings: `NT_FILE`, or the executable's segments when the core has no `NT_FILE`. */
  mappings: FileMapping[];
  /** Each mapped path and the local file found for it, if any. */
  files: { path: string; foundAt?: string; how?: FoundBy; buildId?: string }[];
  /** Memory the core promises but neither it nor a found file holds. */
  missing: MissingRange[];
  /** Per thread (same order as `threads`): the register-set notes present. */
  regsets: string[][];
}

/** A Linux core, opened. `close()` releases the core and mapped files. */
export interface ElfCoreDump extends Dump {
  elf: ElfCoreDetails;
  close(): void;
}

const hex = (value: bigint): string => `0x${value.toString(16)}`;

function sizeText(bytes: bigint): string {
  return bytes >= 1n << 20n ? `${(Number(bytes) / (1 << 20)).toFixed(1)} MiB` : bytes >= 1024n ? `${(Number(bytes) / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
}

/**
 * Opens the core at `path`. Bad input (not ELF, not a core, an ABI other
 * than i386/x86-64/AArch64, a compressed file, truncation, absurd counts or
 * sizes, overlapping segments) is one DumpFormatError naming the segment or
 * note and its offset.
 *
 * @example
 * ```ts
 * const dump = openElfCore('linux-i386.core');
 * dump.arch;                                 // 'x86'
 * dump.threads[0].contexts[0].registers.eip; // 0x80480c5n
 * ```
 */
export function openElfCore(path: string, options: ElfCoreOptions = {}): ElfCoreDump {
  const file = FileSource.open(path, FORMAT);
  const opened: FileSource[] = [file];
  try {
    return readCore(file, options, opened);
  } catch (error) {
    for (const f of opened) f.close();
    throw error;
  }
}

function readCore(file: FileSource, options: ElfCoreOptions, opened: FileSource[]): ElfCoreDump {
  const path = file.path;
  const fail = (message: string, offset: bigint, code: 'bad-field' | 'unsupported' | 'truncated' = 'bad-field'): DumpFormatError =>
    new DumpFormatError(FORMAT, path, message, { offset, code });

  const headLength = Number(file.size < 0x40n ? file.size : 0x40n);
  const head = file.read(0n, headLength, 'ELF header');
  const compression = compressionOf(head);
  if (compression) {
    throw fail(`The core is compressed with ${compression.name}: decompress it with \`${compression.command}\` first`, 0n, 'unsupported');
  }
  const header = readElfHeader(file.reader(0n, headLength, 'ELF header'), 0);
  if (header.type !== ET_CORE) throw fail(`Not a core file: e_type is ${elfTypeName(header.type)}`, 0x10n);
  if (header.osabi === 9) throw fail('FreeBSD cores are not supported (EI_OSABI 9)', 0x07n, 'unsupported');
  const layout = prstatusLayout(header.machine, header.bits);
  if (!layout) throw fail(`Unsupported core: e_machine ${header.machine} in an ELFCLASS${header.bits} file (faultline reads i386, x86-64 and AArch64)`, 0x12n, 'unsupported');

  const segments = readProgramHeaders(file, header);
  const notes: DumpNote[] = [];

  // Notes.
  const allNotes: ElfNote[] = [];
  for (const segment of segments.filter((s) => s.type === PT_NOTE)) {
    const name = segmentName(segment);
    if (segment.filesz > BigInt(MAX_NOTE_SEGMENT)) throw fail(`${name} (header at offset ${hex(segment.headerOffset)}) claims ${hex(segment.filesz)} bytes of notes, more than faultline reads (${MAX_NOTE_SEGMENT >> 20} MiB)`, segment.headerOffset);
    if (segment.offset + segment.filesz > file.size) {
      throw fail(`${name} (header at offset ${hex(segment.headerOffset)}): notes ${hex(segment.offset)}+${hex(segment.filesz)} run past the end of the file (${file.size} bytes)`, segment.headerOffset, 'truncated');
    }
    const walk = walkNotes(file.reader(segment.offset, Number(segment.filesz), name), name, segment.align === 8n ? 8 : 4);
    allNotes.push(...walk.notes);
    for (const gap of walk.padding) {
      notes.push({ level: 'info', message: `Skipped ${gap.length} zero bytes between notes at offset ${hex(gap.offset)} in ${name}`, provenance: { source: name, offset: gap.offset } });
    }
  }
  const bsd = allNotes.find((n) => n.name.startsWith('NetBSD') || n.name === 'FreeBSD' || n.name === 'OpenBSD');
  if (bsd) throw fail(`${bsd.name.replace(/-CORE$/, '')} cores are not supported (note "${bsd.name}" at offset ${hex(bsd.offset)})`, bsd.offset, 'unsupported');
  const facts = readCoreNotes(allNotes, layout, header.bits);

  // Memory the core holds.
  const loads = segments.filter((s) => s.type === PT_LOAD);
  const { pieces, gaps } = loadSegments(file, loads, header.bits);
  const coreMemory = new PieceMemory(pieces);

  // Mapped files and the pages they fill.
  const auxv = facts.process.auxv;
  const entry = auxv.find((a) => a.type === AT_ENTRY)?.value;
  const pageSize = facts.process.files?.note.pageSize || auxv.find((a) => a.type === AT_PAGESZ)?.value || 0x1000n;
  if ((pageSize & (pageSize - 1n)) !== 0n) throw fail(`NT_FILE page size ${hex(pageSize)} is not a power of two`, facts.process.files?.ref.offset ?? 0n);
  const mappings = [...(facts.process.files?.note.mappings ?? [])];
  const segmentRights = loads.map((l) => ({ start: l.vaddr, end: l.vaddr + l.memsz, write: (l.flags & PF_W) !== 0, execute: (l.flags & PF_X) !== 0 }));
  const uses: FileUse[] = [];
  const files = resolveMappedFiles(mappings, options, { coreMemory, entry, pageSize, segments: segmentRights, notes, uses });
  for (const f of files.values()) opened.push(f.file);
  const unlisted = unlistedMappings(mappings, loads, files);
  const filled = fillGaps([...gaps, ...unlisted].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)), mappings, files, pageSize);
  const memory = new PieceMemory([...pieces, ...filled.pieces]);
  reportUnlisted(unlisted, filled.pieces, notes);
  reportMissing(filled.missing, notes);

  const threads = toThreads(facts);
  const fault = toFault(facts, notes);
  if (threads.length === 0) notes.push({ level: 'warning', message: 'The core has no NT_PRSTATUS note: no threads or registers' });
  const modules = toModules(mappings);
  const info = facts.process.info;
  return {
    format: FORMAT,
    path,
    arch: layout.arch,
    os: 'linux',
    fault,
    threads,
    modules,
    symbols: lazyElfSymbols(layout.arch, modules, files, mappings, pageSize, notes),
    memory,
    // A core lists every mapping as a PT_LOAD, dumped or not.
    addressMap: {
      regions: normaliseRegions([
        ...loads.map((s) => ({ start: s.vaddr, end: s.vaddr + s.memsz, read: (s.flags & PF_R) !== 0, write: (s.flags & PF_W) !== 0, execute: (s.flags & PF_X) !== 0 })),
        // File mappings the core has no segment for were mapped all the same; their rights are the file's.
        ...unlisted.map((g) => ({ start: g.start, end: g.end, read: true, write: (g.flags & PF_W) !== 0, execute: (g.flags & PF_X) !== 0 })),
      ]),
      complete: true,
    },
    notes,
    files: uses,
    elf: {
      bits: header.bits,
      abi: layout.abi,
      pid: info?.pid ?? facts.threads[0]?.status.pid,
      processName: info?.name,
      commandLine: info?.args,
      auxv,
      mappings,
      files: [...new Set(mappings.map((m) => m.path))].map((p) => {
        const found = files.get(p);
        return found ? { path: p, foundAt: found.foundAt, how: found.how, buildId: found.origin?.buildId } : { path: p };
      }),
      missing: filled.missing,
      regsets: facts.threads.map((t) => t.regsets),
    },
    close: () => {
      for (const f of opened) f.close();
    },
  };
}

function toThreads(facts: CoreNotes): DumpThread[] {
  return facts.threads.map((thread, i) => ({
    id: thread.status.pid,
    contexts: [{
      kind: 'thread',
      label: `NT_PRSTATUS #${i} (LWP ${thread.status.pid})`,
      registers: thread.status.registers,
      ...(thread.vector ? { vector: thread.vector } : {}),
      provenance: { source: thread.prstatus.type, offset: thread.prstatus.offset },
    }],
  }));
}

function toFault(facts: CoreNotes, notes: DumpNote[]): Fault | undefined {
  const thread = facts.threads.find((t) => t.status.currentSignal !== 0 || t.siginfo?.info.signal) ?? facts.threads[0];
  const siginfo = thread?.siginfo ?? facts.process.siginfo;
  const signal = siginfo?.info.signal || thread?.status.currentSignal || thread?.status.signal || 0;
  if (!signal) {
    notes.push({ level: 'info', message: 'No signal is recorded: the core was written while the process ran (gdb gcore or similar)' });
    return undefined;
  }
  const fault: Fault = {
    kind: 'signal',
    signal,
    threadId: thread?.status.pid,
    provenance: siginfo ? { source: siginfo.ref.type, offset: siginfo.ref.offset } : { source: thread!.prstatus.type, offset: thread!.prstatus.offset },
  };
  if (siginfo && siginfo.info.signal === signal) {
    fault.code = siginfo.info.code;
    if (siginfo.info.address !== undefined) fault.address = siginfo.info.address;
  } else if (thread && thread.status.signal === signal) {
    fault.code = thread.status.code;
  }
  return fault;
}

function toModules(mappings: FileMapping[]): DumpModule[] {
  const byPath = new Map<string, { base: bigint; end: bigint }>();
  for (const m of mappings) {
    const known = byPath.get(m.path);
    if (!known) byPath.set(m.path, { base: m.start, end: m.end });
    else {
      if (m.start < known.base) known.base = m.start;
      if (m.end > known.end) known.end = m.end;
    }
  }
  return [...byPath].map(([path, { base, end }]) => ({ name: basename(path), base, size: end - base, path }))
    .sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
}

/** One note for the file mappings the core has no segment for: how much of them the files filled. */
function reportUnlisted(unlisted: SegmentGap[], filled: MemoryPiece[], notes: DumpNote[]): void {
  if (unlisted.length === 0) return;
  const total = unlisted.reduce((sum, g) => sum + (g.end - g.start), 0n);
  let fromFiles = 0n;
  const sources = new Set<string>();
  for (const piece of filled) {
    if (!unlisted.some((g) => piece.start >= g.start && piece.end <= g.end)) continue;
    fromFiles += piece.end - piece.start;
    if (piece.source) sources.add(basename(piece.provenance.source));
  }
  notes.push({
    level: fromFiles < total ? 'warning' : 'info',
    message: `The core has no segment for ${unlisted.length} file mapping${unlisted.length === 1 ? '' : 's'} NT_FILE lists (${sizeText(total)}; gdb's gcore leaves out read-only file mappings): ${sizeText(fromFiles)} filled from ${sources.size ? [...sources].join(', ') : 'no file'}`,
  });
}

/** One note per file not found and one for memory no file backs, each listing up to 8 ranges. */
function reportMissing(missing: MissingRange[], notes: DumpNote[]): void {
  const groups = new Map<string, MissingRange[]>();
  for (const range of missing) {
    const key = range.reason === 'not-file-backed' ? '' : `${range.reason}\0${range.path}`;
    groups.set(key, [...(groups.get(key) ?? []), range]);
  }
  for (const [key, ranges] of groups) {
    const total = ranges.reduce((sum, r) => sum + (r.end - r.start), 0n);
    const shown = ranges.slice(0, 8).map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ') + (ranges.length > 8 ? `, and ${ranges.length - 8} more` : '');
    const first = ranges[0]!;
    const what = key === '' ? 'memory no mapped file backs'
      : first.reason === 'file-not-found' ? `${first.path} was not found or not the same build (give it with --binary or --sysroot; --sysroot / uses this machine's own files)`
      : `${first.path} ends before its mapping`;
    notes.push({ level: 'warning', message: `${sizeText(total)} the core leaves out stayed missing, ${what}: ${shown}` });
  }
}
