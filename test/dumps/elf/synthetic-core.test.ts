/**
 * openElfCore on cores the builder makes: registers, fault, threads and
 * thread pointers in the three ABIs; pages filled from executables found by
 * name, by entry point, or without NT_FILE; PIE load bias for symbols; files
 * that differ from the core; lazy opening of a large sparse core.
 */
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openElfCore, type ElfCoreDump } from '../../../src/dumps/elf/open-core.ts';
import {
  auxv, buildElf, emptyNote, fileNote, pattern, prpsinfo, prstatusArm64, prstatusI386, prstatusX64, siginfo, symbolSections, concat, cStruct,
} from './core-builder.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-elf-synthetic-'));
const opened: ElfCoreDump[] = [];
afterAll(() => {
  opened.forEach((d) => d.close());
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function open(path: string, options = {}): ElfCoreDump {
  const dump = openElfCore(path, options);
  opened.push(dump);
  return dump;
}

const AT_PAGESZ = 6;
const AT_ENTRY = 9;
const CODE = pattern(0x1000, 0x31);
const STACK = pattern(0x2000, 0x90);

/**
 * A small x86-64 executable based at `vaddr`: one text segment (file offset
 * 0x1000 at `vaddr` + 0x1000) holding CODE, symbols, and a GNU build id
 * note in its first page when `buildId` is given.
 */
function executable(type: 2 | 3, vaddr: bigint, entry: bigint, bits: 32 | 64 = 64, machine = 62, buildId?: Uint8Array): Uint8Array {
  return buildElf({
    bits, machine, type, entry,
    ...(buildId ? { notes: [{ name: 'GNU', type: 3, desc: buildId }] } : {}),
    segments: [{ vaddr: vaddr + 0x1000n, data: CODE, flags: 5 }],
    sections: symbolSections(bits, [
      { name: '_start', value: entry, size: 0x10n },
      { name: 'crash_here', value: vaddr + 0x1000n + 0x120n, size: 0x40n },
      { name: 'table', value: vaddr + 0x1000n + 0x800n, size: 0x100n, type: 1 },
    ]),
  });
}

/**
 * An x86-64 core of a process that mapped `exePath` at 0x400000 (file offset
 * 0x1000 = the text PT_LOAD of `executable`), without its code, and crashed
 * at 0x401124 reading 0x10.
 */
function x64Core(exePath: string, options: { withFile?: boolean; headerPage?: Uint8Array; code?: Uint8Array } = {}): Uint8Array {
  const withFile = options.withFile ?? true;
  return buildElf({
    bits: 64, machine: 62,
    notes: [
      prstatusX64({ pid: 4242, signal: 11, regs: { ip: 0x401124n, sp: 0x7ffe0000f00n, ax: 0x10n, fs_base: 0x7f0000001000n, cs: 0x33n, flags: 0x10246n } }),
      prpsinfo(64, 4242, 'app', './app --crash'),
      siginfo(64, 11, 1, 0x10n),
      auxv(64, [[AT_PAGESZ, 0x1000n], [AT_ENTRY, 0x401000n]]),
      ...(withFile ? [fileNote(64, 0x1000n, [{ start: 0x400000n, end: 0x402000n, pageOffset: 0n, path: exePath }])] : []),
      emptyNote('CORE', 2, 0x200),
      emptyNote('LINUX', 0x202, 0x340),
      prstatusX64({ pid: 4243, regs: { ip: 0x401100n, sp: 0x7ffe0000800n } }),
      emptyNote('CORE', 2, 0x200),
    ],
    segments: [
      options.headerPage ? { vaddr: 0x400000n, data: options.headerPage, flags: 4 } : { vaddr: 0x400000n, memsz: 0x1000n, flags: 4 },
      options.code ? { vaddr: 0x401000n, data: options.code, memsz: 0x1000n, flags: 5 } : { vaddr: 0x401000n, memsz: 0x1000n, flags: 5 },
      { vaddr: 0x7ffe0000000n, data: STACK, flags: 6 },
    ],
  });
}

describe('openElfCore on synthetic cores', () => {
  it('reads an x86-64 core: threads, registers, fault, process, regsets', () => {
    const dump = open(write('x64.core', x64Core('/nonexistent/build/app')));
    expect(dump).toMatchObject({ format: 'elf-core', arch: 'x64', os: 'linux' });
    expect(dump.threads.map((t) => t.id)).toEqual([4242, 4243]);
    expect(dump.threads[0]!.contexts[0]!.registers).toMatchObject({ rip: 0x401124n, rsp: 0x7ffe0000f00n, rax: 0x10n, fs_base: 0x7f0000001000n, cs: 0x33n, efl: 0x10246n });
    expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, code: 1, address: 0x10n, threadId: 4242, provenance: { source: 'NT_SIGINFO' } });
    expect(dump.elf).toMatchObject({ bits: 64, abi: 'x86-64', pid: 4242, processName: 'app', commandLine: './app --crash' });
    expect(dump.elf.regsets).toEqual([['NT_FPREGSET', 'NT_X86_XSTATE'], ['NT_FPREGSET']]);
    expect(dump.modules).toEqual([{ name: 'app', base: 0x400000n, size: 0x2000n, path: '/nonexistent/build/app' }]);
  });

  it('reads stack bytes from the core and reports the code it leaves out', () => {
    const dump = open(write('x64-missing.core', x64Core('/nonexistent/build/app')));
    expect(dump.files).toEqual([]);
    expect(dump.memory.read(0x7ffe0000010n, 4)).toEqual(STACK.subarray(0x10, 0x14));
    expect(dump.memory.provenanceOf(0x7ffe0000010n)).toMatchObject({ source: 'PT_LOAD #3' });
    expect(dump.memory.read(0x401124n, 4)).toBeUndefined();
    expect(dump.memory.read(0x7ffe0001ffen, 4)).toBeUndefined(); // runs off the segment
    expect(dump.memory.readPartial!(0x7ffe0001ffen, 4).known).toEqual(Uint8Array.of(1, 1, 0, 0));
    expect(dump.elf.missing).toEqual([
      { start: 0x400000n, end: 0x401000n, path: '/nonexistent/build/app', reason: 'file-not-found' },
      { start: 0x401000n, end: 0x402000n, path: '/nonexistent/build/app', reason: 'file-not-found' },
    ]);
    expect(dump.notes.map((n) => n.message)).toContain(
      "8.0 KiB the core leaves out stayed missing, /nonexistent/build/app was not found or not the same build (give it with --binary or --sysroot; --sysroot / uses this machine's own files): 0x400000-0x401000, 0x401000-0x402000",
    );
    expect(dump.symbols.format(0x401124n)).toBe('app+0x1124');
  });

  it('fills the code from a binary given by path, matched by basename, and names symbols', () => {
    const bytes = executable(2, 0x400000n, 0x401000n);
    const exe = write('app', bytes);
    // Without a build id, the ELF header page the core holds is what shows the file is the same build.
    const dump = open(write('x64-fill.core', x64Core('/nonexistent/build/app', { headerPage: bytes.subarray(0, 0x1000) })), { binaries: [exe] });
    // The text PT_LOAD is at file offset 0x1000 and vaddr 0x401000; NT_FILE maps file offset 0 at 0x400000.
    expect(dump.memory.read(0x401124n, 8)).toEqual(CODE.subarray(0x124, 0x12c));
    // Provenance names the file and where the piece holding the byte starts in it.
    expect(dump.memory.provenanceOf(0x401124n)).toEqual({ source: exe, offset: 0x1000n, file: { path: exe, checkedBy: 'bytes' } });
    expect(dump.memory.provenanceOf(0x400000n)).toEqual({ source: 'PT_LOAD #1', offset: 0x1000n });
    expect(dump.files).toEqual([{ file: exe, for: '/nonexistent/build/app', used: true, host: false,
      message: `${exe} (for /nonexistent/build/app) fills what the core leaves out of app: the core holds no build id for it, and the 4096 bytes it holds of it agree` }]);
    expect(dump.memory.ranges().map((r) => [r.start, r.end, r.kind])).toEqual([
      [0x400000n, 0x401000n, 'data'], [0x401000n, 0x402000n, 'code'], [0x7ffe0000000n, 0x7ffe0002000n, 'data'],
    ]);
    expect(dump.elf.missing).toEqual([]);
    expect(dump.elf.files).toEqual([{ path: '/nonexistent/build/app', foundAt: exe, how: 'binaries' }]);
    // Symbols are at link-time addresses + 0 (ET_EXEC): crash_here = 0x400000 + 0x1000 + 0x120.
    expect(dump.symbols.format(0x401124n)).toBe('app!crash_here+0x4');
    expect(dump.symbols.format(0x401800n)).toBe('app!table');
    expect(dump.symbols.resolve('app!crash_here')).toBe(0x401120n);
  });

  it('finds a file under sysroot', () => {
    const sysroot = join(dir, 'sysroot');
    const exe = executable(2, 0x400000n, 0x401000n);
    mkdirSync(join(sysroot, 'opt/app'), { recursive: true });
    writeFileSync(join(sysroot, 'opt/app/server'), exe);
    const dump = open(write('x64-sysroot.core', x64Core('/opt/app/server', { headerPage: exe.subarray(0, 0x1000) })), { sysroot });
    expect(dump.elf.files).toEqual([{ path: '/opt/app/server', foundAt: join(sysroot, 'opt/app/server'), how: 'sysroot' }]);
    expect(dump.symbols.format(0x401124n)).toBe('server!crash_here+0x4');
  });

  it('refuses a binary whose bytes differ from the header page the core holds', () => {
    const exe = write('app2', executable(2, 0x400000n, 0x401000n));
    const other = pattern(0x1000, 0x77);
    const dump = open(write('x64-mismatch.core', x64Core('/build/app2', { headerPage: other })), { binaries: [exe] });
    expect(dump.memory.read(0x401124n, 4)).toBeUndefined();
    // Most of the header page differs (the first byte is the ELF magic's 0x7f against the pattern's 0x77).
    expect(dump.notes.map((n) => n.message)).toContainEqual(expect.stringMatching(new RegExp(`^${exe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(for /build/app2\\): \\d{4} of the 4096 bytes the dump holds in its ELF header page and code differ from the file's, the first at 00400000, not used$`)));
    expect(dump.elf.files).toEqual([{ path: '/build/app2' }]);
  });

  it('uses a file whose build id is the one the core holds in its header page, and refuses another build', () => {
    const id = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);
    const bytes = executable(2, 0x400000n, 0x401000n, 64, 62, id);
    const exe = write('app3', bytes);
    const core = write('x64-buildid.core', x64Core('/build/app3', { headerPage: bytes.subarray(0, 0x1000) }));
    const dump = open(core, { binaries: [exe] });
    const hexId = Buffer.from(id).toString('hex');
    expect(dump.memory.read(0x401124n, 8)).toEqual(CODE.subarray(0x124, 0x12c));
    expect(dump.memory.provenanceOf(0x401124n)).toEqual({ source: exe, offset: 0x1000n, file: { path: exe, checkedBy: 'build id', buildId: hexId } });
    expect(dump.elf.files).toEqual([{ path: '/build/app3', foundAt: exe, how: 'binaries', buildId: hexId }]);
    // A rebuild: same code, another build id. The code bytes agree, the id does not: not used.
    const otherId = id.map((b) => b ^ 0xff);
    const rebuilt = join(dir, 'rebuilt');
    mkdirSync(rebuilt, { recursive: true });
    writeFileSync(join(rebuilt, 'app3'), executable(2, 0x400000n, 0x401000n, 64, 62, otherId));
    const refused = open(core, { binaries: [join(rebuilt, 'app3')] });
    expect(refused.memory.read(0x401124n, 1)).toBeUndefined();
    const line = `${join(rebuilt, 'app3')} (for /build/app3): build id ${Buffer.from(otherId).toString('hex')} ≠ core's ${hexId}, not used`;
    expect(refused.files).toEqual([{ file: join(rebuilt, 'app3'), for: '/build/app3', used: false, host: false, message: line }]);
    expect(refused.notes).toContainEqual({ level: 'warning', message: line });
  });

  it('takes a differently named binary for the executable when its entry point matches AT_ENTRY', () => {
    const bytes = executable(2, 0x400000n, 0x401000n);
    const exe = write('my-build', bytes);
    const dump = open(write('x64-entry.core', x64Core('/home/someone/a.out', { headerPage: bytes.subarray(0, 0x1000) })), { binaries: [exe] });
    expect(dump.elf.files).toEqual([{ path: '/home/someone/a.out', foundAt: exe, how: 'entry' }]);
    expect(dump.symbols.format(0x401124n)).toBe('a.out!crash_here+0x4');
    const wrong = write('other-build', executable(2, 0x400000n, 0x401010n));
    const refused = open(write('x64-entry2.core', x64Core('/home/someone/a.out')), { binaries: [wrong] });
    expect(refused.elf.files).toEqual([{ path: '/home/someone/a.out' }]);
    expect(refused.notes.map((n) => n.message)).toContain(`${wrong} matches no mapped file by name, and its entry point does not match the core's AT_ENTRY 0x401000: not used`);
  });

  it('maps the executable from its own headers when the core has no NT_FILE (QEMU, old kernels)', () => {
    const exe = write('qemu-app', executable(2, 0x400000n, 0x401000n));
    // The file's only PT_LOAD starts at offset 0x1000: no header page to hold, so the check is the code the core holds.
    const held = x64Core('unused', { withFile: false, code: CODE.subarray(0, 0x100) });
    const dump = open(write('x64-nofile.core', held), { binaries: [exe] });
    expect(dump.memory.provenanceOf(0x401124n)).toMatchObject({ source: exe, file: { path: exe, checkedBy: 'bytes' } });
    const bare = open(write('x64-nofile-bare.core', x64Core('unused', { withFile: false })), { binaries: [exe] });
    // A core that holds nothing of the file (qemu-user's: no NT_FILE, no page of the executable) cannot refute it:
    // the file the user named is used, marked unchecked, with a warning.
    expect(bare.memory.provenanceOf(0x401124n)).toMatchObject({ source: exe, file: { path: exe, checkedBy: 'named' } });
    expect(bare.notes.find((n) => n.message.startsWith(`${exe} fills what the core leaves out`))).toMatchObject({ level: 'warning', message: expect.stringMatching(/unchecked: the core holds neither a build id nor any of its bytes/) });
    expect(dump.memory.read(0x401124n, 8)).toEqual(CODE.subarray(0x124, 0x12c));
    expect(dump.modules).toEqual([{ name: 'qemu-app', base: 0x401000n, size: 0x1000n, path: exe }]);
    expect(dump.symbols.format(0x401124n)).toBe('qemu-app!crash_here+0x4');
  });

  it('applies the load bias of a PIE to its symbols', () => {
    // ET_DYN linked at 0: text PT_LOAD at vaddr 0 (file offset 0x1000); mapped at 0x555555554000.
    const exe = write('pie', buildElf({
      bits: 64, machine: 62, type: 3, entry: 0x40n,
      segments: [{ vaddr: 0x1000n, data: CODE, flags: 5 }],
      sections: symbolSections(64, [{ name: 'main', value: 0x1130n, size: 0x30n }]),
    }));
    const core = buildElf({
      bits: 64, machine: 62,
      notes: [
        prstatusX64({ pid: 5, signal: 11, regs: { ip: 0x555555555137n } }),
        auxv(64, [[AT_ENTRY, 0x555555554040n]]),
        fileNote(64, 0x1000n, [{ start: 0x555555555000n, end: 0x555555556000n, pageOffset: 1n, path: '/srv/pie' }]),
      ],
      segments: [{ vaddr: 0x555555555000n, data: CODE.subarray(0, 0x100), memsz: 0x1000n, flags: 5 }],
    });
    const dump = open(write('pie.core', core), { binaries: [exe] });
    expect(dump.symbols.format(0x555555555137n)).toBe('pie!main+0x7');
    expect(dump.memory.read(0x555555555137n, 2)).toEqual(CODE.subarray(0x137, 0x139));
  });

  it('reads zeros past the end of a mapped file up to the page end, and no further', () => {
    const short = write('short.so', pattern(0x1800, 3));
    const core = buildElf({
      bits: 64, machine: 62,
      notes: [prstatusX64({ pid: 5, regs: {} }), fileNote(64, 0x1000n, [{ start: 0x10000n, end: 0x13000n, pageOffset: 0n, path: '/lib/short.so' }])],
      segments: [{ vaddr: 0x10000n, data: pattern(0x1800, 3).subarray(0, 0x1000), memsz: 0x3000n, flags: 4 }],
    });
    const dump = open(write('short.core', core), { binaries: [short] });
    expect(dump.memory.read(0x117fen, 4)).toEqual(Uint8Array.of(...pattern(0x1800, 3).subarray(0x17fe), 0, 0));
    expect(dump.memory.read(0x11ffcn, 4)).toEqual(new Uint8Array(4));
    expect(dump.memory.read(0x12000n, 1)).toBeUndefined();
    expect(dump.elf.missing).toEqual([{ start: 0x12000n, end: 0x13000n, path: '/lib/short.so', reason: 'past-end-of-file' }]);
  });

  it('reads an i386 core with two threads and a gs_base from NT_386_TLS', () => {
    const tls = concat([cStruct(32, [['int', 12], ['int', 0xf7ed3540], ['int', 0xfffff], ['int', 0x51]]).bytes]);
    const core = buildElf({
      bits: 32, machine: 3,
      notes: [
        prstatusI386({ pid: 100, signal: 11, code: 1, regs: { ip: 0x56587190n, sp: 0xff91fe3cn, gs: 0x63n, ax: 0x10n } }),
        prpsinfo(32, 100, 'crash32', './crash32'),
        siginfo(32, 11, 1, 0x10n),
        { name: 'LINUX', type: 0x200, desc: tls },
        prstatusI386({ pid: 101, regs: { ip: 0x56587000n } }),
      ],
      segments: [{ vaddr: 0xff91f000n, data: pattern(0x1000), flags: 6 }],
    });
    const dump = open(write('i386.core', core));
    expect(dump.arch).toBe('x86');
    expect(dump.elf).toMatchObject({ abi: 'i386', processName: 'crash32', pid: 100 });
    expect(dump.threads.map((t) => t.id)).toEqual([100, 101]);
    expect(dump.threads[0]!.contexts[0]!.registers).toMatchObject({ eip: 0x56587190n, esp: 0xff91fe3cn, eax: 0x10n, gs: 0x63n, gs_base: 0xf7ed3540n });
    expect(dump.fault).toMatchObject({ signal: 11, address: 0x10n, code: 1, threadId: 100 });
    expect(dump.memory.read(0xff91fe3cn, 4)).toEqual(pattern(0x1000).subarray(0xe3c, 0xe40));
  });

  it('reads an AArch64 core: x0-x30, sp, pc, nzcv, tpidr_el0', () => {
    const regs: Record<string, bigint> = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`regs[${i}]`, 0x1000n + BigInt(i)]));
    const core = buildElf({
      bits: 64, machine: 183,
      notes: [
        prstatusArm64({ pid: 31185, signal: 11, regs: { ...regs, sp: 0x7ff5eb5d60n, pc: 0x558ce37754n, pstate: 0x60001000n } }),
        siginfo(64, 11, 1, 0n),
        emptyNote('CORE', 2, 0x210),
        { name: 'LINUX', type: 0x401, desc: cStruct(64, [['u64', 0x7f8bf273c0n]]).bytes },
      ],
      segments: [],
    });
    const dump = open(write('arm64.core', core));
    const registers = dump.threads[0]!.contexts[0]!.registers;
    expect(dump.arch).toBe('arm64');
    expect(registers).toMatchObject({ x0: 0x1000n, x29: 0x101dn, x30: 0x101en, sp: 0x7ff5eb5d60n, pc: 0x558ce37754n, nzcv: 0x60000000n, tpidr_el0: 0x7f8bf273c0n });
    expect(dump.fault).toMatchObject({ signal: 11, address: 0n });
    expect(dump.elf.regsets).toEqual([['NT_FPREGSET', 'NT_ARM_TLS']]);
  });

  it('opens a 4 GiB sparse core quickly and reads only what is asked', () => {
    const head = buildElf({
      bits: 64, machine: 62,
      notes: [prstatusX64({ pid: 1, regs: { ip: 0x10000n } })],
      segments: [{ vaddr: 0x7f0000000000n, data: new Uint8Array(0), memsz: 0n }],
    });
    // Rewrite the one PT_LOAD to cover 4 GiB of file from 0x1000.
    const path = join(dir, 'big.core');
    const fd = openSync(path, 'w');
    const patched = head.slice();
    const view = new DataView(patched.buffer);
    const ph = 0x40 + 56 * 1; // second program header (after PT_NOTE)
    view.setBigUint64(ph + 0x08, 0x1000n, true);
    view.setBigUint64(ph + 0x20, 1n << 32n, true);
    view.setBigUint64(ph + 0x28, 1n << 32n, true);
    writeSync(fd, patched, 0, patched.length, 0);
    ftruncateSync(fd, 0x1000 + 2 ** 32);
    writeSync(fd, Uint8Array.of(0xc3), 0, 1, 0x1000 + 0xfffffff0);
    closeSync(fd);
    const started = performance.now();
    const dump = open(path);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(dump.memory.read(0x7f00fffffff0n, 2)).toEqual(Uint8Array.of(0xc3, 0));
    expect(dump.memory.ranges()).toHaveLength(1);
  });
});
