/**
 * Opens any dump faultline reads, by its first bytes: `MDMP` (Windows
 * minidump), `\x7fELF` (Linux core), `PAGEDUMP`/`PAGEDU64` (Windows kernel
 * dump: full, kernel, bitmap, triage), and otherwise text (a WinDbg transcript).
 * `--binary` files and a sysroot reach every format: a core resolves the
 * files it maps, a minidump or transcript matches them to its modules.
 *
 * @example
 * ```ts
 * const dump = await openDump('crash.txt');
 * ```
 */
import { closeSync, readSync } from 'node:fs';
import { openRegularFile } from './binary/regular-file.ts';
import { DumpFormatError } from './errors.ts';
import type { Dump } from './model.ts';
import { compressionOf } from './elf/compression.ts';

// Each format's reader is imported when a dump of that format is opened: a command that opens one ELF core
// does not load the minidump, kernel-dump and transcript readers (start-up time; see README, Design).

export interface OpenOptions {
  /**
   * ELF executables and libraries: for a core, the files its mappings name;
   * for a minidump or transcript, matched to its modules by build id or
   * name (module-match.ts). They give symbols and the code the dump lacks.
   */
  binaries?: string[];
  /** A directory mirroring the crashed machine's root, where module paths are looked up. */
  sysroot?: string;
}

const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);

export type SniffedFormat = 'minidump' | 'elf-core' | 'kernel-dump' | 'windbg-transcript' | 'compressed';

/** The first 8 bytes of `path` (fewer for a shorter file); anything but a regular file is refused. */
function readHead(path: string, fd = openRegularFile(path, 'dump').fd): Buffer {
  const head = Buffer.alloc(8);
  try {
    return head.subarray(0, readSync(fd, head, 0, 8, 0));
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` starts with 'MZ' (a PE image); an unreadable file is left to the matchers to report. */
function isPeFile(path: string): boolean {
  try {
    return readHead(path).subarray(0, 2).toString('latin1') === 'MZ';
  } catch {
    return false;
  }
}

/** The format of the file at `path`, from its first bytes. */
export function sniffFormat(path: string): SniffedFormat {
  const magic = readHead(path);
  if (compressionOf(magic)) return 'compressed';
  if (magic.subarray(0, 4).toString('latin1') === 'MDMP') return 'minidump';
  if (magic[0] === 0x7f && magic.subarray(1, 4).toString('latin1') === 'ELF') return 'elf-core';
  const text = magic.toString('latin1');
  // 'PAGE' then 'DUMP' or 'DU64': any other second half is a kernel dump header with a bad ValidDump, said as such.
  if (text.startsWith('PAGE') && magic.length === 8) return 'kernel-dump';
  return 'windbg-transcript';
}

/** Opens `path` as a dump of whichever format it is. */
export async function openDump(path: string, options: OpenOptions = {}): Promise<Dump> {
  const format = sniffFormat(path);
  switch (format) {
    case 'compressed': {
      const [{ decompressToTemporary }, { openElfCore }] = await Promise.all([import('./decompress.ts'), import('./elf/open-core.ts')]);
      const plain = await decompressToTemporary(path, compressionOf(readHead(path))!, { magic: ELF_MAGIC, message: 'The decompressed file is not an ELF core' });
      if (sniffFormat(plain) !== 'elf-core') throw new DumpFormatError('dump', path, 'The decompressed file is not an ELF core', { code: 'bad-magic' });
      let dump: Dump;
      try {
        dump = openElfCore(plain, { binaries: options.binaries, sysroot: options.sysroot });
      } catch (error) {
        // Name the file the user gave, not the temporary copy.
        if (!(error instanceof DumpFormatError) || error.path !== plain) throw error;
        throw new DumpFormatError(error.format, path, `Decompressed: ${error.message}`, { offset: error.offset, code: error.code });
      }
      dump.notes.unshift({ level: 'info', message: `decompressed from ${path}` });
      return dump;
    }
    case 'windbg-transcript': {
      const [{ loadTranscript }, { withModuleFiles }] = await Promise.all([import('./transcript/loader.ts'), import('./module-binaries.ts')]);
      return withModuleFiles(loadTranscript(path), options);
    }
    case 'minidump': {
      const [{ openMinidump }, { withModuleFiles }, { withPeModuleFiles }] = await Promise.all([
        import('./minidump/open-minidump.ts'), import('./module-binaries.ts'), import('./kernel/pe-files.ts'),
      ]);
      const dump = openMinidump(path);
      try {
        // PE images (Windows modules) are matched as kernel dumps match them, plus the minidump's CodeView GUID and age;
        // ELF files by build id or name.
        const pe = (options.binaries ?? []).filter(isPeFile);
        const elf = withModuleFiles(dump, { ...options, binaries: (options.binaries ?? []).filter((b) => !pe.includes(b)) });
        const closable = 'close' in elf ? (elf as Dump & { close(): void }) : Object.assign(elf, { close: () => dump.close() });
        return withPeModuleFiles(closable, { binaries: pe, sysroot: dump.os === 'windows' ? options.sysroot : undefined });
      } catch (error) {
        dump.close();
        throw error;
      }
    }
    case 'elf-core': {
      const { openElfCore } = await import('./elf/open-core.ts');
      return openElfCore(path, { binaries: options.binaries, sysroot: options.sysroot });
    }
    case 'kernel-dump': {
      const [{ openKernelDump }, { withPeModuleFiles }] = await Promise.all([import('./kernel/open-kernel-dump.ts'), import('./kernel/pe-files.ts')]);
      const dump = openKernelDump(path);
      try {
        return withPeModuleFiles(dump, options);
      } catch (error) {
        dump.close();
        throw error;
      }
    }
  }
}
