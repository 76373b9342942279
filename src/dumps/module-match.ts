/**
 * Which ELF file on this machine is which module of a dump: `--binary`
 * files, and with `--sysroot` the files at the modules' own paths under it.
 * A file is matched to a module
 *
 * 1. by GNU build id, when the dump records one (a minidump's 'BpEL'
 *    CodeView record) and the file's `.note.gnu.build-id` is the same,
 *    whatever the names;
 * 2. otherwise by name: the module's name or path's file name is the
 *    file's name (`libc.so.6`), that name without its last extension
 *    (`libc.so`, as a minidump names it on Windows), or WinDbg's name for
 *    it (`libc_so`; `bugs_arm64` for `bugs-arm64`). A module whose build id
 *    differs from the file's is a different build: the file is not used,
 *    and a note says so.
 *
 * A match is placed at the module's base: a position-independent file is
 * moved by the module's base minus its first segment's page; a fixed
 * (`ET_EXEC`) file must be linked at the module's base. A file that does
 * not fit the module (other base, larger than the module) is not used,
 * with a note. Every decision not to use a file is a note, never silent.
 *
 * @example
 * ```ts
 * const matches = matchModuleFiles(dump.modules, { binaries: ['./bugs', './libc.so.6'] }, dump.notes);
 * matches[0];          // { path: './bugs', module: { name: 'bugs', … }, bias: 0x555555554000n, how: 'name', image }
 * matches[0].image.close();
 * ```
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ET_EXEC } from './elf/elf-header.ts';
import { ElfImage } from './elf/elf-image.ts';
import { baseName } from './minidump/module-names.ts';
import type { Agreement } from './file-agreement.ts';
import type { DumpModule, DumpNote, FileUse } from './model.ts';

/** Where to look for module files. */
export interface ModuleFileOptions {
  /** ELF files, each matched to a module by build id or name. */
  binaries?: string[];
  /** A directory mirroring the crashed machine's root: a module at /lib/libc.so.6 is looked for at <sysroot>/lib/libc.so.6. */
  sysroot?: string;
}

/** A file standing in for a module, and where it lies in the dump's address space. */
export interface MatchedFile {
  /** The file on this machine. */
  path: string;
  module: DumpModule;
  /** Open; the caller closes it. */
  image: ElfImage;
  /** Run-time address minus link-time address (0 for an `ET_EXEC` file). */
  bias: bigint;
  how: 'build id' | 'name';
  /** For a match by name: how the bytes the dump holds agree with the file (module-binaries.ts). */
  agreement?: Agreement;
}

const PAGE = 0x1000n;
/** Module sizes are compared after rounding up to this (ARM64 files may be laid out for 64 KiB pages). */
const SIZE_SLACK = 0x10000n;
const hex = (value: bigint): string => `0x${value.toString(16)}`;

/**
 * The names a module made from `path` may carry: the file name, without its
 * last extension, and WinDbg's name (non-identifier characters as `_`).
 *
 * @example
 * ```ts
 * moduleNamesFor('/usr/lib/libc.so.6'); // ['libc.so.6', 'libc.so', 'libc_so']
 * ```
 */
export function moduleNamesFor(path: string): string[] {
  const file = baseName(path).toLowerCase();
  const dot = file.lastIndexOf('.');
  const stem = dot > 0 ? file.slice(0, dot) : file;
  return [...new Set([file, stem, stem.replace(/[^a-z0-9_]/g, '_')])];
}

function namedFor(module: DumpModule, path: string): boolean {
  const names = moduleNamesFor(path);
  return names.includes(module.name.toLowerCase()) || (module.path !== undefined && baseName(module.path).toLowerCase() === names[0]);
}

