/**
 * Cores compressed as systemd-coredump stores them: zstd and xz open like
 * the plain core; lz4 and damaged streams give one clear error.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDump } from '../../src/dumps/open.ts';
import { removeDecompressed } from '../../src/dumps/decompress.ts';
import { DumpFormatError } from '../../src/dumps/errors.ts';
import { makeCrashCore } from '../helpers/crash-programs.ts';
import { lacks, toolchainMissing } from '../helpers/system.ts';

let dir: string;
let core: string;
let binary: string;

/** The package and the command that compress `file` into `file.SUFFIX`. */
const COMPRESSORS = {
  zst: { package: 'zstd', argv: (file: string) => ['zstd', '-q', '-f', file, '-o', `${file}.zst`] },
  xz: { package: 'xz-utils', argv: (file: string) => ['xz', '-q', '-k', '-f', file] },
  lz4: { package: 'lz4', argv: (file: string) => ['lz4', '-q', '-f', file, `${file}.lz4`] },
} as const;

/** `core` compressed as `suffix` says (made on first use). */
function compressed(suffix: keyof typeof COMPRESSORS): string {
  const path = `${core}.${suffix}`;
  if (!existsSync(path)) {
    const [command, ...args] = COMPRESSORS[suffix].argv(core);
    execFileSync(command!, args, { stdio: 'pipe' });
  }
  return path;
}

describe.skipIf(toolchainMissing('x64').length > 0)('compressed cores', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-compressed-'));
    ({ core, binary } = await makeCrashCore('x64', 'software', dir));
  });
  afterAll(() => {
    // The decompressed cores: the module removes them on 'exit', which a vitest worker thread never emits.
    removeDecompressed();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const suffix of ['zst', 'xz'] as const) {
    it.skipIf(lacks(COMPRESSORS[suffix].package))(`${suffix}: opens with the same threads and registers as the plain core`, async () => {
      const plain = await openDump(core, { binaries: [binary] });
      const packed = await openDump(compressed(suffix), { binaries: [binary] });
      expect(packed.format).toBe('elf-core');
      expect(packed.threads[0]!.contexts[0]!.registers).toEqual(plain.threads[0]!.contexts[0]!.registers);
      expect(packed.notes[0]?.message).toBe(`decompressed from ${core}.${suffix}`);
    });
  }

  it.skipIf(lacks(COMPRESSORS.lz4.package))('lz4: refused with the command that decompresses it', async () => {
    await expect(openDump(compressed('lz4'))).rejects.toThrow('The file is compressed with lz4: decompress it with `lz4 -d` first');
  });

  it.skipIf(lacks(COMPRESSORS.zst.package))('a damaged zstd stream is a DumpFormatError, not a crash', async () => {
    const bytes = readFileSync(compressed('zst'));
    const damaged = join(dir, 'damaged.zst');
    writeFileSync(damaged, Buffer.concat([bytes.subarray(0, 64), Buffer.alloc(256, 0xff)]));
    await expect(openDump(damaged)).rejects.toBeInstanceOf(DumpFormatError);
  });
});
