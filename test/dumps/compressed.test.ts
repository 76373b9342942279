/**
 * Cores compressed as systemd-coredump stores them: zstd and xz open like
 * the plain core; lz4 and damaged streams give one clear error.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDump } from '../../src/dumps/open.ts';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { makeCrashCore } from '../helpers/crash-programs.ts';

let dir: string;
let core: string;
let binary: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'faultline-compressed-'));
  ({ core, binary } = makeCrashCore('x64', 'software', dir));
  execFileSync('zstd', ['-q', '-f', core, '-o', `${core}.zst`]);
  writeFileSync(`${core}.xz`, execFileSync('xz', ['-c', core], { maxBuffer: 1 << 28 }));
  execFileSync('lz4', ['-q', '-f', core, `${core}.lz4`]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compressed cores', () => {
  for (const suffix of ['zst', 'xz']) {
    it(`${suffix}: opens with the same threads and registers as the plain core`, async () => {
      const plain = await openDump(core, { binaries: [binary] });
      const packed = await openDump(`${core}.${suffix}`, { binaries: [binary] });
      expect(packed.format).toBe('elf-core');
      expect(packed.threads[0]!.contexts[0]!.registers).toEqual(plain.threads[0]!.contexts[0]!.registers);
      expect(packed.notes[0]?.message).toBe(`decompressed from ${core}.${suffix}`);
    });
  }

  it('lz4: refused with the command that decompresses it', async () => {
    await expect(openDump(`${core}.lz4`)).rejects.toThrow('The file is compressed with lz4: decompress it with `lz4 -d` first');
  });

  it('a damaged zstd stream is a DumpFormatError, not a crash', async () => {
    const bytes = readFileSync(`${core}.zst`);
    const damaged = join(dir, 'damaged.zst');
    writeFileSync(damaged, Buffer.concat([bytes.subarray(0, 64), Buffer.alloc(256, 0xff)]));
    await expect(openDump(damaged)).rejects.toBeInstanceOf(DumpFormatError);
  });
});
