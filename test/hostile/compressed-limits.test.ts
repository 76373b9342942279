/**
 * Compressed cores whose headers lie or whose streams are damaged: refused
 * in one line, at once, with bounded memory. Before, fzstd allocated the
 * content size a frame header claimed (1 GiB claimed: 1.15 GiB RSS; 2 GiB:
 * "Invalid typed array length") and a corrupt stream took ~16 s.
 *
 * Frames are built here byte by byte from RFC 8878 (not from the parser's
 * constants); one built frame is decompressed by the real `zstd` to show
 * the builder writes what zstd reads. xz files are made by the real `xz`,
 * then their index rewritten to state another size (the .xz format
 * specification, sections 2.1.2 and 4: records of varints, CRC32s).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDump } from '../../src/dumps/open.ts';
import { DECOMPRESSED_LIMIT, decompressToTemporary, removeDecompressed } from '../../src/dumps/decompress.ts';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { FileSource } from '../../src/dumps/binary/file-source.ts';
import { walkZstdFrames } from '../../src/dumps/zstd-frames.ts';
import { lacks } from '../helpers/system.ts';
import { blockHeader, le, MAGIC, singleSegmentFrame, withClaimedSize } from '../helpers/compressed-inputs.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-zstd-'));
});
afterAll(() => {
  // The decompressed files: the module removes them on 'exit', which a vitest worker thread never emits.
  removeDecompressed();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `bytes` to `name` in the test directory. */
function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The DumpFormatError opening `path` gives, and how long it took. */
async function refusal(path: string): Promise<{ error: DumpFormatError; ms: number }> {
  const started = performance.now();
  try {
    await openDump(path);
  } catch (error) {
    expect(error).toBeInstanceOf(DumpFormatError);
    return { error: error as DumpFormatError, ms: performance.now() - started };
  }
  throw new Error(`expected ${path} to be refused`);
}

const hello = [...blockHeader(true, 0, 5), ...Buffer.from('hello')];

describe('zstd headers are checked before anything is decompressed', () => {
  it('a frame claiming 1 GiB of content in one segment is refused, nothing allocated', async () => {
    const { error, ms } = await refusal(file('claim-1g.zst', singleSegmentFrame(1n << 30n, hello)));
    expect(error.message).toBe('The zstd frame at offset 0x0 needs a 1024 MiB window, more than the 128 MiB faultline decompresses with');
    expect(ms).toBeLessThan(3000);
  });

  it('a frame claiming 2 GiB: the same line, not "Invalid typed array length"', async () => {
    const { error } = await refusal(file('claim-2g.zst', singleSegmentFrame(2n << 30n, hello)));
    expect(error.message).toContain('needs a 2048 MiB window');
  });

  it('a window descriptor asking for 2 GiB', async () => {
    // Window descriptor: exponent 21 (2^31), mantissa 0.
    const { error } = await refusal(file('window-2g.zst', Uint8Array.from([...MAGIC, 0x00, 21 << 3, ...hello])));
    expect(error.message).toContain('needs a 2048 MiB window');
  });

  it('a reserved block type, at the offset of its block header', async () => {
    const bytes = singleSegmentFrame(5n, [...blockHeader(true, 3, 5), ...Buffer.from('hello')]);
    const { error, ms } = await refusal(file('reserved.zst', bytes));
    expect(error.message).toBe('Corrupt zstd stream at offset 0xd: a block header has the reserved block type 3');
    expect(error.offset).toBe(0xdn);
    expect(ms).toBeLessThan(3000);
  });

  it('a block running past the end of the file', async () => {
    const { error } = await refusal(file('short.zst', singleSegmentFrame(5n, [...blockHeader(true, 0, 5), 0x68, 0x65])));
    expect(error.message).toBe('Corrupt zstd stream at offset 0xd: a block of 5 bytes runs past the end of the file (18 bytes)');
  });

  it('a second frame with a bad magic, at its offset', async () => {
    const first = singleSegmentFrame(5n, hello);
    const { error } = await refusal(file('two.zst', Uint8Array.from([...first, 0xde, 0xad, 0xbe, 0xef])));
    expect(error.message).toBe(`Corrupt zstd stream at offset 0x${first.length.toString(16)}: expected a frame magic (28 b5 2f fd), found efbeadde`);
  });

  it('the walk bounds the output: raw and RLE blocks by their sizes, the content size when smaller', () => {
    const path = file('bound.zst', Uint8Array.from([...MAGIC, 0x00, 0x00, ...blockHeader(false, 1, 1000), 0x41, ...hello]));
    const source = FileSource.open(path, 'zstd');
    try {
      expect(walkZstdFrames(source)).toEqual({ frames: 1, blocks: 2, outputBound: 1005n, window: 1024 });
    } finally {
      source.close();
    }
  });
});

