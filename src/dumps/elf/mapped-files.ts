/**
 * Finds the files a core's process had mapped (`NT_FILE`) and fills the
 * pages the core left out from them. A kernel core usually skips
 * file-backed code (`coredump_filter`), so without the executable and its
 * libraries the bytes at the pc are missing.
 *
 * A mapped path is looked for, in order: among `binaries` by basename, and
 * under `sysroot`; never at the path itself on this machine unless the
 * user says so with `sysroot` `/` (this machine's libraries are rarely the
 * crashed machine's build). An explicit binary whose name
 * matches no mapped path is taken for the executable when its entry point
 * plus a page-aligned bias is the core's `AT_ENTRY` (a core names the file
 * as it was on the machine that crashed, often `a.out`). A core without
 * `NT_FILE` (QEMU's, kernels before 3.7) gets the executable's mappings
 * from its own `PT_LOAD` headers the same way.
 *
 * A file found is used only when it is provably the build the process ran:
 * its `.note.gnu.build-id` is the build id the core holds in the file's
 * first page (core-build-id.ts), or, when the core holds no id, the bytes
 * the core holds of it (first page, executable segments) agree with the
 * file at the `NT_FILE` offsets (file-agreement.ts). Any other file is
 * reported ("build id 1a2b… ≠ core's 3c4d…, not used") and its memory
 * stays unknown. Filled bytes carry the file and its build id in their
 * provenance.
 *
 * @example
 * ```ts
 * const files = resolveMappedFiles(mappings, { binaries: ['./crash'] }, context);
 * const { pieces, missing } = fillGaps(gaps, mappings, files, 0x1000n);
 * ```
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { FileSource } from '../binary/file-source.ts';
import { DumpFormatError } from '../errors.ts';
import { agreementProblem, compareWithFile, type Agreement, type FileSpan } from '../file-agreement.ts';
import type { DumpNote, FileOrigin, FileUse } from '../model.ts';
import { heldBuildId } from './core-build-id.ts';
import type { MemoryPiece, PieceMemory, SegmentGap } from './core-memory.ts';
import { ET_EXEC } from './elf-header.ts';
import { ElfImage } from './elf-image.ts';
import { PF_R, PF_X } from './program-headers.ts';
import type { FileMapping } from './process-notes.ts';

/** Where to look for mapped files. */
export interface MappedFileOptions {
  /** Executables and libraries, matched to mapped paths by basename. */
  binaries?: string[];
  /** A directory that mirrors the crashed machine's root: `<sysroot>/usr/lib/…`. */
  sysroot?: string;
}

/** How a mapped file was found: never at a path on this machine the user did not name (`--sysroot /` names this machine's root). */
export type FoundBy = 'binaries' | 'sysroot' | 'entry';

/** A mapped path and the local file standing in for it. */
export interface ResolvedFile {
  /** The path as the core names it. */
  path: string;
  foundAt: string;
  how: FoundBy;
  file: FileSource;
  /** Its ELF headers, when it is an ELF file. */
  image?: ElfImage;
  /** Mapping address minus link-time address, when known from `AT_ENTRY`. */
  bias?: bigint;
  /** Set once the file is shown to be the build the process ran. */
  origin?: FileOrigin;
}

/** Memory a segment promises that stayed without bytes, and why. */
export interface MissingRange {
  start: bigint;
  end: bigint;
  /** The mapped file that would hold it, if any. */
  path?: string;
  reason: 'not-file-backed' | 'file-not-found' | 'past-end-of-file';
}

/** What resolution needs from the core. */
export interface ResolveContext {
  /** The core's own memory (no fills yet), to check files against. */
  coreMemory: PieceMemory;
  /** `AT_ENTRY` from `NT_AUXV`. */
  entry?: bigint;
  pageSize: bigint;
  /** The core's PT_LOAD segments and their rights (which bytes must equal the file's). */
  segments: { start: bigint; end: bigint; write: boolean; execute: boolean }[];
  notes: DumpNote[];
  /** Each file tried, used or not, with the line `info` shows. */
  uses: FileUse[];
}

const hex = (value: bigint): string => `0x${value.toString(16)}`;
const DELETED = ' (deleted)';

function stripDeleted(path: string): string {
  return path.endsWith(DELETED) ? path.slice(0, -DELETED.length) : path;
}

