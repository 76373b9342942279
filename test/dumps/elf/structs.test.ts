/**
 * Each struct reader at a non-zero offset, against bytes the builder lays
 * out by C's rules; a few field offsets pinned to the kernel's and readelf's
 * numbers.
 */
import { describe, expect, it } from 'vitest';
import { ByteReader } from '../../../src/dumps/binary/byte-reader.ts';
import { readElfHeader, readSectionHeader } from '../../../src/dumps/elf/elf-header.ts';
import { readProgramHeader } from '../../../src/dumps/elf/program-headers.ts';
import { prstatusLayout, readPrstatus } from '../../../src/dumps/elf/prstatus.ts';
import { readAuxv, readFileNote, readPrpsinfo, readSiginfo, readX86Tls } from '../../../src/dumps/elf/process-notes.ts';
import { readSymbolEntry } from '../../../src/dumps/elf/symbols.ts';
import { DumpFormatError } from '../../../src/dumps/errors.ts';
import {
  AARCH64_USER_REGS, I386_USER_REGS, X86_64_USER_REGS, auxv, buildElf, cStruct, concat, fileNote, prpsinfo, prstatusArm64, prstatusI386, prstatusX64, siginfo, symbolSections,
} from './core-builder.ts';

const LEAD = 0x1c; // every struct is read after this many unrelated bytes

function at(bytes: Uint8Array, what = 'struct'): ByteReader {
  const padded = concat([new Uint8Array(LEAD).fill(0xee), bytes]);
  return new ByteReader(padded, { path: 'mem', format: 'elf-core', base: 0x1000n, what });
}

/** Distinct register values keyed by the kernel's member names. */
function distinct(names: string[], base: bigint): Record<string, bigint> {
  return Object.fromEntries(names.map((n, i) => [n, base + BigInt(i) * 0x111n]));
}

describe('ELF structs', () => {
  it('reads Elf64_Ehdr and Elf32_Ehdr', () => {
    const core64 = buildElf({ bits: 64, machine: 183, segments: [{ vaddr: 0x1000n, data: new Uint8Array(4) }] });
    const h64 = readElfHeader(at(core64.subarray(0, 0x40)), LEAD);
    expect(h64).toMatchObject({ bits: 64, type: 4, machine: 183, phoff: 0x40n, phentsize: 56, phnum: 1 });
    const exe32 = buildElf({ bits: 32, machine: 3, type: 2, entry: 0x8048054n, segments: [] });
    const h32 = readElfHeader(at(exe32.subarray(0, 0x34)), LEAD);
    expect(h32).toMatchObject({ bits: 32, type: 2, machine: 3, entry: 0x8048054n, phoff: 0x34n, phentsize: 32, phnum: 0 });
  });

  it('names a file that is not ELF', () => {
    expect(() => readElfHeader(at(new TextEncoder().encode('MDMP....'.padEnd(0x40))), LEAD)).toThrow(DumpFormatError);
    expect(() => readElfHeader(at(new TextEncoder().encode('MDMP....'.padEnd(0x40))), LEAD)).toThrow(/Not an ELF file .*offset 0x101c/);
  });

  it('reads Elf64_Phdr and Elf32_Phdr, whose p_flags sit at 0x4 and 0x18', () => {
    const core64 = buildElf({ bits: 64, machine: 62, segments: [{ vaddr: 0x7ffe0000n, data: new Uint8Array(16), memsz: 0x2000n, flags: 5 }] });
    const p64 = readProgramHeader(at(core64.subarray(0x40, 0x40 + 56)), LEAD, 64, 0);
    expect(p64).toMatchObject({ type: 1, flags: 5, offset: 0x1000n, vaddr: 0x7ffe0000n, filesz: 16n, memsz: 0x2000n });
    expect(p64.headerOffset).toBe(0x1000n + BigInt(LEAD));
    const core32 = buildElf({ bits: 32, machine: 3, segments: [{ vaddr: 0xffe0a000n, data: new Uint8Array(8), flags: 6 }] });
    const p32 = readProgramHeader(at(core32.subarray(0x34, 0x34 + 32)), LEAD, 32, 0);
    expect(p32).toMatchObject({ type: 1, flags: 6, offset: 0x1000n, vaddr: 0xffe0a000n, filesz: 8n, memsz: 8n });
    expect(core32[0x34 + 0x18]).toBe(6);
  });

  it('reads section headers and symbols in both classes', () => {
    for (const bits of [32, 64] as const) {
      const [symtab] = symbolSections(bits, [{ name: 'main', value: 0x401126n, size: 0x20n }])!;
      const entrySize = bits === 64 ? 24 : 16;
      const sym = readSymbolEntry(at(symtab!.data.subarray(entrySize, 2 * entrySize)), LEAD, bits);
      expect(sym).toMatchObject({ name: 1, info: 0x12, shndx: 1, value: 0x401126n, size: 0x20n });
      const elf = buildElf({ bits, machine: 62, type: 2, segments: [], sections: symbolSections(bits, [{ name: 'main', value: 0x401126n, size: 0x20n }]) });
      const header = readElfHeader(at(elf.subarray(0, 0x40)), LEAD);
      const size = bits === 64 ? 64 : 40;
      const section = readSectionHeader(at(elf.subarray(Number(header.shoff) + size, Number(header.shoff) + 2 * size)), LEAD, bits);
      expect(section).toMatchObject({ type: 2, link: 2, size: BigInt(2 * entrySize), entsize: BigInt(entrySize) });
    }
  });
});

