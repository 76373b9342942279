/**
 * Bad input must be one DumpFormatError naming the segment or note and the
 * offset, quickly: truncated cores (every fixture cut at several lengths),
 * absurd counts and sizes, overlapping segments, compressed cores, files
 * that are not Linux cores of a supported ABI.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openElfCore } from '../../../src/dumps/elf/open-core.ts';
import { DumpFormatError } from '../../../src/dumps/errors.ts';
import { auxv, buildElf, concat, emptyNote, fileNote, pattern, prstatusArm64, prstatusX64, siginfo } from './core-builder.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-elf-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function write(bytes: Uint8Array): string {
  const path = join(dir, `case-${counter++}.core`);
  writeFileSync(path, bytes);
  return path;
}

function failure(bytes: Uint8Array): DumpFormatError {
  const path = write(bytes);
  try {
    openElfCore(path).close();
  } catch (error) {
    expect(error).toBeInstanceOf(DumpFormatError);
    expect((error as DumpFormatError).path).toBe(path);
    return error as DumpFormatError;
  }
  throw new Error('expected a DumpFormatError, got none');
}

const goodCore = buildElf({
  bits: 64, machine: 62,
  notes: [
    prstatusX64({ pid: 1, signal: 11, regs: { ip: 0x401000n } }),
    siginfo(64, 11, 1, 0n),
    auxv(64, [[9, 0x401000n]]),
    fileNote(64, 0x1000n, [{ start: 0x400000n, end: 0x401000n, pageOffset: 0n, path: '/bin/x' }]),
  ],
  segments: [{ vaddr: 0x400000n, data: pattern(0x1000), flags: 5 }, { vaddr: 0x7ff000n, data: pattern(0x800), flags: 6 }],
});

/** The end of the last segment's file data, read with readelf's meaning of the ELF64/ELF32 program header fields. */
function dataEnd(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const is64 = bytes[4] === 2;
  const phoff = is64 ? Number(view.getBigUint64(0x20, true)) : view.getUint32(0x1c, true);
  const phnum = view.getUint16(is64 ? 0x38 : 0x2c, true);
  let end = 0;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * (is64 ? 56 : 32);
    const offset = is64 ? Number(view.getBigUint64(at + 8, true)) : view.getUint32(at + 4, true);
    const filesz = is64 ? Number(view.getBigUint64(at + 32, true)) : view.getUint32(at + 16, true);
    end = Math.max(end, offset + filesz);
  }
  return end;
}

const FIXTURES = [
  'test/fixtures/dumps/lldb/elf-core/linux-x86_64.core',
  'test/fixtures/dumps/lldb/elf-core/linux-i386.core',
  'test/fixtures/dumps/lldb/elf-core/thread_crash/linux-i386.core',
  'test/fixtures/dumps/lldb/elf-core/gcore/linux-x86_64.core',
  'test/fixtures/dumps/faultline/qemu-aarch64/crash-aarch64.core',
];