function isFile(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The bias that puts `image` at `module`'s base, or why it cannot be. */
function placement(image: ElfImage, module: DumpModule): { bias: bigint } | { problem: string } {
  const loads = image.loads().filter((l) => l.memsz > 0n);
  if (loads.length === 0) return { problem: 'it has no PT_LOAD segments' };
  const low = loads.reduce((m, l) => (l.vaddr < m ? l.vaddr : m), loads[0]!.vaddr) & ~(PAGE - 1n);
  // File-backed extent: a module's size counts its file mappings, not the zero pages (.bss) past them.
  const high = loads.reduce((m, l) => (l.vaddr + l.filesz > m ? l.vaddr + l.filesz : m), 0n);
  const bias = image.header.type === ET_EXEC ? 0n : module.base - low;
  if (low + bias !== module.base) return { problem: `it is linked at ${hex(low)} but the dump has ${module.name} at ${hex(module.base)}` };
  const room = (module.size + SIZE_SLACK - 1n) & ~(SIZE_SLACK - 1n);
  if (module.size > 0n && high - low > room) return { problem: `its file bytes span ${hex(high - low)}, more than ${module.name}'s ${hex(module.size)}` };
  return { bias };
}

function open(path: string, notes: DumpNote[]): ElfImage | undefined {
  try {
    return ElfImage.open(path);
  } catch (error) {
    notes.push({ level: 'warning', message: `Cannot use ${path}: ${(error as Error).message}` });
    return undefined;
  }
}

/**
 * Matches `options.binaries` (and sysroot files) to `modules`; every file
 * not used gets a note in `notes`. A module takes at most one file, the
 * first that matches.
 *
 * @example
 * ```ts
 * matchModuleFiles(minidump.modules, { binaries: ['other-build/libc.so.6'] }, notes); // [] and a warning:
 * // 'other-build/libc.so.6: build id 1a2b… ≠ dump's 3c4d… (libc.so), not used'
 * ```
 */
export function matchModuleFiles(modules: DumpModule[], options: ModuleFileOptions, notes: DumpNote[], uses: FileUse[] = []): MatchedFile[] {
  const matches: MatchedFile[] = [];
  const taken = new Set<DumpModule>();
  const refuse = (path: string, module: DumpModule, message: string): void => {
    notes.push({ level: 'warning', message });
    uses.push({ file: path, for: module.name, used: false, message });
  };
  const accept = (path: string, image: ElfImage, module: DumpModule, how: MatchedFile['how']): boolean => {
    const where = placement(image, module);
    if ('problem' in where) {
      refuse(path, module, `${path} (for ${module.name} by ${how}): ${where.problem}, not used`);
      return false;
    }
    taken.add(module);
    matches.push({ path, module, image, bias: where.bias, how });
    return true;
  };
  const consider = (path: string, candidates: DumpModule[]): void => {
    const image = open(path, notes);
    if (!image) return;
    const id = image.buildId();
    const free = candidates.filter((m) => !taken.has(m));
    const byId = id === undefined ? undefined : free.find((m) => m.buildId === id);
    if (byId && accept(path, image, byId, 'build id')) return;
    let refused = false;
    for (const module of free.filter((m) => m !== byId && namedFor(m, path))) {
      if (module.buildId !== undefined && module.buildId !== id) {
        const mine = id === undefined ? 'has no build id' : `build id ${id}`;
        refuse(path, module, `${path}: ${mine} ≠ dump's ${module.buildId} (${module.name}), not used`);
        refused = true;
        continue;
      }
      if (!accept(path, image, module, 'name')) {
        refused = true;
        continue;
      }
      return;
    }
    if (!refused && !byId) notes.push({ level: 'info', message: `${path} matches no module of the dump by build id or name: not used` });
    image.close();
  };
  for (const path of options.binaries ?? []) consider(path, modules);
  if (options.sysroot) {
    for (const module of modules) {
      if (taken.has(module) || !module.path?.startsWith('/')) continue;
      const path = join(options.sysroot, module.path);
      if (isFile(path)) consider(path, [module]);
    }
  }
  return matches;
}