function isFile(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Opens `path` as a mapped file; an ELF file also gets its headers read. */
function openMapped(path: string, foundAt: string, how: FoundBy, notes: DumpNote[]): ResolvedFile | undefined {
  let file: FileSource;
  try {
    file = FileSource.open(foundAt, 'elf');
  } catch (error) {
    notes.push({ level: 'warning', message: `Cannot open ${foundAt} for ${path}: ${(error as Error).message}` });
    return undefined;
  }
  let image: ElfImage | undefined;
  try {
    image = ElfImage.fromFile(file);
  } catch (error) {
    if (!(error instanceof DumpFormatError) || error.code !== 'bad-magic') {
      notes.push({ level: 'warning', message: `${foundAt} (for ${path}) has unreadable ELF headers, so no symbols from it: ${(error as Error).message}` });
    }
  }
  return { path, foundAt, how, file, image };
}

/**
 * Where the core holds bytes of `path` that must equal the file's when it
 * is the same build: its first page (ELF header, program headers, notes)
 * and what of its mappings lies in executable, read-only segments. Other
 * read-only pages may hold relocated data (RELRO), which differs from the
 * file by design.
 */
function comparedSpans(mappings: FileMapping[], path: string, segments: ResolveContext['segments'], pageSize: bigint): FileSpan[] {
  const spans: FileSpan[] = [];
  for (const m of mappings.filter((x) => x.path === path)) {
    if (m.fileOffset === 0n) spans.push({ start: m.start, end: m.start + pageSize < m.end ? m.start + pageSize : m.end, fileOffset: 0n });
    for (const s of segments) {
      if (!s.execute || s.write) continue;
      const start = s.start > m.start ? s.start : m.start;
      const end = s.end < m.end ? s.end : m.end;
      if (start < end) spans.push({ start, end, fileOffset: m.fileOffset + (start - m.start) });
    }
  }
  return spans;
}

/** What showed `resolved` to be the build the process ran, or why it is not. */
type Identity = { checkedBy: 'build id' | 'bytes' | 'named'; buildId?: string; agreement?: Agreement } | { problem: string };

/**
 * Whether `resolved` is provably the file the process had mapped: by the
 * GNU build id the core holds for it, else by the bytes the core holds.
 */
function identify(resolved: ResolvedFile, mappings: FileMapping[], context: ResolveContext): Identity {
  const fileId = resolved.image?.buildId();
  const coreId = heldBuildId((at, n) => context.coreMemory.read(at, n), mappings, resolved.path);
  if (coreId !== undefined) {
    if (fileId === coreId) return { checkedBy: 'build id', buildId: fileId };
    return { problem: `${fileId === undefined ? 'has no build id' : `build id ${fileId}`} ≠ core's ${coreId}` };
  }
  const agreement = compareWithFile((at, n) => context.coreMemory.readPartial(at, n), resolved.file, comparedSpans(mappings, resolved.path, context.segments, context.pageSize));
  const problem = agreementProblem(agreement, 'ELF header page and code');
  // Nothing to check it against (no build id, none of its bytes: qemu-user's cores) and the user named it: used, unchecked.
  if (problem && agreement.compared === 0 && resolved.how !== 'sysroot') return { checkedBy: 'named', buildId: fileId };
  return problem ? { problem } : { checkedBy: 'bytes', buildId: fileId, agreement };
}

/** The file offset of `address` in `image`, through the `PT_LOAD` holding it. */
function fileOffsetOf(image: ElfImage, address: bigint): bigint | undefined {
  const load = image.loads().find((l) => address >= l.vaddr && address < l.vaddr + l.filesz);
  return load ? load.offset + (address - load.vaddr) : undefined;
}

/** Mappings for an executable the core does not list, from its `PT_LOAD` headers moved by `bias`. */
function mappingsFromImage(image: ElfImage, bias: bigint, pageSize: bigint): FileMapping[] {
  const mask = pageSize - 1n;
  return image.loads().filter((l) => l.filesz > 0n).map((l) => {
    const pageStart = l.vaddr & ~mask;
    return {
      start: pageStart + bias,
      end: ((l.vaddr + l.filesz + mask) & ~mask) + bias,
      fileOffset: l.offset - (l.vaddr - pageStart),
      path: image.path,
    };
  });
}

/**
 * Finds a local file for each path in `mappings` (which may grow: a core
 * without `NT_FILE` gets the executable's mappings). A file not shown to
 * be the build the process ran (identify) is closed and reported in
 * `context.notes` and `context.uses`, and its memory stays unknown.
 *
 * @example
 * ```ts
 * const files = resolveMappedFiles(mappings, { sysroot: '/srv/sysroots/debian12' }, context);
 * files.get('/usr/lib/x86_64-linux-gnu/libc.so.6')?.foundAt; // '/srv/sysroots/debian12/usr/lib/x86_64-linux-gnu/libc.so.6'
 * ```
 */
export function resolveMappedFiles(mappings: FileMapping[], options: MappedFileOptions, context: ResolveContext): Map<string, ResolvedFile> {
  const resolved = new Map<string, ResolvedFile>();
  const binaries = options.binaries ?? [];
  /** Files already tried, used or not: a binary refused by name is not tried again as the executable. */
  const tried = new Set<string>();
  const accept = (candidate: ResolvedFile | undefined): void => {
    if (!candidate) return;
    tried.add(candidate.foundAt);
    const host = candidate.how === 'sysroot' && resolve(options.sysroot!) === '/';
    const named = `${host ? "this machine's own " : ''}${candidate.foundAt}${candidate.foundAt === candidate.path ? '' : ` (for ${candidate.path})`}`;
    const identity = identify(candidate, mappings, context);
    if ('problem' in identity) {
      const message = `${named}: ${identity.problem}, not used`;
      context.notes.push({ level: 'warning', message });
      context.uses.push({ file: candidate.foundAt, for: candidate.path, used: false, host, message });
      candidate.file.close();
      return;
    }
    const a = identity.agreement;
    const why = identity.checkedBy === 'build id' ? `its build id ${identity.buildId} is the core's`
      : identity.checkedBy === 'named' ? 'unchecked: the core holds neither a build id nor any of its bytes, and --binary names it'
      : `the core holds no build id for it, and the ${a!.compared} bytes it holds of it agree${a!.differing ? ` but for ${a!.differing}, the first at ${hex(a!.first!)}` : ''}`;
    const message = `${named} fills what the core leaves out of ${basename(candidate.path)}: ${why}${host ? ' (--sysroot /)' : ''}`;
    context.notes.push({ level: host || a?.differing || identity.checkedBy === 'named' ? 'warning' : 'info', message });
    context.uses.push({ file: candidate.foundAt, for: candidate.path, used: true, host, buildId: identity.buildId, message });
    candidate.origin = { path: candidate.foundAt, checkedBy: identity.checkedBy, ...(identity.buildId ? { buildId: identity.buildId } : {}) };
    resolved.set(candidate.path, candidate);
  };

  for (const path of new Set(mappings.map((m) => m.path))) {
    const plain = stripDeleted(path);
    const name = basename(plain);
    const byName = binaries.find((b) => basename(b) === name && isFile(b));
    if (byName) {
      accept(openMapped(path, byName, 'binaries', context.notes));
      continue;
    }
    if (options.sysroot && plain.startsWith('/')) {
      const inSysroot = join(options.sysroot, plain);
      if (isFile(inSysroot)) {
        accept(openMapped(path, inSysroot, 'sysroot', context.notes));
        continue;
      }
    }
  }

  // Explicit binaries no path matched: the executable, if its entry point agrees with AT_ENTRY.
  for (const binary of binaries) {
    if (tried.has(binary) || context.entry === undefined) continue;
    let image: ElfImage;
    try {
      image = ElfImage.open(binary);
    } catch (error) {
      context.notes.push({ level: 'warning', message: `Cannot use ${binary}: ${(error as Error).message}` });
      continue;
    }
    const bias = context.entry - image.header.entry;
    const entryOffset = fileOffsetOf(image, image.header.entry);
    const fits = (bias === 0n || (image.header.type !== ET_EXEC && bias % context.pageSize === 0n)) && entryOffset !== undefined;
    const holder = mappings.find((m) => context.entry! >= m.start && context.entry! < m.end);
    const sameOffset = holder !== undefined && holder.fileOffset + (context.entry - holder.start) === entryOffset;
    if (!fits || (holder && (!sameOffset || resolved.has(holder.path)))) {
      context.notes.push({ level: 'info', message: `${binary} matches no mapped file by name, and its entry point does not match the core's AT_ENTRY ${hex(context.entry)}: not used` });
      image.close();
      continue;
    }
    if (!holder) mappings.push(...mappingsFromImage(image, bias, context.pageSize));
    const path = holder ? holder.path : image.path;
    context.notes.push({ level: 'info', message: `${binary} taken for the executable${holder ? ` ${path}` : ''}: its entry point plus ${hex(bias)} is the core's AT_ENTRY` });
    accept({ path, foundAt: binary, how: 'entry', file: image.file, image, bias });
  }
  return resolved;
}

/**
 * The parts of file mappings no `PT_LOAD` covers, as gaps to fill: gdb's
 * `gcore` writes no segment for read-only file mappings (`.rodata`, jump
 * tables, often the code of libraries), though `NT_FILE` lists them. Their
 * flags come from the file's own `PT_LOAD` holding that file offset
 * (read-only when the file is not found or has no such segment).
 *
 * @example
 * ```ts
 * const unlisted = unlistedMappings(mappings, loads, files); // [{ start: 0x555555556000n, end: 0x555555558000n, flags: PF_R }]
 * ```
 */
export function unlistedMappings(mappings: FileMapping[], loads: readonly { vaddr: bigint; memsz: bigint }[], files: Map<string, ResolvedFile>): SegmentGap[] {
  const covered = loads.filter((l) => l.memsz > 0n).map((l) => [l.vaddr, l.vaddr + l.memsz] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const gaps: SegmentGap[] = [];
  for (const m of mappings) {
    let at = m.start;
    const add = (end: bigint) => {
      if (end <= at) return;
      const offset = m.fileOffset + (at - m.start);
      const image = files.get(m.path)?.image;
      const load = image?.loads().find((l) => offset >= l.offset && offset < l.offset + (l.filesz > 0n ? l.filesz : 1n));
      gaps.push({ start: at, end, flags: load ? load.flags : PF_R });
    };
    for (const [start, end] of covered) {
      if (end <= at) continue;
      if (start >= m.end) break;
      add(start < m.end ? start : m.end);
      if (end > at) at = end;
      if (at >= m.end) break;
    }
    if (at < m.end) add(m.end);
  }
  return gaps.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/**
 * Pieces that fill `gaps` from the resolved files, and the ranges that stay
 * missing. Bytes past a file's end up to the end of that page read as
 * zero, as the kernel maps them.
 *
 * @example
 * ```ts
 * const { pieces, missing } = fillGaps(gaps, mappings, files, 0x1000n);
 * missing.filter((m) => m.reason === 'file-not-found'); // what another --binary would fill
 * ```
 */
export function fillGaps(gaps: SegmentGap[], mappings: FileMapping[], files: Map<string, ResolvedFile>, pageSize: bigint): { pieces: MemoryPiece[]; missing: MissingRange[] } {
  const sorted = [...mappings].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const pieces: MemoryPiece[] = [];
  const missing: MissingRange[] = [];
  const mask = pageSize - 1n;
  for (const gap of gaps) {
    let at = gap.start;
    for (const m of sorted) {
      if (m.end <= at || m.start >= gap.end) continue;
      if (m.start > at) {
        missing.push({ start: at, end: m.start, reason: 'not-file-backed' });
        at = m.start;
      }
      const end = m.end < gap.end ? m.end : gap.end;
      const resolved = files.get(m.path);
      if (!resolved) {
        missing.push({ start: at, end, path: m.path, reason: 'file-not-found' });
        at = end;
        continue;
      }
      const fileEnd = m.start + (resolved.file.size - m.fileOffset);
      const dataEnd = fileEnd < end ? fileEnd : end;
      const provenance = { source: resolved.foundAt, offset: m.fileOffset + (at - m.start), ...(resolved.origin ? { file: resolved.origin } : {}) };
      if (dataEnd > at) {
        pieces.push({ start: at, end: dataEnd, source: resolved.file, fileOffset: m.fileOffset + (at - m.start), provenance, kind: gap.flags & PF_X ? 'code' : 'data' });
        at = dataEnd;
      }
      if (at < end) {
        const zeroEnd = ((fileEnd + mask) & ~mask) < end ? (fileEnd + mask) & ~mask : end;
        if (zeroEnd > at) {
          pieces.push({ start: at, end: zeroEnd, fileOffset: 0n, provenance: { source: `zeros past the end of ${basename(resolved.foundAt)}`, ...(resolved.origin ? { file: resolved.origin } : {}) }, kind: 'data' });
          at = zeroEnd;
        }
        if (at < end) missing.push({ start: at, end, path: m.path, reason: 'past-end-of-file' });
      }
      at = end;
    }
    if (at < gap.end) missing.push({ start: at, end: gap.end, reason: 'not-file-backed' });
  }
  return { pieces, missing };
}
