/**
 * The xz index reader (src/dumps/xz-index.ts) against the real `xz --robot
 * --list`: the same size for files made by the real `xz` (one block, many
 * blocks, several streams, stream padding), and the same verdict (read, or
 * refused) for every byte of a file's last 64 bytes flipped and for every
 * truncation of its tail, where the stream footer, index and padding are.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/dumps/binary/file-source.ts';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { xzIndexedSize } from '../../src/dumps/xz-index.ts';
import { lacks } from '../helpers/system.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-xz-index-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CORE = 'test/fixtures/dumps/lldb/elf-core/linux-x86_64.core';

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** What `xz --robot --list` says `path` holds, or undefined when it refuses the file. */
function listed(path: string): bigint | undefined {
  const run = spawnSync('xz', ['--robot', '--list', '--', path], { encoding: 'utf8' });
  const size = run.stdout.split('\n').find((line) => line.startsWith('totals\t'))?.split('\t')[4];
  return run.status === 0 && size !== undefined ? BigInt(size) : undefined;
}

/** What the reader says `path` holds, or undefined when it refuses the file (with a DumpFormatError). */
function indexed(path: string): bigint | undefined {
  const source = FileSource.open(path, 'xz');
  try {
    return xzIndexedSize(source);
  } catch (error) {
    expect(error).toBeInstanceOf(DumpFormatError);
    expect((error as Error).message).toMatch(/^Corrupt xz stream \(its index cannot be read\): .+ at offset 0x[0-9a-f]+$/);
    return undefined;
  } finally {
    source.close();
  }
}

describe.skipIf(lacks('xz-utils'))('the xz index, read in process and by xz --list', () => {
  const xz = (args: string[], input: Uint8Array): Uint8Array => execFileSync('xz', ['-q', '-c', ...args], { input });

  it('the same size for one block, many blocks, several streams and stream padding', () => {
    const core = readFileSync(CORE);
    const text = Buffer.from(Array.from({ length: 30_000 }, (_, i) => `line ${i * 7919 % 10007}\n`).join(''));
    const files = {
      'one-block.xz': xz(['-T1'], core),
      'blocks.xz': xz(['-T1', '--block-size=4096'], core),
      'crc64.xz': xz(['-T1', '--check=crc64', '--block-size=10000'], text),
      'none.xz': xz(['-T1', '--check=none'], text),
      'streams.xz': Buffer.concat([xz(['-T1'], core), xz(['-T1', '--block-size=5000'], text)]),
      'padded.xz': Buffer.concat([xz(['-T1'], core), Buffer.alloc(8), xz(['-T1'], text), Buffer.alloc(4)]),
      'empty.xz': xz(['-T1'], new Uint8Array()),
    };
    for (const [name, bytes] of Object.entries(files)) {
      const path = file(name, bytes);
      const expected = listed(path);
      expect(expected, name).toBeDefined();
      expect(indexed(path), name).toBe(expected);
    }
    expect(listed(join(dir, 'streams.xz'))).toBe(BigInt(core.length + text.length));
  });

  it('the same verdict for each of the last 64 bytes flipped and for each tail cut off', () => {
    const bytes = xz(['-T1', '--block-size=2048'], readFileSync(CORE));
    let refused = 0;
    for (let back = 1; back <= 64; back++) {
      const flipped = Uint8Array.from(bytes);
      flipped[bytes.length - back]! ^= 0x41;
      const path = file(`flip-${back}.xz`, flipped);
      const verdict = indexed(path);
      expect(verdict, `byte ${bytes.length - back} flipped`).toBe(listed(path));
      if (verdict === undefined) refused++;
      const cut = file(`cut-${back}.xz`, bytes.subarray(0, bytes.length - back));
      expect(indexed(cut), `${back} bytes cut`).toBe(listed(cut));
    }
    expect(refused).toBeGreaterThan(32);
  });
});
