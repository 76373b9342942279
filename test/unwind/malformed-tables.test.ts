/**
 * A malformed `.eh_frame_hdr` or FDE gives a note and frames found another
 * way, never an error: a real x64 core (gcc -O0, frame pointers kept) read
 * with a copy of its program whose unwind tables were damaged. The core
 * leaves the program's read-only pages out, so they come from the copy.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openElfCore } from '../../src/dumps/elf/open-core.ts';
import { frameSymbol } from '../../src/unwind/frame-symbol.ts';
import { walkStack } from '../../src/unwind/walk.ts';
import { coreDumpBlocked, crashCore } from '../helpers/backtrace-programs.ts';
import { lacks, toolchainMissing } from '../helpers/system.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-badcfi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** File offset and size of section `name`, from readelf. */
function section(binary: string, name: string): { offset: number; size: number } {
  const line = execFileSync('readelf', ['-SW', binary], { encoding: 'utf8' }).split('\n').find((l) => l.includes(` ${name} `))!;
  const fields = line.slice(line.indexOf(name) + name.length).trim().split(/\s+/);
  return { offset: parseInt(fields[2]!, 16), size: parseInt(fields[3]!, 16) };
}

/** A copy of `binary` with `patch` applied to its bytes. */
function damaged(binary: string, name: string, patch: (bytes: Uint8Array) => void): string {
  // The same file name in another directory, so it is matched to the mapped program before the original.
  mkdirSync(join(dir, name), { recursive: true });
  const copy = join(dir, name, basename(binary));
  copyFileSync(binary, copy);
  const bytes = new Uint8Array(readFileSync(copy));
  patch(bytes);
  writeFileSync(copy, bytes);
  return copy;
}

describe.skipIf(toolchainMissing('x64').length > 0 || lacks('binutils') || coreDumpBlocked() !== undefined)('malformed unwind tables', () => {
  const cases: Array<[string, (binary: string) => (bytes: Uint8Array) => void, RegExp]> = [
    ['an .eh_frame_hdr of version 7', (b) => (bytes) => { bytes[section(b, '.eh_frame_hdr').offset] = 7; }, /unwind tables of .* are unusable \(The \.eh_frame_hdr .* has version 7/],
    ['FDEs whose CFA programs hold an unknown instruction', (b) => (bytes) => {
      // Every byte after each CIE/FDE header becomes 0x3f, an opcode DWARF does not define.
      const { offset, size } = section(b, '.eh_frame');
      for (let i = offset + 0x20; i < offset + size - 4; i++) bytes[i] = 0x3f;
    }, /CFI of .* is unusable|unwind tables of .* are unusable/],
  ];
  for (const [what, patch, note] of cases) {
    it(`${what}: a note, and the program's frames by frame pointer`, async () => {
      const run = crashCore('x64', 'O0', 'divide', dir);
      const copy = damaged(run.binary, `bt-x64-O0-${what.length}`, patch(run.binary));
      const dump = openElfCore(run.core, { binaries: [copy] });
      try {
        const walk = await walkStack(dump, dump.threads[0]!.contexts[0]!);
        expect(walk.notes.join('\n')).toMatch(note);
        const names = walk.frames.map((f) => frameSymbol(dump, f)?.symbol);
        expect(names.slice(0, 4)).toEqual(['divide', 'level2', 'level1', 'main']);
        expect(walk.frames.slice(1, 4).map((f) => f.trust)).toEqual(['frame-pointer', 'frame-pointer', 'frame-pointer']);
      } finally {
        dump.close();
      }
    }, 60_000);
  }
});
