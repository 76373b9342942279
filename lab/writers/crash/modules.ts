/**
 * The executables and libraries mapped in the crashed process, and where
 * their files are on this machine. Three ways to find them, in this order:
 *
 * 1. NT_FILE (kernel cores): every file mapping with its path and offset.
 * 2. The dynamic linker's list (qemu cores have no NT_FILE): AT_ENTRY and
 *    AT_PHDR place the main program; its PT_DYNAMIC's DT_DEBUG entry points
 *    to r_debug, whose r_map is the link_map list (l_addr, l_name, l_ld,
 *    l_next, l_prev: glibc's <link.h>) of every loaded object.
 * 3. Comparing bytes: a given binary whose read-only segment the core holds
 *    at some page is placed there.
 *
 * A path is read from the binaries given (matched by basename) or, failing
 * that, from sysroot + path.
 *
 * @example
 * ```ts
 * const found = findModules(core, { binaries: ['bugs'], sysroot: '/' }, memoryOfCore);
 * found.modules.map((m) => m.name); // ['bugs', 'libc.so.6', 'ld-linux-x86-64.so.2']
 * ```
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ElfFile, PF_W, PT_DYNAMIC, PT_PHDR, readElfHeader, readProgramHeader } from '../elf/elf-file.ts';
import { readBuildId, readElfSymbols, type ElfSymbol } from '../elf/elf-symbols.ts';
import type { CoreFile } from '../elf/core-file.ts';
import { AT_ENTRY, AT_PHDR } from '../elf/notes.ts';
import { cString, leWord } from '../elf/file-bytes.ts';
import type { FileMapping } from './memory.ts';

/** A module of the crashed process. */
export interface CrashModule {
  /** The path the process mapped it from. */
  path: string;
  /** First mapped byte (the ELF header). */
  base: bigint;
  /** Exclusive end of its mappings. */
  end: bigint;
  /** Load bias: link-time addresses plus this are run-time addresses. */
  bias: bigint;
  /** The file on this machine, when found: it supplies code and symbols. */
  file?: ElfFile;
  buildId?: Uint8Array;
  symbols: ElfSymbol[];
}

/** Where to look for files. */
export interface FileSearch {
  binaries: string[];
  sysroot?: string;
}

/** Reads process memory that the core holds (before any filling). */
export type CoreReader = (address: bigint, length: number) => Uint8Array | undefined;

const PAGE = 0x1000n;
const pageDown = (v: bigint) => v & ~(PAGE - 1n);
const pageUp = (v: bigint) => (v + PAGE - 1n) & ~(PAGE - 1n);
const DT_DEBUG = 21n;

/** Opens files once each and remembers failures. */
class FileCache {
  private readonly opened = new Map<string, ElfFile | null>();
  constructor(private readonly search: FileSearch) {}

  /** The file for process path `path`: a binary with its basename, or sysroot + path. */
  find(path: string): ElfFile | undefined {
    const given = this.search.binaries.find((b) => basename(b) === basename(path));
    const candidates = [given, this.search.sysroot ? join(this.search.sysroot, path) : undefined].filter((p): p is string => !!p && existsSync(p));
    for (const candidate of candidates) {
      const elf = this.open(candidate);
      if (elf) return elf;
    }
    return undefined;
  }

  open(path: string): ElfFile | undefined {
    if (!this.opened.has(path)) {
      try {
        this.opened.set(path, ElfFile.open(path));
      } catch {
        this.opened.set(path, null);
      }
    }
    return this.opened.get(path) ?? undefined;
  }

  /** Closes the files no module kept. */
  closeUnused(kept: Set<ElfFile>): void {
    for (const elf of this.opened.values()) if (elf && !kept.has(elf)) elf.close();
  }
}

function extent(elf: ElfFile, bias: bigint): { base: bigint; end: bigint } {
  const loads = elf.loads;
  if (loads.length === 0) return { base: bias, end: bias };
  const base = bias + pageDown(loads.reduce((m, p) => (p.vaddr < m ? p.vaddr : m), loads[0]!.vaddr));
  const end = bias + pageUp(loads.reduce((m, p) => (p.vaddr + p.memsz > m ? p.vaddr + p.memsz : m), 0n));
  return { base, end };
}

/** The file mappings a module's PT_LOADs make: pages of the file at their addresses. */
function loadMappings(elf: ElfFile, bias: bigint): FileMapping[] {
  return elf.loads.filter((p) => p.filesz > 0n).map((p) => {
    const start = bias + pageDown(p.vaddr);
    const inPage = p.vaddr - pageDown(p.vaddr);
    return { start, end: start + pageUp(inPage + p.filesz), fileOffset: p.offset - inPage, file: elf.file };
  });
}

