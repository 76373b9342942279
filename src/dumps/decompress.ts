/**
 * Cores compressed the way systemd-coredump stores them: zstd (its default)
 * and xz are decompressed into a temporary file (removed at exit) by the
 * system's `zstd` and `xz` commands, and the core is opened from there. lz4
 * and the rest are refused with the command that decompresses them.
 *
 * Memory stays bounded whatever the headers claim: the decompressor runs in
 * its own process with a memory limit (128 MiB: zstd's own default window
 * limit, and the same for xz's dictionary), writes straight into the file
 * chunk by chunk, and is stopped once the output passes its ceiling: the
 * least of DECOMPRESSED_LIMIT (32 GiB), what the disk has free, and what
 * the input says it holds. A zstd file's frames and block headers are
 * walked first (zstd-frames.ts: a window too large or a damaged header is
 * reported with its offset before anything is decompressed, and the blocks
 * bound the output); an xz file's streams and index are read first
 * (xz-index.ts, what `xz --list` reads, without starting it: the size it
 * states, refused at once past the limit or when the index is damaged).
 *
 * Why the commands and not a JavaScript decoder: fzstd allocates a frame's
 * whole claimed content size up front (a 16-byte file claiming 1 GiB took
 * 1.15 GiB; 2 GiB failed with "Invalid typed array length"), and a corrupt
 * stream took 16 s to report. zstd and xz are maintained streaming decoders
 * that check every block and stop at the first bad one.
 *
 * @example
 * ```ts
 * const plain = await decompressToTemporary('core.zst', { name: 'zstd', command: 'zstd -d' });
 * ```
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { FileSource } from './binary/file-source.ts';
import { DumpFormatError } from './errors.ts';
import type { Compression } from './elf/compression.ts';
import { shortText } from '../quote.ts';
import { walkZstdFrames, ZSTD_WINDOW_LIMIT } from './zstd-frames.ts';
import { xzIndexedSize } from './xz-index.ts';

const temporaryDirs: string[] = [];
let cleanupRegistered = false;

/** How often the output's size is checked against its ceiling. */
const WATCH_MS = 100;
/** Left free on the temporary directory's disk. */
const DISK_MARGIN = 64n * 1024n * 1024n;

/**
 * The most a compressed core is decompressed to, whatever its headers say:
 * 32 GiB, the largest core systemd-coredump stores on a 64-bit system
 * (ProcessSizeMax= and ExternalSizeMax= in coredump.conf default to 32G).
 */
export const DECOMPRESSED_LIMIT = 32n * 1024n * 1024n * 1024n;

/** `bytes` in MiB or GiB, for messages. */
function sizeText(bytes: bigint): string {
  return bytes >= 1024n ** 3n && bytes % 1024n ** 3n === 0n ? `${bytes / 1024n ** 3n} GiB` : `${bytes / 1024n ** 2n} MiB`;
}

function temporaryFile(path: string): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.on('exit', removeDecompressed);
  }
  const dir = mkdtempSync(join(tmpdir(), 'faultline-core-'));
  temporaryDirs.push(dir);
  return join(dir, basename(path).replace(/\.(zst|zstd|xz)$/, '') || 'core');
}

/**
 * Removes every temporary file made so far (they are removed at exit
 * anyway); for a long-running process that opens many compressed cores,
 * after closing them.
 */
