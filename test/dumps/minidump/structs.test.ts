/**
 * Each struct reader at a non-zero offset, over bytes the builder laid out
 * from the struct declarations; a few offsets pinned to the numbers WinDbg's
 * `dt` and MSDN show, so the builder's layouts are checked too.
 */
import { describe, expect, it } from 'vitest';
import { ByteReader } from '../../../src/dumps/binary/byte-reader.ts';
import { DumpFormatError } from '../../../src/dumps/errors.ts';
import { readCodeView, debugIdentifier } from '../../../src/dumps/minidump/codeview.ts';
import { readArm64Context } from '../../../src/dumps/minidump/context-arm64.ts';
import { readAmd64Context } from '../../../src/dumps/minidump/context-amd64.ts';
import { readX86Context } from '../../../src/dumps/minidump/context-x86.ts';
import { readException } from '../../../src/dumps/minidump/exception.ts';
import { readDirectoryEntry, readHeader } from '../../../src/dumps/minidump/header.ts';
import { decodeProtect, readMemoryInfo } from '../../../src/dumps/minidump/memory-info.ts';
import { readMemoryDescriptor64 } from '../../../src/dumps/minidump/memory-list.ts';
import { readMiscInfo } from '../../../src/dumps/minidump/misc-info.ts';
import { moduleNames } from '../../../src/dumps/minidump/module-names.ts';
import { readModule } from '../../../src/dumps/minidump/modules.ts';
import { readSystemInfo } from '../../../src/dumps/minidump/system-info.ts';
import { readThread, readThreadName } from '../../../src/dumps/minidump/threads.ts';
import {
  AMD64_CONTEXT, ARM64_CONTEXT, MINIDUMP_DIRECTORY, MINIDUMP_EXCEPTION_STREAM, MINIDUMP_HEADER, MINIDUMP_MEMORY_DESCRIPTOR64, MINIDUMP_MEMORY_INFO,
  MINIDUMP_MISC_INFO, MINIDUMP_MODULE, MINIDUMP_SYSTEM_INFO, MINIDUMP_THREAD, MINIDUMP_THREAD_NAME, X86_CONTEXT, concat, offsetOf, sizeOf, writeStruct,
  type StructLayout,
} from './builder.ts';

/** File offset the test reader's byte 0 claims to be at. */
const BASE = 0x4000n;
/** Filler before the struct, so it is read at a non-zero offset. */
const AT = 0x24;

function at(layout: StructLayout, values: Parameters<typeof writeStruct>[1]): ByteReader {
  const bytes = concat([new Uint8Array(AT).fill(0xcc), writeStruct(layout, values), new Uint8Array(8).fill(0xcc)]);
  return new ByteReader(bytes, { path: 'test.dmp', format: 'minidump', base: BASE, what: 'TEST' });
}

describe('struct layouts match dt and MSDN', () => {
  it.each([
    [MINIDUMP_HEADER, 'Flags', 0x18, 0x20],
    [MINIDUMP_DIRECTORY, 'Rva', 0x08, 0x0c],
    [MINIDUMP_THREAD, 'ThreadContext.Rva', 0x2c, 0x30],
    [MINIDUMP_MODULE, 'CvRecord.DataSize', 0x4c, 0x6c],
    [MINIDUMP_EXCEPTION_STREAM, 'ThreadContext.DataSize', 0xa0, 0xa8],
    [MINIDUMP_SYSTEM_INFO, 'CSDVersionRva', 0x18, 0x38],
    [MINIDUMP_MEMORY_INFO, 'Protect', 0x24, 0x30],
    [X86_CONTEXT, 'Eip', 0xb8, 0x2cc], // dt nt!_CONTEXT (x86): +0x0b8 Eip
    [X86_CONTEXT, 'ExtendedRegisters', 0xcc, 0x2cc],
    [AMD64_CONTEXT, 'ContextFlags', 0x30, 0x4d0], // dt nt!_CONTEXT (x64): +0x030 ContextFlags
    [AMD64_CONTEXT, 'Rip', 0xf8, 0x4d0], // +0x0f8 Rip
    [AMD64_CONTEXT, 'FltSave', 0x100, 0x4d0],
    [ARM64_CONTEXT, 'Pc', 0x108, 0x390], // dt _ARM64_NT_CONTEXT: +0x108 Pc
  ] as const)('%#: field at its documented offset', (layout, field, offset, size) => {
    expect(offsetOf(layout, field)).toBe(offset);
    expect(sizeOf(layout)).toBe(size);
  });
});

