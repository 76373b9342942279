/**
 * The bytes a module's file puts at an address, independently of what the
 * dump holds there: what the code should be, to compare with what it is
 * (like WinDbg's `!chkimg`). For an ELF core, the files its mappings were
 * resolved to; for other dumps, `--binary` files matched to the dump's
 * modules by build id or name (module-match.ts) and placed at the module's
 * base by their `PT_LOAD` segments. Only files the dump admitted as its
 * build when it was opened (`dump.files`) are used.
 *
 * @example
 * ```ts
 * const files = moduleFiles(dump, ['./crash']);
 * files.read(0x401000n, 16); // the file's bytes, or undefined where no file maps the address
 * files.close();
 * ```
 */
import { FileSource } from './binary/file-source.ts';
import type { ElfCoreDump } from './elf/open-core.ts';
import type { Dump } from './model.ts';
import { matchModuleFiles, type MatchedFile } from './module-match.ts';

interface Placed {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  path: string;
}

export interface ModuleFiles {
  /** The file's `length` bytes for `address`, or undefined where no file maps all of them. */
  read(address: bigint, length: number): Uint8Array | undefined;
  /** The file mapped at `address`, if any. */
  fileAt(address: bigint): string | undefined;
  close(): void;
}

function placementsOfCore(dump: ElfCoreDump): Placed[] {
  const found = new Map(dump.elf.files.filter((f) => f.foundAt).map((f) => [f.path, f.foundAt!]));
  return dump.elf.mappings.filter((m) => found.has(m.path)).map((m) => ({ start: m.start, end: m.end, fileOffset: m.fileOffset, path: found.get(m.path)! }));
}

/** A matched file's `PT_LOAD` segments with file bytes, at their run-time addresses. */
export interface FilePlacement {
  start: bigint;
  /** Exclusive: the end of the segment's file bytes. */
  end: bigint;
  fileOffset: bigint;
  path: string;
  /** The segment's `p_flags` (`PF_R`, `PF_W`, `PF_X`). */
  flags: number;
}

/**
 * Where `match`'s file bytes lie in the dump's address space: one entry per
 * `PT_LOAD` with file bytes, moved by the match's bias.
 *
 * @example
 * ```ts
 * filePlacements(match).filter((p) => (p.flags & PF_W) === 0); // code and read-only data
 * ```
 */
export function filePlacements(match: MatchedFile): FilePlacement[] {
  return match.image.loads().filter((l) => l.filesz > 0n).map((l) => ({
    start: l.vaddr + match.bias, end: l.vaddr + match.bias + l.filesz, fileOffset: l.offset, path: match.path, flags: l.flags,
  }));
}

/**
 * Placements of `binaries` matched to `dump`'s modules, only those the
 * dump admitted when it was opened with them (`dump.files`: same build by
 * build id or held bytes); a file not shown to be the build is not
 * compared with, since its differences would be another build's.
 */
function placementsOfBinaries(dump: Dump, binaries: string[]): Placed[] {
  const admitted = new Set((dump.files ?? []).filter((u) => u.used).map((u) => u.file));
  const out: Placed[] = [];
  for (const match of matchModuleFiles(dump.modules, { binaries }, [])) {
    if (admitted.has(match.path)) out.push(...filePlacements(match));
    match.image.close();
  }
  return out;
}

/** The module files of `dump` (its own for ELF cores, plus `binaries` matched to its modules). */
export function moduleFiles(dump: Dump, binaries: string[] = []): ModuleFiles {
  const placed = [...('elf' in dump ? placementsOfCore(dump as ElfCoreDump) : []), ...placementsOfBinaries(dump, binaries)];
  const open = new Map<string, FileSource | null>();
  const file = (path: string): FileSource | undefined => {
    if (!open.has(path)) {
      try {
        open.set(path, FileSource.open(path, 'module'));
      } catch {
        open.set(path, null);
      }
    }
    return open.get(path) ?? undefined;
  };
  const find = (address: bigint) => placed.find((p) => p.start <= address && address < p.end);
  return {
    read(address, length) {
      const p = find(address);
      if (!p || address + BigInt(length) > p.end) return undefined;
      const f = file(p.path);
      const offset = p.fileOffset + (address - p.start);
      if (!f || offset + BigInt(length) > f.size) return undefined;
      return f.read(offset, length, `${p.path} code`);
    },
    fileAt: (address) => find(address)?.path,
    close() {
      for (const f of open.values()) f?.close();
      open.clear();
    },
  };
}
