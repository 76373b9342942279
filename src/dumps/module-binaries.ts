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
import type { Dump, DumpNote } from './model.ts';
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
      provenance: { source: m.path, offset: p.fileOffset }, kind: p.flags & PF_X ? 'code' : 'data',
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

/** Bytes compared per file when checking a name-only match against the dump. */
const COMPARED_BYTES = 0x40000;

/**
 * How many of the bytes the dump holds in `match`'s read-only segments
 * differ from the file's (up to COMPARED_BYTES compared), and the first.
 */
function disagreement(match: MatchedFile, memory: PartialMemoryView): { compared: number; differing: number; first?: bigint } {
  const result: { compared: number; differing: number; first?: bigint } = { compared: 0, differing: 0 };
  for (const p of filePlacements(match).filter((q) => (q.flags & PF_W) === 0)) {
    for (let at = p.start; at < p.end && result.compared < COMPARED_BYTES; at += 0x1000n) {
      const length = Number(p.end - at < 0x1000n ? p.end - at : 0x1000n);
      const held = memory.readPartial(at, length);
      if (!held.known.includes(1)) continue;
      const file = match.image.file.read(p.fileOffset + (at - p.start), length, `${match.path} at ${showAddress(at)}`);
      for (let i = 0; i < length; i++) {
        if (held.known[i] !== 1) continue;
        result.compared++;
        if (held.bytes[i] === file[i]) continue;
        result.differing++;
        result.first ??= at + BigInt(i);
      }
    }
  }
  return result;
}

/**
 * Keeps the matches the dump's own bytes do not contradict. A file matched
 * by name only is another build when many of the bytes the dump holds in
 * its code differ; a few differing bytes are what faultline looks for (a
 * flipped bit in code), so they are noted and the file kept.
 */
function agreeing(matches: MatchedFile[], memory: PartialMemoryView, notes: DumpNote[]): MatchedFile[] {
  return matches.filter((m) => {
    if (m.how === 'build id') return true;
    const { compared, differing, first } = disagreement(m, memory);
    if (differing === 0) return true;
    const where = `${differing} of the ${compared} bytes the dump holds in its code differ from the file's, the first at ${showAddress(first!)}`;
    if (differing > Math.max(16, compared / 8)) {
      notes.push({ level: 'warning', message: `${m.path} is not the ${m.module.name} the dump ran: ${where}; not used` });
      m.image.close();
      return false;
    }
    notes.push({ level: 'info', message: `${m.path} (for ${m.module.name}): ${where}; the dump's bytes are kept` });
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
  const found = matchModuleFiles(dump.modules, options, dump.notes);
  const held = dump.memory;
  const matches = hasPartialReads(held) ? agreeing(found, held, dump.notes) : found;
  if (matches.length === 0) return dump;
  for (const m of matches) {
    const how = m.how === 'build id' ? 'matched by build id' : 'matched by name only: the dump records no build id for it';
    dump.notes.push({ level: 'info', message: `${m.path} gives ${m.module.name} at ${showAddress(m.module.base)} its symbols and the code the dump lacks (${how})` });
  }
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