describe('openElfCore on truncated cores', () => {
  for (const fixture of FIXTURES) {
    it(`fails cleanly for ${fixture.split('/').slice(-2).join('/')} cut anywhere`, () => {
      const bytes = new Uint8Array(readFileSync(fixture));
      const end = dataEnd(bytes);
      // Inside the header, the program headers, the notes, the first and last segment.
      const cuts = [0, 3, 0x20, 0x3f, 0x50, 0x100, 0x300, 0x900, 0x1001, end >> 1, end - 0x1000, end - 1];
      for (const cut of cuts) {
        const error = failure(bytes.subarray(0, cut));
        expect(error.message.length).toBeGreaterThan(0);
        // Every message says where: an offset, and what was read there.
        expect(error.message).toMatch(/offset 0x[0-9a-f]+|ELF header/);
        expect(['truncated', 'bad-magic', 'bad-field']).toContain(error.code);
      }
    });
  }

  it('reads nothing past the last segment (gdb puts section headers there)', () => {
    const bytes = new Uint8Array(readFileSync(FIXTURES[3]!));
    expect(dataEnd(bytes)).toBeLessThan(bytes.length);
    openElfCore(write(bytes.subarray(0, dataEnd(bytes)))).close();
  });

  it('names the segment that runs past the end, with its header offset', () => {
    const error = failure(goodCore.subarray(0, goodCore.length - 1));
    expect(error.message).toBe('PT_LOAD #2 (header at offset 0xb0): file data 0x2000+0x800 runs past the end of the file (10239 bytes)');
    expect(error).toMatchObject({ code: 'truncated', offset: 0xb0n });
  });

  it('names the note segment that runs past the end', () => {
    const noteEnd = 0x40 + 3 * 56 + 40;
    const error = failure(goodCore.subarray(0, noteEnd));
    expect(error.message).toMatch(/^PT_NOTE #0 \(header at offset 0x40\): notes 0xe8\+0x[0-9a-f]+ run past the end of the file/);
    expect(error.code).toBe('truncated');
  });
});

describe('openElfCore on malformed cores', () => {
  it('rejects an absurd e_phnum without allocating for it', () => {
    const error = failure(buildElf({ bits: 64, machine: 62, notes: [], segments: [], phnumOverride: 0xfffe }));
    expect(error.message).toMatch(/^The program header table \(e_phnum 65534 × 56 bytes at offset 0x40\) runs past the end of the file/);
  });

  it('rejects PN_XNUM without a section header 0', () => {
    expect(failure(buildElf({ bits: 64, machine: 62, segments: [], phnumOverride: 0xffff })).message).toMatch(/PN_XNUM .* no section header 0/);
  });

  it('rejects a note descriptor past its segment, naming the note', () => {
    const tail = concat([Uint8Array.of(5, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0x45, 0x4c, 0x49, 0x46), new TextEncoder().encode('CORE\0\0\0\0')]);
    const error = failure(buildElf({ bits: 64, machine: 62, notes: [prstatusX64({ pid: 1, regs: {} })], noteTail: tail, segments: [] }));
    expect(error.message).toMatch(/^Note #1 \(type 0x46494c45\): its descriptor \(n_descsz 0x7fffffff\) runs past the end of PT_NOTE #0/);
    expect(error.offset).toBe(BigInt(0x40 + 56 + 12 + 8 + 0x150));
  });

  it('rejects an NT_PRSTATUS too small for the registers', () => {
    const error = failure(buildElf({ bits: 64, machine: 183, notes: [emptyNote('CORE', 1, 0x100)], segments: [] }));
    expect(error.message).toMatch(/^NT_PRSTATUS is 0x100 bytes, too small for AArch64 registers \(0x180\) \(NT_PRSTATUS note at offset 0x/);
  });

  it('rejects an NT_FILE whose count does not fit', () => {
    const bad = fileNote(64, 0x1000n, []);
    new DataView(bad.desc.buffer).setBigUint64(0, 1n << 40n, true);
    expect(failure(buildElf({ bits: 64, machine: 62, notes: [prstatusX64({ pid: 1, regs: {} }), bad], segments: [] })).message)
      .toMatch(/^NT_FILE count 1099511627776 needs .* \(NT_FILE note at offset 0x/);
  });

  it('rejects overlapping PT_LOADs, naming both', () => {
    const error = failure(buildElf({
      bits: 64, machine: 62, notes: [prstatusArm64({ pid: 1, regs: {} })],
      segments: [{ vaddr: 0x10000n, data: pattern(0x2000) }, { vaddr: 0x11000n, data: pattern(0x1000) }],
    }));
    expect(error.message).toBe('PT_LOAD #2 (header at offset 0xb0): memory 0x11000+0x1000 overlaps PT_LOAD #1 (0x10000+0x2000)');
    expect(error.code).toBe('conflict');
  });

  it('rejects p_filesz > p_memsz, data offsets past the end, and segments that wrap', () => {
    expect(failure(buildElf({ bits: 64, machine: 62, segments: [{ vaddr: 0x1000n, data: pattern(0x100), memsz: 0x10n }] })).message)
      .toMatch(/PT_LOAD #0 .*p_filesz 0x100 exceeds p_memsz 0x10/);
    expect(failure(buildElf({ bits: 64, machine: 62, segments: [{ vaddr: 0x1000n, data: pattern(0x100), offsetOverride: 1n << 60n }] })).message)
      .toMatch(/PT_LOAD #0 .*file data 0x1000000000000000\+0x100 runs past the end of the file/);
    expect(failure(buildElf({ bits: 32, machine: 3, segments: [{ vaddr: 0xfffff000n, data: pattern(0x10), memsz: 0x2000n }] })).message)
      .toMatch(/memory 0xfffff000\+0x2000 runs past the end of the 32-bit address space/);
  });

  it('says which decompressor to run for a compressed core', () => {
    const zstd = failure(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00, 0x01, 0x02));
    expect(zstd.message).toBe('The core is compressed with zstd: decompress it with `zstd -d` first');
    expect(zstd.code).toBe('unsupported');
    expect(failure(Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4)).message).toMatch(/compressed with xz: decompress it with `xz -d`/);
    expect(failure(Uint8Array.of(0x04, 0x22, 0x4d, 0x18, 0x64, 0x40)).message).toMatch(/compressed with lz4: decompress it with `lz4 -d`/);
  });

  it('rejects files that are not Linux cores faultline reads', () => {
    expect(failure(new TextEncoder().encode('hello, world\n'.repeat(8))).code).toBe('bad-magic');
    expect(failure(buildElf({ bits: 64, machine: 62, type: 2, segments: [] })).message).toBe('Not a core file: e_type is ET_EXEC');
    expect(failure(buildElf({ bits: 32, machine: 40, segments: [] })).message).toMatch(/^Unsupported core: e_machine 40 in an ELFCLASS32 file/);
    expect(failure(buildElf({ bits: 64, machine: 62, osabi: 9, segments: [] })).message).toMatch(/FreeBSD cores are not supported/);
    expect(failure(buildElf({ bits: 64, machine: 62, notes: [emptyNote('NetBSD-CORE', 1, 8)], segments: [] })).message).toMatch(/^NetBSD cores are not supported/);
  });

  it('reports a missing file as a DumpFormatError with code io', () => {
    expect(() => openElfCore(join(dir, 'absent.core'))).toThrow(expect.objectContaining({ code: 'io' }));
  });
});
