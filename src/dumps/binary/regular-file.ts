/**
 * Opens an input file only when it is a regular file: a directory, FIFO,
 * socket or device is refused with one line before anything is read (a FIFO
 * would block `open`, `/dev/zero` would never end, a directory gives
 * EISDIR). The path is stat'ed first for the message, then opened
 * non-blocking and checked again on the descriptor, so a path swapped for a
 * FIFO in between cannot block either.
 *
 * @example
 * ```ts
 * const { fd, size } = openRegularFile('crash.dmp', 'minidump');
 * openRegularFile('/dev/zero', 'dump'); // DumpFormatError: /dev/zero: Not a regular file (a character device)
 * ```
 */
import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import { DumpFormatError } from '../errors.ts';

/** What `stats` is, when it is not a regular file ('a directory', 'a FIFO', …). */
function specialKind(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function refuse(path: string, format: string, kind: string): never {
  const message = kind === 'a directory' ? 'Is a directory, not a file' : `Not a regular file (${kind})`;
  throw new DumpFormatError(format, path, message, { code: 'io' });
}

/**
 * The descriptor (read-only) and size of the regular file at `path`.
 * Throws `DumpFormatError` (code 'io') for a missing or unreadable path and
 * for anything that is not a regular file.
 *
 * @example
 * ```ts
 * const { fd, size } = openRegularFile('paste.txt', 'windbg-transcript');
 * ```
 */
export function openRegularFile(path: string, format: string): { fd: number; size: number } {
  let fd: number;
  try {
    const kind = specialKind(statSync(path));
    if (kind) refuse(path, format, kind);
    // O_NONBLOCK: a path replaced by a FIFO after the stat still does not block here.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (error instanceof DumpFormatError) throw error;
    throw new DumpFormatError(format, path, `Cannot open the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { code: 'io' });
  }
  const stats = fstatSync(fd);
  const kind = specialKind(stats);
  if (kind) {
    closeSync(fd);
    refuse(path, format, kind);
  }
  return { fd, size: stats.size };
}
