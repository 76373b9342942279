/**
 * Cores compressed the way systemd-coredump stores them: zstd (its default)
 * and xz are decompressed chunk by chunk into a temporary file (removed at
 * exit), never whole in memory, and the core is opened from there. lz4 and
 * the rest are refused with the command that decompresses them.
 *
 * Libraries: fzstd (pure JavaScript, streaming) and xz-decompress
 * (WebAssembly, streaming): no native build, both maintained.
 *
 * @example
 * ```ts
 * const plain = await decompressToTemporary('core.zst', { name: 'zstd', command: 'zstd -d' });
 * ```
 */
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DumpFormatError } from './errors.ts';
import type { Compression } from './elf/compression.ts';

const temporaryDirs: string[] = [];
let cleanupRegistered = false;

function temporaryFile(path: string): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.on('exit', () => {
      for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'faultline-core-'));
  temporaryDirs.push(dir);
  return join(dir, basename(path).replace(/\.(zst|zstd|xz)$/, '') || 'core');
}

/** Decompresses `path` into a temporary file and returns its path; an unsupported compressor is a DumpFormatError. */
export async function decompressToTemporary(path: string, compression: Compression): Promise<string> {
  if (compression.name !== 'zstd' && compression.name !== 'xz') {
    throw new DumpFormatError('dump', path, `The file is compressed with ${compression.name}: decompress it with \`${compression.command}\` first`, { code: 'unsupported' });
  }
  const out = temporaryFile(path);
  const fd = openSync(out, 'w');
  try {
    const input = createReadStream(path);
    // Loaded only when a compressed core is opened.
    if (compression.name === 'zstd') {
      const { Decompress } = await import('fzstd');
      const decompressor = new Decompress((chunk) => {
        writeSync(fd, chunk);
      });
      for await (const chunk of input) decompressor.push(chunk as Uint8Array);
      decompressor.push(new Uint8Array(0), true);
    } else {
      const xz = (await import('xz-decompress')) as unknown as { default?: { XzReadableStream: typeof import('xz-decompress').XzReadableStream }; XzReadableStream?: typeof import('xz-decompress').XzReadableStream };
      const XzReadableStream = xz.XzReadableStream ?? xz.default!.XzReadableStream;
      const stream = new XzReadableStream(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      for await (const chunk of stream as unknown as WebReadableStream<Uint8Array>) writeSync(fd, chunk);
    }
  } catch (error) {
    throw new DumpFormatError('dump', path, `Cannot decompress the ${compression.name} stream: ${(error as Error).message}`, { code: 'bad-field' });
  } finally {
    closeSync(fd);
  }
  return out;
}
