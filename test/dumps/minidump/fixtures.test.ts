/**
 * Real minidumps written by Breakpad, Crashpad and lldb's tests, with the
 * expected values beside each from a source other than this parser:
 * Breakpad's own `minidump_dump` and `minidump_stackwalk` output for
 * minidump2.dmp, lldb's unit tests, and the descriptions in
 * test/fixtures/dumps/PROVENANCE.md.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openMinidump, type MinidumpDump } from '../../../src/dumps/minidump/open-minidump.ts';
import { fixture } from './temp-files.ts';

const opened: MinidumpDump[] = [];
afterEach(() => opened.splice(0).forEach((d) => d.close()));
const open = (relative: string): MinidumpDump => {
  const dump = openMinidump(fixture(relative));
  opened.push(dump);
  return dump;
};

const faultingThread = (dump: MinidumpDump) => dump.threads.find((t) => dump.fault && 'threadId' in dump.fault && t.id === dump.fault.threadId)!;

describe('minidump2.dmp against Breakpad\'s minidump_dump and minidump_stackwalk output', () => {
  it('has the exception and crashing registers stackwalk.out prints', () => {
    const dump = open('breakpad/minidump2.dmp');
    // stackwalk.out: "Crash reason: EXCEPTION_ACCESS_VIOLATION_WRITE / Crash address: 0x45";
    // dump.out: exception_code 0xc0000005, exception_address 0x40429e, information [0x1, 0x45], thread_id 0xbf4.
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 0xc0000005n, address: 0x40429en, parameters: [1n, 0x45n], threadId: 0xbf4 });
    expect(dump.arch).toBe('x86');
    expect(dump.os).toBe('windows');
    const crashed = faultingThread(dump);
    expect(crashed.contexts[0]!.label).toBe('.ecxr');
    // stackwalk.out frame 0: eip = 0x0040429e esp = 0x0012fe84 ebp = 0x0012fe88 ebx = 0x7c80abc1
    // esi = 0x00000002 edi = 0x00000a28 eax = 0x00000045 ecx = 0x0012fe94 edx = 0x0042bc58 efl = 0x00010246
    expect(crashed.contexts[0]!.registers).toMatchObject({
      eip: 0x0040429en, esp: 0x0012fe84n, ebp: 0x0012fe88n, ebx: 0x7c80abc1n, esi: 0x2n, edi: 0xa28n,
      eax: 0x45n, ecx: 0x0012fe94n, edx: 0x0042bc58n, efl: 0x00010246n,
      // dump.out MDRawContextX86 of the exception: cs 0x1b, ss 0x23, ds 0x23, es 0x23, fs 0x3b, gs 0
      cs: 0x1bn, ss: 0x23n, ds: 0x23n, es: 0x23n, fs: 0x3bn, gs: 0n,
    });
    // dump.out thread[0] (0xbf4) context: eip 0x7c90eb94, esp 0x12f320, eax 0x400000; teb 0x7ffdf000.
    expect(crashed.contexts[1]!.registers).toMatchObject({ eip: 0x7c90eb94n, esp: 0x12f320n, eax: 0x400000n, fs_base: 0x7ffdf000n });
    expect(dump.threads.map((t) => t.id)).toEqual([0xbf4, 0x11c0]);
  });

  it('lists the modules stackwalk.out lists, with dump.out\'s debug identifiers', () => {
    const dump = open('breakpad/minidump2.dmp');
    // stackwalk.out "Loaded modules", sorted by base as there.
    expect(dump.modules.map((m) => [m.base, m.base + m.size - 1n, baseOf(m.path!)])).toEqual([
      [0x00400000n, 0x0042cfffn, 'test_app.exe'],
      [0x59a60000n, 0x59b00fffn, 'dbghelp.dll'],
      [0x76390000n, 0x763acfffn, 'imm32.dll'],
      [0x76bf0000n, 0x76bfafffn, 'psapi.dll'],
      [0x774e0000n, 0x7761cfffn, 'ole32.dll'],
      [0x77c00000n, 0x77c07fffn, 'version.dll'],
      [0x77c10000n, 0x77c67fffn, 'msvcrt.dll'],
      [0x77d40000n, 0x77dcffffn, 'user32.dll'],
      [0x77dd0000n, 0x77e6afffn, 'advapi32.dll'],
      [0x77e70000n, 0x77f00fffn, 'rpcrt4.dll'],
      [0x77f10000n, 0x77f56fffn, 'gdi32.dll'],
      [0x7c800000n, 0x7c8f3fffn, 'kernel32.dll'],
      [0x7c900000n, 0x7c9affffn, 'ntdll.dll'],
    ]);
    const app = dump.modules[0]!;
    // dump.out module[0]: code_file "c:\test_app.exe", time_date_stamp 0x45d35f6c, debug_file "c:\test_app.pdb",
    // debug_identifier "5A9832E5287241C1838ED98914E9B7FF1".
    expect(app).toMatchObject({ name: 'test_app', path: 'c:\\test_app.exe', timestamp: 0x45d35f6c, debugFile: 'c:\\test_app.pdb', debugIdentifier: '5A9832E5287241C1838ED98914E9B7FF1', debugId: 'test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1' });
    // stackwalk.out lists kernel32.dll 5.1.2600.2945 (VS_FIXEDFILEINFO).
    expect(dump.modules.find((m) => m.name === 'kernel32')).toMatchObject({ fileVersion: '5.1.2600.2945', debugIdentifier: 'BCE8785C57B44245A669896B6A19B9542' });
    // stackwalk.out frame 3: kernel32.dll!BaseProcessStart + 0x23 at eip 0x7c816fd7 — no symbols here, so module-relative.
    expect(dump.symbols.format(0x7c816fd7n)).toBe('kernel32+0x16fd7');
    expect(dump.symbols.format(0x0040429en)).toBe('test_app+0x429e');
  });

  it('has dump.out\'s memory ranges, bytes, system info and misc info', () => {
    const dump = open('breakpad/minidump2.dmp');
    // dump.out MinidumpMemoryList: 0x7c90eb14+0x100 @0x1539, 0x12f31c+0xce4 @0x1639, 0x97f6e8+0x918 @0x231d.
    expect(dump.memory.ranges().map((r) => [r.start, r.end - r.start, r.provenance.offset])).toEqual([
      [0x12f31cn, 0xce4n, 0x1639n],
      [0x97f6e8n, 0x918n, 0x231dn],
      [0x7c90eb14n, 0x100n, 0x1539n],
    ]);
    // dump.out region[0] Memory starts 0xff83c4ec890424c7…; region[2] starts 0x80001080…
    expect(dump.memory.read(0x7c90eb14n, 6)).toEqual(Uint8Array.of(0xff, 0x83, 0xc4, 0xec, 0x89, 0x04));
    expect(dump.memory.read(0x97f6e8n, 4)).toEqual(Uint8Array.of(0x80, 0x00, 0x10, 0x80));
    expect(dump.memory.provenanceOf(0x7c90eb16n)).toEqual({ source: 'MemoryListStream[0]', offset: 0x153bn });
    // stackwalk.out: the code at eip 0x40429e is not in the dump (PROVENANCE: "code bytes at PC NOT in dump").
    expect(dump.memory.read(0x40429en, 1)).toBeUndefined();
    expect(dump.memory.read(0x7c90ec10n, 8)).toBeUndefined(); // runs off the end of region 0
    // dump.out MDRawSystemInfo: 5.1.2600, "Service Pack 2", GenuineIntel, 1 CPU; MDRawMiscInfo: pid 3932, created 0x45d35f73.
    expect(dump.systemInfo).toMatchObject({ majorVersion: 5, minorVersion: 1, buildNumber: 2600, csdVersion: 'Service Pack 2', vendorId: 'GenuineIntel', numberOfProcessors: 1 });
    expect(dump.processId).toBe(3932);
    expect(dump.processCreatedAt).toEqual(new Date('2007-02-14T19:13:55Z'));
    expect(dump.writtenAt).toEqual(new Date('2007-02-14T19:13:55Z'));
    // dump.out: 9 directory entries, MD_BREAKPAD_INFO_STREAM among them.
    expect(dump.streams.map((s) => s.name)).toContain('BreakpadInfoStream');
    expect(dump.streams).toHaveLength(9);
  });

  it('reads minidump_32bit_crash_addr.dmp\'s garbage upper half as a 32-bit address, with a note', () => {
    // PROVENANCE: identical to minidump2.dmp except ExceptionInformation[1] = 0xffffffff00000045.
    const dump = open('breakpad/minidump_32bit_crash_addr.dmp');
    expect(dump.fault).toMatchObject({ parameters: [1n, 0x45n] });
    expect(dump.notes.map((n) => n.message).join('\n')).toMatch(/ExceptionInformation\[1\] 0xffffffff00000045/);
  });
});

describe('Windows dumps, as PROVENANCE.md describes them', () => {
  it('ascii_read_av.dmp: a read of 0x41414141 at eip 0xd6a6cd, with the code bytes', () => {
    const dump = open('breakpad/ascii_read_av.dmp');
    // PROVENANCE: x86 winNT (OS 6.1.7600); 2 threads, 26 modules [main: crashme.exe];
    // EXCEPTION_ACCESS_VIOLATION at eip=0xd6a6cd (read of 0x41414141); code bytes at PC present (0xd6a64d+0x100).
    expect(dump).toMatchObject({ format: 'minidump', arch: 'x86', os: 'windows' });
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 0xc0000005n, address: 0xd6a6cdn, parameters: [0n, 0x41414141n] });
    expect(dump.systemInfo).toMatchObject({ majorVersion: 6, minorVersion: 1, buildNumber: 7600 });
    expect(dump.threads).toHaveLength(2);
    expect(dump.modules).toHaveLength(26);
    expect(faultingThread(dump).contexts[0]!.registers.eip).toBe(0xd6a6cdn);
    expect(dump.memory.read(0xd6a64dn, 0x100)).toHaveLength(0x100);
    expect(dump.memory.read(0xd6a6cdn, 1)).toBeDefined();
    // MemoryList: 5 ranges, 7824 bytes.
    expect(dump.memory.ranges()).toHaveLength(5);
    expect(dump.memory.byteCount).toBe(7824n);
    expect(dump.symbols.format(0xd6a6cdn)).toMatch(/^crashme\+0x[0-9a-f]+$/);
  });

  it('write_av_non_canonical.dmp: x64, rip 0x7ff738721331 reading 0xffffffffffffffff', () => {
    const dump = open('breakpad/write_av_non_canonical.dmp');
    // PROVENANCE: amd64 winNT (OS 10.0.19042); 2 threads, 15 modules [main: crash.exe];
    // EXCEPTION_ACCESS_VIOLATION at rip=0x7ff738721331 (read of 0xffffffffffffffff); code at PC present (0x7ff7387212b1+0x100).
    expect(dump).toMatchObject({ arch: 'x64', os: 'windows' });
    expect(dump.fault).toMatchObject({ code: 0xc0000005n, address: 0x7ff738721331n, parameters: [0n, 0xffffffffffffffffn] });
    expect(dump.systemInfo).toMatchObject({ majorVersion: 10, minorVersion: 0, buildNumber: 19042 });
    expect(dump.threads).toHaveLength(2);
    expect(dump.modules).toHaveLength(15);
    const ecxr = faultingThread(dump).contexts[0]!;
    expect(ecxr.registers.rip).toBe(0x7ff738721331n);
    expect(ecxr.registers.gs_base).toBeDefined(); // the TEB
    expect(dump.memory.read(0x7ff7387212b1n, 0x100)).toHaveLength(0x100);
    expect(dump.symbols.format(0x7ff738721331n)).toMatch(/^crash\+0x[0-9a-f]+$/);
  });

  it('invalid-parameter.dmp: a synthesised STATUS_INVALID_PARAMETER with ExceptionAddress 0 faults at the context\'s rip', () => {
    const dump = open('rust-minidump/invalid-parameter.dmp');
    // PROVENANCE: amd64 winNT (OS 10.0.17134); 6 threads, 31 modules [main: CrashTest.exe];
    // STATUS_INVALID_PARAMETER at rip=0x7ff61bcfa9a3; code bytes at PC present (0x7ff61bcfa923+0x100).
    // The record's ExceptionAddress (EXCEPTION_RECORD + 0x10 in the stream) is 0: read it from the file itself.
    const bytes = readFileSync(fixture('rust-minidump/invalid-parameter.dmp'));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const streams = Array.from({ length: view.getUint32(8, true) }, (_, i) => view.getUint32(12, true) + i * 12);
    const exception = streams.find((at) => view.getUint32(at, true) === 6)!;
    const record = view.getUint32(exception + 8, true) + 8; // MINIDUMP_EXCEPTION_STREAM: ThreadId, __alignment, then the record
    expect(view.getUint32(record, true)).toBe(0xc000000d);
    expect(view.getBigUint64(record + 0x10, true)).toBe(0n);
    expect(faultingThread(dump).contexts[0]!.registers.rip).toBe(0x7ff61bcfa9a3n);
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 0xc000000dn, address: 0x7ff61bcfa9a3n });
    expect(dump.notes.map((n) => n.message)).toContain("ExceptionStream ExceptionAddress is 0 (a synthesised record): the fault pc is the exception context's, 0x7ff61bcfa9a3");
    expect(dump.memory.read(0x7ff61bcfa923n, 0x100)).toHaveLength(0x100);
  });

  it('thread_name_list.dmp: the names its ThreadNames stream holds, "overflow thread" faulting', () => {
    const dump = open('breakpad/thread_name_list.dmp');
    // PROVENANCE: 6 threads, 17 modules [main: allocer32.exe], read of 0xf1004 at eip=0x4015fd; also ThreadNames.
    // `strings -el` on the file shows the three names; heob's allocer test crashes in its overflow thread.
    expect(dump.threads).toHaveLength(6);
    expect(dump.threads.map((t) => t.name).filter(Boolean).sort()).toEqual(['main thread', 'overflow thread', 'sleep thread']);
    expect(faultingThread(dump).name).toBe('overflow thread');
    expect(dump.fault).toMatchObject({ address: 0x4015fdn, parameters: [0n, 0xf1004n] });
    expect(dump.modules[0]).toMatchObject({ name: 'allocer32' });
  });

  it('tiny-exe-with-cet-xsave.dmp: MemoryInfoList protections', () => {
    const dump = open('breakpad/tiny-exe-with-cet-xsave.dmp');
    // PROVENANCE: amd64 winNT; 1 thread, 25 modules [main: tiny.exe]; no Exception stream; MemoryList 65 ranges,
    // 50800 bytes; also MemoryInfoList.
    expect(dump.fault).toBeUndefined();
    expect(dump.threads).toHaveLength(1);
    expect(dump.memory.ranges()).toHaveLength(65);
    expect(dump.memory.byteCount).toBe(50800n);
    const { rip, rsp } = dump.threads[0]!.contexts[0]!.registers;
    // The thread runs code in an image (ntdll) and its stack is private read-write memory.
    expect(dump.memoryRegionAt(rip!)).toMatchObject({ protection: 'r-x', executable: true, type: 0x1000000, state: 0x1000 });
    expect(dump.memoryRegionAt(rsp!)).toMatchObject({ protection: 'rw-', writable: true, executable: false, type: 0x20000 });
    expect(dump.symbols.format(rip!)).toMatch(/^ntdll\+0x/);
    const regions = dump.memoryRegions();
    expect(regions.length).toBeGreaterThan(25);
    for (let i = 1; i < regions.length; i++) expect(regions[i]!.baseAddress).toBeGreaterThan(regions[i - 1]!.baseAddress);
    // Ranges take their kind from the regions: the stack is data.
    expect(dump.memory.ranges().find((r) => r.start <= rsp! && rsp! < r.end)?.kind).toBe('data');
  });

  it('exec_av_on_stack.dmp: the bytes around a pc on the stack repeat the stack range, and agree', () => {
    const dump = open('breakpad/exec_av_on_stack.dmp');
    // PROVENANCE: DEP fault executing 0x3df944, which is on the stack; code bytes at PC present (0x3df8c4+0x100).
    expect(dump.fault).toMatchObject({ address: 0x3df944n, parameters: [8n, 0x3df944n] });
    expect(dump.memory.read(0x3df8c4n, 0x100)).toHaveLength(0x100);
    // MemoryList has 5 ranges; the pc range lies inside the stack range, so 4 remain.
    expect(dump.memory.ranges()).toHaveLength(4);
  });
});

describe('Linux, macOS and Memory64List dumps', () => {
  it('linux_null_read_av.dmp: SIGSEGV at address 0 from rip 0x402170', () => {
    const dump = open('breakpad/linux_null_read_av.dmp');
    // PROVENANCE: amd64 linux; 1 thread, 8 modules [main: null_read_av]; SIGSEGV at rip=0x402170, exc addr 0x0;
    // code bytes at PC present (0x4020f0+0x100).
    expect(dump).toMatchObject({ arch: 'x64', os: 'linux' });
    expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, address: 0n });
    expect(dump.threads[0]!.contexts[0]!.registers.rip).toBe(0x402170n);
    expect(dump.modules).toHaveLength(8);
    expect(dump.symbols.format(0x402170n)).toBe('null_read_av+0x2170');
    expect(dump.memory.read(0x4020f0n, 0x100)).toHaveLength(0x100);
    // This (2013) Breakpad Linux writer stores an RSDS record: the build id's first 16 bytes as a GUID, age 0,
    // the module's file name as the PDB name.
    expect(dump.modules.find((m) => m.name === 'null_read_av')?.debugId).toMatch(/^null_read_av\/[0-9A-F]{32}0$/);
  });

  it('lldb linux-x86_64.dmp: SIGSEGV at rip 0x4003e0', () => {
    const dump = open('lldb/minidump-new/linux-x86_64.dmp');
    // PROVENANCE: 1 thread, 10 modules [main: linux-x86_64]; SIGSEGV at rip=0x4003e0, exc addr 0x0.
    expect(dump.fault).toMatchObject({ kind: 'signal', signal: 11, address: 0n });
    expect(dump.threads[0]!.contexts[0]!.registers.rip).toBe(0x4003e0n);
    expect(dump.modules).toHaveLength(10);
    expect(dump.symbols.format(0x4003e0n)).toBe('linux-x86_64+0x3e0');
  });

  it('crash_macos.dmp: a Mach EXC_BAD_ACCESS at 0x45, its CONTEXT_AMD64 naming no register groups', () => {
    const dump = open('symbolic/crash_macos.dmp');
    // PROVENANCE: x86-64 macOS 10.12.6; 1 thread, 43 modules; EXC_BAD_ACCESS at rip=0x10215d3a1 (addr 0x45).
    expect(dump).toMatchObject({ arch: 'x64', os: 'macos' });
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 1n, address: 0x10215d3a1n, parameters: [1n, 0x45n] });
    expect(dump.threads[0]!.contexts[0]!.registers.rip).toBe(0x10215d3a1n);
    expect(dump.modules).toHaveLength(43);
  });

  it('lldb regions-memlist64.dmp: the Memory64List ranges lldb\'s MinidumpParserTest expects', () => {
    const dump = open('lldb/unittests-minidump/regions-memlist64.dmp');
    // lldb GetMemoryRegionInfoFromMemory64List: [0x1000, 0x1010) and [0x2000, 0x2020) readable, nothing between.
    // PROVENANCE: arm64 (breakpad id 0x8003) / macOS; no threads, no exception.
    expect(dump).toMatchObject({ arch: 'arm64', os: 'macos', threads: [] });
    expect(dump.memory.ranges().map((r) => [r.start, r.end])).toEqual([[0x1000n, 0x1010n], [0x2000n, 0x2020n]]);
    // The sister dump's YAML (regions-memlist) fills them with '1' and '3'; so does this one (xxd).
    expect(dump.memory.read(0x1000n, 16)).toEqual(new Uint8Array(16).fill(0x31));
    expect(dump.memory.read(0x2000n, 32)).toEqual(new Uint8Array(32).fill(0x33));
    expect(dump.memory.read(0x100fn, 2)).toBeUndefined();
    expect(dump.memory.readPartial(0x100en, 4)).toEqual({ bytes: Uint8Array.of(0x31, 0x31, 0, 0), known: Uint8Array.of(1, 1, 0, 0) });
    expect(dump.memory.provenanceOf(0x2000n)?.source).toBe('Memory64ListStream[1]');
    expect(dump.memory.provenanceOf(0x2000n)?.offset).toBe(BigInt(readFileSync(fixture('lldb/unittests-minidump/regions-memlist64.dmp')).length - 32));
  });
});

function baseOf(path: string): string {
  return path.split('\\').pop()!;
}