function makeModule(path: string, base: bigint, end: bigint, bias: bigint, elf: ElfFile | undefined): CrashModule {
  const module: CrashModule = { path, base, end, bias, symbols: [] };
  if (elf) {
    module.file = elf;
    module.symbols = readElfSymbols(elf);
    const id = readBuildId(elf);
    if (id) module.buildId = id;
  }
  return module;
}

/** Reads what the core holds, else what `mappings` map from files (a string in a program's text). */
function readThrough(read: CoreReader, mappings: FileMapping[]): CoreReader {
  return (address, length) => {
    const held = read(address, length);
    if (held) return held;
    const mapping = mappings.find((m) => address >= m.start && address + BigInt(length) <= m.end);
    if (!mapping) return undefined;
    const bytes = mapping.file.readUpTo(mapping.fileOffset + (address - mapping.start), length);
    return bytes.length === length ? bytes : undefined;
  };
}

/** 1: NT_FILE. */
function fromMappedFiles(core: CoreFile, files: FileCache, read: CoreReader, notes: string[]): { modules: CrashModule[]; mappings: FileMapping[] } {
  const byPath = new Map<string, typeof core.mappedFiles>();
  for (const entry of core.mappedFiles) byPath.set(entry.path, [...(byPath.get(entry.path) ?? []), entry]);
  const modules: CrashModule[] = [];
  const mappings: FileMapping[] = [];
  for (const [path, entries] of byPath) {
    const elf = files.find(path);
    const first = entries.find((e) => e.fileOffset === 0n) ?? entries[0]!;
    const isElf = elf !== undefined || cString(read(first.start, 4) ?? new Uint8Array(), 0).startsWith('\x7fELF');
    if (!isElf) continue;
    if (!elf) notes.push(`No file for ${path}: its code the core lacks stays unknown, and it has no symbols`);
    for (const e of entries) if (elf) mappings.push({ start: e.start, end: e.end, fileOffset: e.fileOffset, file: elf.file });
    const base = entries.reduce((m, e) => (e.start < m ? e.start : m), first.start);
    const end = entries.reduce((m, e) => (e.end > m ? e.end : m), first.end);
    const bias = elf ? first.start - pageDown(elf.loads[0]?.vaddr ?? 0n) : base;
    modules.push(makeModule(path, base, end, bias, elf));
  }
  return { modules, mappings };
}

/** The main program's bias from AT_ENTRY and AT_PHDR, for the binary whose headers agree. */
function placeMainProgram(core: CoreFile, files: FileCache, search: FileSearch): { elf: ElfFile; bias: bigint } | undefined {
  const entry = core.auxv.get(AT_ENTRY);
  const phdr = core.auxv.get(AT_PHDR);
  if (entry === undefined) return undefined;
  for (const path of search.binaries) {
    const elf = files.open(path);
    if (!elf || elf.header.entry === 0n) continue;
    const bias = entry - elf.header.entry;
    const phdrVaddr = elf.programHeaders.find((p) => p.type === PT_PHDR)?.vaddr ?? (elf.loads[0] ? elf.loads[0].vaddr + elf.header.phoff : undefined);
    if (phdr === undefined || phdrVaddr === undefined || phdrVaddr + bias === phdr) return { elf, bias };
  }
  return undefined;
}

/** The link_map entries (l_addr, l_name) reached from the main program's DT_DEBUG. */
function linkMap(main: { elf: ElfFile; bias: bigint }, read: CoreReader, word: 4 | 8): { bias: bigint; name: string }[] {
  const dynamic = main.elf.programHeaders.find((p) => p.type === PT_DYNAMIC);
  if (!dynamic) return [];
  const table = read(main.bias + dynamic.vaddr, Number(dynamic.memsz));
  if (!table) return [];
  let rDebug: bigint | undefined;
  for (let at = 0; at + 2 * word <= table.length; at += 2 * word) {
    const tag = leWord(table, at, word);
    if (tag === 0n) break;
    if (tag === DT_DEBUG) rDebug = leWord(table, at + word, word);
  }
  if (!rDebug) return [];
  // struct r_debug { int r_version; struct link_map *r_map; … }: r_map is pointer-aligned.
  const head = read(rDebug + BigInt(word), word);
  let entry = head ? leWord(head, 0, word) : 0n;
  const out: { bias: bigint; name: string }[] = [];
  for (let i = 0; entry !== 0n && i < 256; i++) {
    const fields = read(entry, 4 * word);
    if (!fields) break;
    const namePointer = leWord(fields, word, word);
    const name = namePointer ? cString(readString(read, namePointer), 0) : '';
    out.push({ bias: leWord(fields, 0, word), name });
    entry = leWord(fields, 3 * word, word);
  }
  return out;
}

