/**
 * `--binary` and `--sysroot` for dumps that are not ELF cores (minidumps,
 * WinDbg transcripts): each ELF file matched to a module of the dump
 * (module-match.ts) gives that module
 *
 * - its symbols (`.symtab`, or `.dynsym` when stripped), moved to the
 *   module's base, read on the first lookup;
 * - the bytes of its read-only `PT_LOAD` segments (code, read-only data)
 *   where the dump holds none, so a small minidump that saved only the
 *   stack and a little code around the pc can still be replayed. Bytes the
 *   dump holds always win, and each filled byte's provenance names the
 *   file. Writable segments are not filled: a file holds their values at
 *   load time, not at the crash.
 *
 * @example
 * ```ts
 * const dump = withModuleFiles(openMinidump('small.dmp'), { binaries: ['./bugs', './libc.so.6'] });
 * dump.memory.provenanceOf(0x555555555000n); // { source: './bugs', offset: 0x1000n }
 * dump.symbols.format(0x5555555551a4n);      // 'bugs!draw+0x4'
 * ```
 */
import { PieceMemory, type MemoryPiece } from './elf/core-memory.ts';
import { PF_W, PF_X } from './elf/program-headers.ts';
import { readElfSymbols } from './elf/symbols.ts';
import { LayeredMemory, type PartialMemoryView } from './layered-memory.ts';
import { layeredSymbols } from './layered-symbols.ts';
import { agreementProblem, compareWithFile } from './file-agreement.ts';
import type { Dump, DumpNote, FileOrigin, FileUse } from './model.ts';
import { filePlacements } from './module-files.ts';
import { matchModuleFiles, type MatchedFile, type ModuleFileOptions } from './module-match.ts';
import { showAddress } from './hex.ts';
import { SymbolIndex } from './symbol-table.ts';

/** A dump that holds files open until closed. */
export type ClosableDump = Dump & { close(): void };

function fillPieces(matches: MatchedFile[], notes: DumpNote[]): MemoryPiece[] {
  const pieces = matches
    .flatMap((m) => filePlacements(m).filter((p) => (p.flags & PF_W) === 0).map((p): MemoryPiece => ({
      start: p.start, end: p.end, source: m.image.file, fileOffset: p.fileOffset,
      provenance: { source: m.path, offset: p.fileOffset, file: originOf(m) }, kind: p.flags & PF_X ? 'code' : 'data',
    })))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const kept: MemoryPiece[] = [];
  for (const piece of pieces) {
    const last = kept[kept.length - 1];
    if (last && piece.start < last.end) {
      notes.push({ level: 'warning', message: `${piece.provenance.source} at ${showAddress(piece.start)} overlaps ${last.provenance.source}: its bytes there are not used` });
      continue;
    }
    kept.push(piece);
  }
  return kept;
}

/** What shows `m` to be the dump's build, for the provenance of the bytes it fills. */
function originOf(m: MatchedFile): FileOrigin {
  const id = m.image.buildId();
  return { path: m.path, checkedBy: m.how === 'build id' ? 'build id' : 'bytes', ...(id ? { buildId: id } : {}) };
}

function fileSymbols(dump: Dump, matches: MatchedFile[]): SymbolIndex {
  const index = new SymbolIndex({ arch: dump.arch });
  for (const match of matches) {
    try {
      for (const symbol of readElfSymbols(match.image)) {
        index.add(match.module.name, symbol.name, symbol.value + match.bias, symbol.size > 0n ? symbol.size : undefined, { source: match.path });
      }
    } catch (error) {
      dump.notes.push({ level: 'warning', message: `No symbols from ${match.path}: ${(error as Error).message}` });
    }
  }
  return index;
}

/**
 * Keeps the matches shown to be the build the dump ran. A build id match
 * is; a file matched by name only is when the bytes the dump holds in its
 * read-only segments agree with it (a few differing bytes are what
 * faultline looks for, a flipped bit in code, so they are noted and the
 * file kept); a file the dump holds none of the bytes of cannot be shown
 * to be the same build, and is not used.
 */
function agreeing(matches: MatchedFile[], memory: PartialMemoryView, notes: DumpNote[], uses: FileUse[]): MatchedFile[] {
  return matches.filter((m) => {
    if (m.how === 'build id') return true;
    const spans = filePlacements(m).filter((q) => (q.flags & PF_W) === 0);
    const agreement = compareWithFile((at, n) => memory.readPartial(at, n), m.image.file, spans);
    const problem = agreementProblem(agreement);
    if (problem) {
      const message = `${m.path} is not shown to be the ${m.module.name} the dump ran: ${problem}; not used`;
      notes.push({ level: 'warning', message });
      uses.push({ file: m.path, for: m.module.name, used: false, message });
      m.image.close();
      return false;
    }
    const { compared, differing, first } = agreement;
    if (differing) notes.push({ level: 'info', message: `${m.path} (for ${m.module.name}): ${differing} of the ${compared} bytes the dump holds in its code differ from the file's, the first at ${showAddress(first!)}; the dump's bytes are kept` });
    m.agreement = agreement;
    return true;
  });
}

function hasPartialReads(memory: Dump['memory']): memory is PartialMemoryView {
  return typeof memory.readPartial === 'function';
}

/**
 * `dump` with the module files `options` names: symbols and code from each
 * file matched to a module, notes for every file matched or not used. The
 * same dump when no file matches. The result's `close()` closes the files
 * and then the dump.
 *
 * @example
 * ```ts
 * const dump = withModuleFiles(loadTranscript('crash.txt'), { binaries: ['bugs-arm64'] }); // `lm` lists bugs_arm64
 * ```
 */
export function withModuleFiles(dump: Dump, options: ModuleFileOptions): Dump | ClosableDump {
  if (!options.binaries?.length && !options.sysroot) return dump;
  const uses: FileUse[] = [];
  const found = matchModuleFiles(dump.modules, options, dump.notes, uses);
  const held = dump.memory;
  const matches = hasPartialReads(held) ? agreeing(found, held, dump.notes, uses) : found;
  for (const m of matches) {
    const how = m.how === 'build id' ? `its build id ${m.module.buildId} is the dump's`
      : m.agreement ? `matched by name; the dump records no build id for it, and the ${m.agreement.compared} bytes it holds of it agree` : 'matched by name';
    const message = `${m.path} gives ${m.module.name} at ${showAddress(m.module.base)} its symbols and the code the dump lacks: ${how}`;
    dump.notes.push({ level: 'info', message });
    uses.push({ file: m.path, for: m.module.name, used: true, buildId: m.image.buildId(), message });
  }
  dump.files = [...(dump.files ?? []), ...uses];
  if (matches.length === 0) return dump;
  let memory = dump.memory;
  if (hasPartialReads(held)) memory = new LayeredMemory(held, new PieceMemory(fillPieces(matches, dump.notes)));
  else dump.notes.push({ level: 'warning', message: `The ${dump.format} memory cannot be layered, so no code is filled from module files` });
  const closeDump = (dump as Partial<ClosableDump>).close?.bind(dump);
  return {
    ...dump,
    memory,
    symbols: layeredSymbols(dump.symbols, () => fileSymbols(dump, matches), dump.arch),
    close: () => {
      for (const m of matches) m.image.close();
      closeDump?.();
    },
  };
}