describe('struct readers at a non-zero offset', () => {
  it('MINIDUMP_HEADER and MINIDUMP_DIRECTORY', () => {
    const header = readHeader(at(MINIDUMP_HEADER, { Signature: 0x504d444d, Version: 0x5128a793, NumberOfStreams: 9, StreamDirectoryRva: 0x20, TimeDateStamp: 0x45d35f73, Flags: 0x2n }), AT);
    expect(header).toMatchObject({ numberOfStreams: 9, streamDirectoryRva: 0x20, timeDateStamp: 0x45d35f73, flags: 2n });
    const entry = readDirectoryEntry(at(MINIDUMP_DIRECTORY, { StreamType: 4, DataSize: 1408, Rva: 0x1e8 }), AT);
    expect(entry).toEqual({ streamType: 4, location: { dataSize: 1408, rva: 0x1e8 }, entryOffset: BASE + BigInt(AT) });
  });

  it('rejects a wrong signature or version as bad-magic, naming the offset', () => {
    const error = (() => {
      try {
        readHeader(at(MINIDUMP_HEADER, { Signature: 0x464c457f, Version: 0xa793 }), AT);
      } catch (e) {
        return e as DumpFormatError;
      }
    })();
    expect(error).toBeInstanceOf(DumpFormatError);
    expect(error).toMatchObject({ code: 'bad-magic', offset: BASE + BigInt(AT) });
    expect(() => readHeader(at(MINIDUMP_HEADER, { Signature: 0x504d444d, Version: 0x1234 }), AT)).toThrow(/MINIDUMP_VERSION/);
  });

  it('MINIDUMP_SYSTEM_INFO', () => {
    const info = readSystemInfo(at(MINIDUMP_SYSTEM_INFO, {
      ProcessorArchitecture: 9, ProcessorLevel: 6, NumberOfProcessors: 8, MajorVersion: 10, BuildNumber: 19042, PlatformId: 2, CSDVersionRva: 0x1234,
      VendorId: new TextEncoder().encode('AuthenticAMD'),
    }), AT);
    expect(info).toMatchObject({ processorArchitecture: 9, processorLevel: 6, numberOfProcessors: 8, majorVersion: 10, minorVersion: 0, buildNumber: 19042, platformId: 2, csdVersionRva: 0x1234, vendorId: 'AuthenticAMD' });
  });

  it('x86 CONTEXT: the groups its flags name, and nothing else', () => {
    const full = readX86Context(at(X86_CONTEXT, { ContextFlags: 0x1003f, Eip: 0x40429e, Esp: 0x12fe84, Ebp: 0x12fe88, Eax: 0x45, Edi: 0xa28, EFlags: 0x10246, SegCs: 0x1b, SegFs: 0x3b }), AT);
    expect(full.flags).toBe(0x1003f);
    expect(full.registers).toMatchObject({ eip: 0x40429en, esp: 0x12fe84n, ebp: 0x12fe88n, eax: 0x45n, edi: 0xa28n, efl: 0x10246n, cs: 0x1bn, fs: 0x3bn });
    const control = readX86Context(at(X86_CONTEXT, { ContextFlags: 0x10001, Eip: 0x1000, Eax: 7 }), AT);
    expect(control.registers.eip).toBe(0x1000n);
    expect(control.registers.eax).toBeUndefined();
    expect(control.registers.ds).toBeUndefined();
  });

  it('AMD64 CONTEXT', () => {
    const { flags, registers } = readAmd64Context(at(AMD64_CONTEXT, {
      ContextFlags: 0x10001f, Rip: 0x7ff738721331n, Rsp: 0xa1b2c3d4e5n, Rbp: 0x1234n, R15: 0xf15n, R8: 8, Rax: 0xffffffffffffffffn, EFlags: 0x10246, SegCs: 0x33, SegSs: 0x2b, SegGs: 0x2b,
    }), AT);
    expect(flags).toBe(0x10001f);
    expect(registers).toMatchObject({ rip: 0x7ff738721331n, rsp: 0xa1b2c3d4e5n, rbp: 0x1234n, r15: 0xf15n, r8: 8n, rax: 0xffffffffffffffffn, efl: 0x10246n, cs: 0x33n, ss: 0x2bn, gs: 0x2bn });
  });

  it('ARM64 CONTEXT', () => {
    const { registers } = readArm64Context(at(ARM64_CONTEXT, { ContextFlags: 0x400003, Cpsr: 0x60001000, X0: 1, X28: 28, Fp: 0x29, Lr: 0x30, Sp: 0x16f000000n, Pc: 0x102a68cd4n }), AT);
    expect(registers).toMatchObject({ x0: 1n, x28: 28n, x29: 0x29n, x30: 0x30n, sp: 0x16f000000n, pc: 0x102a68cd4n, nzcv: 0x60000000n });
  });

  it('MINIDUMP_THREAD and MINIDUMP_THREAD_NAME', () => {
    const thread = readThread(at(MINIDUMP_THREAD, { ThreadId: 0xbf4, Teb: 0x7ffdf000n, 'Stack.StartOfMemoryRange': 0x12f31cn, 'Stack.Memory.DataSize': 0xce4, 'Stack.Memory.Rva': 0x1639, 'ThreadContext.DataSize': 0x2cc, 'ThreadContext.Rva': 0xd94 }), AT);
    expect(thread).toEqual({
      threadId: 0xbf4, suspendCount: 0, priorityClass: 0, priority: 0, teb: 0x7ffdf000n,
      stack: { startOfMemoryRange: 0x12f31cn, memory: { dataSize: 0xce4, rva: 0x1639 } },
      threadContext: { dataSize: 0x2cc, rva: 0xd94 },
      offset: BASE + BigInt(AT),
    });
    expect(readThreadName(at(MINIDUMP_THREAD_NAME, { ThreadId: 0x1c8, RvaOfThreadName: 0x1_0000_03a0n }), AT)).toEqual({ threadId: 0x1c8, rvaOfThreadName: 0x1_0000_03a0n });
  });

  it('MINIDUMP_MODULE, its version and a CodeView PDB70 record', () => {
    const module = readModule(at(MINIDUMP_MODULE, {
      BaseOfImage: 0x7c800000n, SizeOfImage: 0xf4000, TimeDateStamp: 0x44ab9a84, ModuleNameRva: 0x78a,
      'VersionInfo.dwSignature': 0xfeef04bd, 'VersionInfo.dwFileVersionMS': 0x00050001, 'VersionInfo.dwFileVersionLS': 0x0a280b81,
      'CvRecord.DataSize': 40, 'CvRecord.Rva': 0x132c,
    }), AT);
    expect(module).toMatchObject({ baseOfImage: 0x7c800000n, sizeOfImage: 0xf4000, timeDateStamp: 0x44ab9a84, moduleNameRva: 0x78a, fileVersion: '5.1.2600.2945', cvRecord: { dataSize: 40, rva: 0x132c } });
    // dump.out: (cv_record).signature 5a9832e5-2872-41c1-838e-d98914e9b7ff, age 1 → "5A9832E5287241C1838ED98914E9B7FF1".
    const guid = Uint8Array.of(0xe5, 0x32, 0x98, 0x5a, 0x72, 0x28, 0xc1, 0x41, 0x83, 0x8e, 0xd9, 0x89, 0x14, 0xe9, 0xb7, 0xff);
    const record = concat([new Uint8Array(AT), new TextEncoder().encode('RSDS'), guid, Uint8Array.of(1, 0, 0, 0), new TextEncoder().encode('c:\\test_app.pdb\0')]);
    const cv = readCodeView(new ByteReader(record, { path: 't', format: 'minidump', base: 0n, what: 'CV' }), AT);
    expect(cv).toMatchObject({ kind: 'pdb70', age: 1, pdbFileName: 'c:\\test_app.pdb' });
    expect(debugIdentifier(cv)).toBe('5A9832E5287241C1838ED98914E9B7FF1');
    const elf = concat([new Uint8Array(AT), Uint8Array.of(0x4c, 0x45, 0x70, 0x42, 0xe3, 0x5c, 0x28, 0x3b)]);
    expect(debugIdentifier(readCodeView(new ByteReader(elf, { path: 't', format: 'minidump', base: 0n, what: 'CV' }), AT))).toBe('e35c283b');
  });

  it('MINIDUMP_EXCEPTION_STREAM, and more than 15 parameters as bad-field', () => {
    const exception = readException(at(MINIDUMP_EXCEPTION_STREAM, {
      ThreadId: 0xbf4, ExceptionCode: 0xc0000005, ExceptionAddress: 0x40429en, NumberParameters: 2, ExceptionInformation0: 1n, ExceptionInformation1: 0x45n, 'ThreadContext.DataSize': 716, 'ThreadContext.Rva': 0xac8,
    }), AT);
    expect(exception).toMatchObject({ threadId: 0xbf4, exceptionCode: 0xc0000005, exceptionAddress: 0x40429en, exceptionInformation: [1n, 0x45n], threadContext: { dataSize: 716, rva: 0xac8 } });
    expect(() => readException(at(MINIDUMP_EXCEPTION_STREAM, { NumberParameters: 16 }), AT)).toThrow(expect.objectContaining({ code: 'bad-field', offset: BASE + BigInt(AT + 0x20) }));
  });

  it('MINIDUMP_MISC_INFO: fields present only when Flags1 says so', () => {
    expect(readMiscInfo(at(MINIDUMP_MISC_INFO, { SizeOfInfo: 24, Flags1: 3, ProcessId: 3932, ProcessCreateTime: 0x45d35f73 }), AT)).toMatchObject({ processId: 3932, processCreateTime: 0x45d35f73 });
    expect(readMiscInfo(at(MINIDUMP_MISC_INFO, { SizeOfInfo: 24, Flags1: 2, ProcessId: 3932 }), AT).processId).toBeUndefined();
  });

  it('MINIDUMP_MEMORY_DESCRIPTOR64 and MINIDUMP_MEMORY_INFO', () => {
    expect(readMemoryDescriptor64(at(MINIDUMP_MEMORY_DESCRIPTOR64, { StartOfMemoryRange: 0xffff800000000000n, DataSize: 0x1_0000_0000n }), AT)).toEqual({ startOfMemoryRange: 0xffff800000000000n, dataSize: 0x1_0000_0000n });
    const region = readMemoryInfo(at(MINIDUMP_MEMORY_INFO, { BaseAddress: 0x7ff6f2a01000n, AllocationBase: 0x7ff6f2a00000n, AllocationProtect: 0x80, RegionSize: 0x1000n, State: 0x1000, Protect: 0x20, Type: 0x1000000 }), AT);
    expect(region).toMatchObject({ baseAddress: 0x7ff6f2a01000n, regionSize: 0x1000n, protect: 0x20, protection: 'r-x', executable: true, writable: false, provenance: { offset: BASE + BigInt(AT) } });
    expect(readMemoryInfo(at(MINIDUMP_MEMORY_INFO, { State: 0x2000, Protect: 0x04 }), AT).protection).toBe('');
    expect(decodeProtect(0x104)).toEqual({ readable: true, writable: true, executable: false }); // PAGE_READWRITE | PAGE_GUARD
    expect(decodeProtect(0x01)).toEqual({ readable: false, writable: false, executable: false });
  });

  it('a struct cut short is a truncated error naming its field and file offset', () => {
    const bytes = concat([new Uint8Array(AT), writeStruct(MINIDUMP_THREAD, {}).subarray(0, 0x14)]);
    const reader = new ByteReader(bytes, { path: 'test.dmp', format: 'minidump', base: BASE, what: 'MINIDUMP_THREAD' });
    expect(() => readThread(reader, AT)).toThrow(expect.objectContaining({ code: 'truncated', offset: BASE + BigInt(AT + 0x10), message: expect.stringContaining('MINIDUMP_THREAD.Teb') }));
  });
});

describe('module names', () => {
  it('are WinDbg\'s on Windows and whole file names elsewhere, unique', () => {
    expect(moduleNames(['C:\\Windows\\System32\\ntdll.dll', 'c:\\test_app.exe', 'D:\\other\\NTDLL.DLL'], [0x7c900000n, 0x400000n, 0x10000000n], 'windows'))
      .toEqual(['ntdll', 'test_app', 'NTDLL_10000000']);
    expect(moduleNames(['/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/crash'], [0x7f00n, 0x400000n], 'linux')).toEqual(['libc.so.6', 'crash']);
  });
});