/** Up to 256 bytes at `address`, fewer when the string sits near the end of what can be read. */
function readString(read: CoreReader, address: bigint): Uint8Array {
  for (const length of [256, 64, 16]) {
    const bytes = read(address, length);
    if (bytes) return bytes;
  }
  return new Uint8Array();
}

/** The extent of an ELF image from its headers in memory, for a library with no file here. */
function extentInMemory(base: bigint, read: CoreReader): { base: bigint; end: bigint } | undefined {
  const head = read(base, 64);
  if (!head) return undefined;
  try {
    const header = readElfHeader(head, `memory at 0x${base.toString(16)}`);
    const table = read(base + header.phoff, header.phnum * header.phentsize);
    if (!table) return undefined;
    let end = base;
    for (let i = 0; i < header.phnum; i++) {
      const ph = readProgramHeader(table, i * header.phentsize, header.wordSize);
      if (ph.type === 1 && base + pageUp(ph.vaddr + ph.memsz) > end) end = base + pageUp(ph.vaddr + ph.memsz);
    }
    return { base, end };
  } catch {
    return undefined;
  }
}

/** 3: a given binary whose read-only, file-backed segment the core holds at a page. */
function placeByBytes(elf: ElfFile, core: CoreFile, read: CoreReader): bigint | undefined {
  for (const ph of elf.loads.filter((p) => (p.flags & PF_W) === 0 && p.filesz >= 64n)) {
    const want = elf.file.readUpTo(ph.offset, Number(ph.filesz < 4096n ? ph.filesz : 4096n));
    for (const segment of core.segments.filter((s) => s.held > 0n && !s.writable)) {
      const start = segment.start + (ph.vaddr - pageDown(ph.vaddr));
      const got = read(start, want.length);
      if (got && Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0) return start - ph.vaddr;
    }
  }
  return undefined;
}

/**
 * The modules of `core` and the file mappings that fill the code it lacks.
 * `read` reads what the core itself holds. Files no module uses are closed;
 * the modules' files stay open for the caller to close.
 *
 * @example
 * ```ts
 * findModules(core, { binaries: ['bugs-arm64'], sysroot: '/usr/aarch64-linux-gnu' }, read, notes).modules[0].base; // 0x5500000000n
 * ```
 */
export function findModules(core: CoreFile, search: FileSearch, read: CoreReader, notes: string[]): { modules: CrashModule[]; mappings: FileMapping[] } {
  const files = new FileCache(search);
  let result: { modules: CrashModule[]; mappings: FileMapping[] };
  if (core.mappedFiles.length > 0) {
    result = fromMappedFiles(core, files, read, notes);
  } else {
    const modules: CrashModule[] = [];
    const mappings: FileMapping[] = [];
    const add = (path: string, bias: bigint, elf: ElfFile | undefined) => {
      const where = elf ? extent(elf, bias) : extentInMemory(bias, read);
      if (!where || modules.some((m) => m.base === where.base)) return;
      modules.push(makeModule(path, where.base, where.end, bias, elf));
      if (elf) mappings.push(...loadMappings(elf, bias));
      else notes.push(`No file for ${path}: its code the core lacks stays unknown, and it has no symbols`);
    };
    const main = placeMainProgram(core, files, search);
    if (main) add(main.elf.path, main.bias, main.elf);
    else notes.push('No given binary matches the core\'s AT_ENTRY/AT_PHDR: the main program is not placed by the auxiliary vector');
    for (const entry of main ? linkMap(main, readThrough(read, mappings), core.elf.header.wordSize) : []) {
      if (entry.name === '') continue;
      add(entry.name, entry.bias, files.find(entry.name));
    }
    for (const path of search.binaries) {
      const elf = files.open(path);
      if (!elf || modules.some((m) => m.file === elf)) continue;
      const bias = placeByBytes(elf, core, read);
      if (bias !== undefined) add(path, bias, elf);
    }
    result = { modules, mappings };
  }
  files.closeUnused(new Set(result.modules.flatMap((m) => (m.file ? [m.file] : []))));
  result.modules.sort((a, b) => (a.base < b.base ? -1 : 1));
  return result;
}