describe.skipIf(lacks('zstd'))('zstd streams, decompressed by the system zstd', () => {
  it('a hand-built frame decompresses to what it holds (the builder writes real zstd)', async () => {
    const plain = await decompressToTemporary(file('hello.zst', singleSegmentFrame(5n, hello)), { name: 'zstd', command: 'zstd -d' });
    expect(readFileSync(plain, 'utf8')).toBe('hello');
  });

  it('a stream damaged inside a compressed block: one line at once, not 16 s', async () => {
    const text = join(dir, 'text');
    writeFileSync(text, Array.from({ length: 20_000 }, (_, i) => `line ${i * 7919 % 10007}\n`).join(''));
    execFileSync('zstd', ['-q', '-f', text, '-o', `${text}.zst`]);
    const bytes = readFileSync(`${text}.zst`);
    for (let i = 40; i < bytes.length - 8; i += 61) bytes[i]! ^= 0x5a;
    const { error, ms } = await refusal(file('damaged.zst', bytes));
    expect(error.message).toMatch(/^(Corrupt or unsupported zstd stream after \d+ bytes of output: |Corrupt zstd stream at offset 0x)/);
    expect(ms).toBeLessThan(3000);
  });

  it('without the zstd command: says what to install', async () => {
    const path = file('hello2.zst', singleSegmentFrame(5n, hello));
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      await expect(decompressToTemporary(path, { name: 'zstd', command: 'zstd -d' })).rejects.toThrow(/the `zstd` command is not installed \(Debian\/Ubuntu: apt-get install zstd\)/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe.skipIf(lacks('xz-utils'))('xz streams, decompressed by the system xz', () => {
  it('a damaged xz stream: one line at once', async () => {
    const text = join(dir, 'text-xz');
    writeFileSync(text, Array.from({ length: 20_000 }, (_, i) => `line ${i * 7919 % 10007}\n`).join(''));
    execFileSync('xz', ['-q', '-f', '-k', text]);
    const bytes = readFileSync(`${text}.xz`);
    for (let i = 64; i < bytes.length - 64; i += 61) bytes[i]! ^= 0x5a;
    const { error, ms } = await refusal(file('damaged.xz', bytes));
    expect(error.message).toMatch(/^Corrupt or unsupported xz stream after \d+ bytes of output: /);
    expect(ms).toBeLessThan(3000);
  });
});

describe.skipIf(lacks('xz-utils'))('xz output has a stated ceiling, read from the index before decompressing', () => {
  const core = 'test/fixtures/dumps/lldb/elf-core/linux-x86_64.core';
  const xzOf = (path: string): Uint8Array => execFileSync('xz', ['-q', '-c', '-T1', path]);

  it('the rewritten index is read by xz as the size it states (the builder writes real .xz)', () => {
    const path = file('claim-1000.xz', withClaimedSize(xzOf(core), 1000n));
    const totals = execFileSync('xz', ['--robot', '--list', path], { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('totals'))!;
    expect(totals.split('\t')[4]).toBe('1000');
  });

  it('an index stating more than the limit: one line at once, nothing decompressed', async () => {
    const claimed = DECOMPRESSED_LIMIT + 1n;
    const { error, ms } = await refusal(file('claim-32g.xz', withClaimedSize(xzOf(core), claimed)));
    expect(error.message).toBe(`The xz stream says it holds ${claimed} bytes, more than the 32 GiB faultline decompresses`);
    expect(ms).toBeLessThan(3000);
  });

  it('output past what the index states is stopped there, with that ceiling in the line', async () => {
    const holds = readFileSync(core).length;
    const { error } = await refusal(file('claim-less.xz', withClaimedSize(xzOf(core), 1000n)));
    expect(holds).toBeGreaterThan(1000);
    expect(error.message).toBe('Cannot decompress the xz stream: its output passed 1000 bytes, more than its index says it holds');
  });

  it('a damaged index: one line at once, before decompressing', async () => {
    const bytes = xzOf(core);
    bytes[bytes.length - 14]! ^= 0xff; // inside the index's CRC32
    const { error, ms } = await refusal(file('bad-index.xz', bytes));
    expect(error.message).toMatch(/^Corrupt xz stream \(its index cannot be read\): /);
    expect(ms).toBeLessThan(3000);
  });

  it('a sound xz core still opens', async () => {
    const dump = await openDump(file('sound.xz', xzOf(core)));
    expect(dump.threads.length).toBeGreaterThan(0);
  });
});