describe('core notes', () => {
  it('sizes elf_prstatus as readelf shows it: 0x90 (i386), 0x150 (x86-64), 0x188 (AArch64)', () => {
    // readelf -n on lldb's linux-i386.core and linux-x86_64.core: "NT_PRSTATUS 0x00000090" / "0x00000150";
    // on rizin's core-linux-arm64 (checked by hand): 0x00000188.
    expect(prstatusI386({ pid: 1, regs: {} }).desc.length).toBe(0x90);
    expect(prstatusX64({ pid: 1, regs: {} }).desc.length).toBe(0x150);
    expect(prstatusArm64({ pid: 1, regs: {} }).desc.length).toBe(0x188);
    expect(prstatusLayout(62, 64)!.minSize).toBeLessThanOrEqual(0x150);
  });

  it('reads x86-64 registers in user_regs_struct order', () => {
    const regs = distinct(X86_64_USER_REGS, 0x1000n);
    const status = readPrstatus(at(prstatusX64({ pid: 4242, signal: 11, code: 1, regs }).desc), LEAD, prstatusLayout(62, 64)!);
    expect(status).toMatchObject({ pid: 4242, signal: 11, code: 1, currentSignal: 11 });
    expect(status.registers).toMatchObject({
      r15: regs.r15, rbp: regs.bp, rax: regs.ax, rdi: regs.di, rip: regs.ip, efl: regs.flags, rsp: regs.sp,
      fs_base: regs.fs_base, gs_base: regs.gs_base,
    });
    // Selectors keep 16 bits.
    expect(status.registers.cs).toBe(regs.cs! & 0xffffn);
    expect(Object.keys(status.registers)).not.toContain('orig_ax');
  });

  it('reads i386 registers', () => {
    const regs = distinct(I386_USER_REGS, 0x80480c0n);
    const status = readPrstatus(at(prstatusI386({ pid: 32306, signal: 11, regs }).desc), LEAD, prstatusLayout(3, 32)!);
    expect(status.pid).toBe(32306);
    expect(status.registers).toMatchObject({ ebx: regs.bx, eax: regs.ax, eip: regs.ip, esp: regs.sp, ebp: regs.bp, efl: regs.flags });
  });

  it('reads AArch64 registers and keeps pstate bits 31-28 as nzcv', () => {
    const regs = distinct(AARCH64_USER_REGS, 0x5500000000n);
    regs.pstate = 0x6000_03c5n;
    const status = readPrstatus(at(prstatusArm64({ pid: 9, signal: 11, regs }).desc), LEAD, prstatusLayout(183, 64)!);
    expect(status.registers.x0).toBe(regs['regs[0]']);
    expect(status.registers.x30).toBe(regs['regs[30]']);
    expect(status.registers.sp).toBe(regs.sp);
    expect(status.registers.pc).toBe(regs.pc);
    expect(status.registers.nzcv).toBe(0x6000_0000n);
  });

  it('reads siginfo_t with si_addr at 0x10 (64-bit) and 0xc (32-bit)', () => {
    expect(readSiginfo(at(siginfo(64, 11, 1, 0xdeadbeef000n).desc), LEAD, 64)).toEqual({ signal: 11, errno: 0, code: 1, address: 0xdeadbeef000n });
    expect(readSiginfo(at(siginfo(32, 7, 2, 0xf00dn).desc), LEAD, 32)).toEqual({ signal: 7, errno: 0, code: 2, address: 0xf00dn });
    // Sent by a process (SI_TKILL -6): the union holds a pid, not an address.
    expect(readSiginfo(at(siginfo(64, 11, -6, 1234n).desc), LEAD, 64).address).toBeUndefined();
  });

  it('reads elf_prpsinfo of each size', () => {
    expect(readPrpsinfo(at(prpsinfo(64, 77, 'a.out', './a.out -v').desc), LEAD, 0x88)).toEqual({ pid: 77, name: 'a.out', args: './a.out -v' });
    expect(readPrpsinfo(at(prpsinfo(32, 78, 'crash32', './crash32').desc), LEAD, 0x7c)).toEqual({ pid: 78, name: 'crash32', args: './crash32' });
    expect(readPrpsinfo(at(prpsinfo(32, 79, 'x32', 'x32', false).desc), LEAD, 0x80)).toEqual({ pid: 79, name: 'x32', args: 'x32' });
    expect(readPrpsinfo(at(new Uint8Array(0x20)), LEAD, 0x20)).toBeUndefined();
  });

  it('reads auxv to AT_NULL and NT_FILE with its paths', () => {
    expect(readAuxv(at(auxv(64, [[6, 0x1000n], [9, 0x401000n]]).desc), LEAD, 64)).toEqual([{ type: 6, value: 0x1000n }, { type: 9, value: 0x401000n }]);
    const note = fileNote(32, 0x1000n, [
      { start: 0x8048000n, end: 0x8049000n, pageOffset: 0n, path: '/home/u/a.out' },
      { start: 0xf7d00000n, end: 0xf7e00000n, pageOffset: 3n, path: '/lib/libc.so.6' },
    ]);
    expect(readFileNote(at(note.desc), LEAD, 32)).toEqual({
      pageSize: 0x1000n,
      mappings: [
        { start: 0x8048000n, end: 0x8049000n, fileOffset: 0n, path: '/home/u/a.out' },
        { start: 0xf7d00000n, end: 0xf7e00000n, fileOffset: 0x3000n, path: '/lib/libc.so.6' },
      ],
    });
  });

  it('rejects an NT_FILE whose count does not fit, naming the offset', () => {
    const desc = cStruct(64, [['long', 0x1000_0000_0000n], ['long', 0x1000n]]).bytes;
    expect(() => readFileNote(at(desc, 'NT_FILE note'), LEAD, 64)).toThrow(/NT_FILE count 17592186044416 needs .* \(NT_FILE note at offset 0x101c\)/);
    const noNames = fileNote(64, 0x1000n, [{ start: 0n, end: 0x1000n, pageOffset: 0n, path: '' }]).desc.subarray(0, 40);
    expect(() => readFileNote(at(noNames), LEAD, 64)).toThrow(/1 mappings but only 0 paths/);
  });

  it('reads NT_386_TLS descriptors', () => {
    const desc = concat([cStruct(32, [['int', 12], ['int', 0xf7ed3540], ['int', 0xfffff], ['int', 0x51]]).bytes, cStruct(32, [['int', 13], ['int', 0], ['int', 0], ['int', 0x28]]).bytes]);
    expect(readX86Tls(at(desc), LEAD)).toEqual([{ entry: 12, base: 0xf7ed3540n }, { entry: 13, base: 0n }]);
  });
});