export function removeDecompressed(): void {
  for (const dir of temporaryDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The command line that decompresses `path` to standard output within the memory limit. */
function commandFor(name: 'zstd' | 'xz', path: string): string[] {
  const limit = `${ZSTD_WINDOW_LIMIT / (1024 * 1024)}`;
  return name === 'zstd'
    ? ['zstd', '-d', '-c', '-q', `--memory=${limit}MB`, '--', path]
    : ['xz', '-d', '-c', '-q', `--memlimit-decompress=${limit}MiB`, '--', path];
}

/** The decompressor's complaint without its `zstd: path:` prefix. */
function complaint(stderr: string, path: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? '';
  const text = line.replace(/^(zstd|xz):\s*/, '').replace(`${path} : `, '').replace(`${path}: `, '').replace(/^\/\*stdin\*\\?:\s*/, '');
  return shortText(text, 120);
}

/** Free bytes on the disk holding `dir`, or undefined when the system does not say. */
function freeBytes(dir: string): bigint | undefined {
  try {
    const stats = statfsSync(dir, { bigint: true });
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/** What the output must start with, and the error when it does not (checked as soon as enough is written). */
export interface ExpectedHead {
  magic: Uint8Array;
  message: string;
}

/**
 * Runs `argv`, its standard output into `fd` (opened for reading too);
 * resolves when it exits 0, rejects with its complaint otherwise, and kills
 * it once `fd` holds more than `ceiling` bytes or starts with anything but
 * `head.magic`.
 */
function runInto(argv: string[], fd: number, ceiling: { bytes: bigint; why: string }, path: string, name: string, head?: ExpectedHead): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    let overflow = false;
    let wrongHead = false;
    const headOk = (): boolean => {
      if (!head) return true;
      const bytes = Buffer.alloc(head.magic.length);
      const n = readSync(fd, bytes, 0, bytes.length, 0);
      return n < bytes.length || bytes.equals(head.magic);
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    const watch = setInterval(() => {
      if (BigInt(fstatSync(fd).size) > ceiling.bytes) {
        overflow = true;
        child.kill('SIGKILL');
      } else if (!headOk()) {
        wrongHead = true;
        child.kill('SIGKILL');
      }
    }, WATCH_MS);
    let settled = false;
    const done = (error?: DumpFormatError): void => {
      // 'error' (the command cannot start) may be followed by 'close'; the first one settles.
      if (settled) return;
      settled = true;
      clearInterval(watch);
      if (error) reject(error);
      else resolve();
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ENOENT'
        ? `the \`${name}\` command is not installed (Debian/Ubuntu: apt-get install ${name === 'xz' ? 'xz-utils' : 'zstd'}); install it or decompress the file first`
        : `cannot run \`${name}\` (${error.code ?? error.message})`;
      done(new DumpFormatError(name, path, `Cannot decompress the ${name} stream: ${reason}`, { code: 'unsupported' }));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      if (wrongHead || (code === 0 && !headOk())) {
        done(new DumpFormatError('dump', path, head!.message, { code: 'bad-magic' }));
      } else if (overflow || BigInt(fstatSync(fd).size) > ceiling.bytes) {
        // Past the ceiling before the watch saw it (it looks every WATCH_MS): the same line.
        overflow = true;
        done(new DumpFormatError(name, path, `Cannot decompress the ${name} stream: its output passed ${ceiling.bytes} bytes, ${ceiling.why}`, { code: 'bad-field' }));
      } else if (code === 0) {
        done();
      } else {
        const said = complaint(stderr, path) || (signal ? `killed by ${signal}` : `exit ${code}`);
        done(new DumpFormatError(name, path, `Corrupt or unsupported ${name} stream after ${fstatSync(fd).size} bytes of output: ${said}`, { code: 'bad-field' }));
      }
    });
  });
}

/**
 * Decompresses `path` into a temporary file and returns its path; an
 * unsupported compressor, a bad stream, or output that does not start with
 * `head.magic` (stopped at once) is a DumpFormatError.
 */
export async function decompressToTemporary(path: string, compression: Compression, head?: ExpectedHead): Promise<string> {
  if (compression.name !== 'zstd' && compression.name !== 'xz') {
    throw new DumpFormatError('dump', path, `The file is compressed with ${compression.name}: decompress it with \`${compression.command}\` first`, { code: 'unsupported' });
  }
  // The output's ceiling: the least of the limit, what the input says it holds, and the free disk.
  let ceiling = { bytes: DECOMPRESSED_LIMIT, why: `the most faultline decompresses (${sizeText(DECOMPRESSED_LIMIT)})` };
  const lower = (bytes: bigint, why: string): void => {
    if (bytes < ceiling.bytes) ceiling = { bytes, why };
  };
  if (compression.name === 'zstd') {
    const file = FileSource.open(path, 'zstd');
    try {
      lower(walkZstdFrames(file).outputBound, 'more than its blocks can hold');
    } finally {
      file.close();
    }
  } else {
    const file = FileSource.open(path, 'xz');
    let listed: bigint;
    try {
      listed = xzIndexedSize(file);
    } finally {
      file.close();
    }
    if (listed > DECOMPRESSED_LIMIT) {
      throw new DumpFormatError('xz', path, `The xz stream says it holds ${listed} bytes, more than the ${sizeText(DECOMPRESSED_LIMIT)} faultline decompresses`, { code: 'bad-field' });
    }
    lower(listed, 'more than its index says it holds');
  }
  const free = freeBytes(tmpdir());
  if (free !== undefined) lower(free > DISK_MARGIN ? free - DISK_MARGIN : 0n, 'more than the temporary directory has free');
  const out = temporaryFile(path);
  const fd = openSync(out, 'w+');
  try {
    await runInto(commandFor(compression.name, path), fd, ceiling, path, compression.name, head);
  } finally {
    closeSync(fd);
  }
  return out;
}
