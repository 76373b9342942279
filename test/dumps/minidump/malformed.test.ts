/**
 * Bad input: every fixture cut short at many lengths, rust-minidump's fuzzed
 * dumps, and synthetic dumps with absurd counts, RVAs past the end,
 * directories outside the file and disagreeing memory. Each must end in one
 * DumpFormatError naming where, never another exception or a hang.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DumpFormatError } from '../../../src/dumps/errors.ts';
import { openMinidump } from '../../../src/dumps/minidump/open-minidump.ts';
import { MinidumpBuilder, STREAM, X86_CONTEXT_BYTES, writeStruct, MINIDUMP_THREAD, x86Context } from './builder.ts';
import { fixture, tempFiles } from './temp-files.ts';

const temp = tempFiles();

/** The DumpFormatError opening `bytes` throws (fails the test if it opens or throws anything else). */
function failure(bytes: Uint8Array, name = 'bad.dmp'): DumpFormatError {
  const path = temp.write(name, bytes);
  let thrown: unknown;
  try {
    openMinidump(path).close();
  } catch (error) {
    thrown = error;
  }
  if (!(thrown instanceof DumpFormatError)) throw new Error(`Expected a DumpFormatError for ${name}, got ${thrown === undefined ? 'a dump' : String(thrown)}`);
  return thrown;
}

/** A small valid x86 Windows dump: one thread with a context and a stack, a module, an exception. */
function validDump(options: { extra?: (b: MinidumpBuilder) => void } = {}): MinidumpBuilder {
  const b = new MinidumpBuilder();
  b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2, MajorVersion: 10 });
  const stackRva = b.data(new Uint8Array(0x40).fill(0x11));
  const context = b.data(x86Context({ Eip: 0x401000, Esp: 0x12f000 }));
  b.threadList([{ ThreadId: 0x10, Teb: 0x7ffde000n, stack: { start: 0x12f000n, rva: stackRva, size: 0x40 }, context: { rva: context, size: X86_CONTEXT_BYTES } }]);
  b.moduleList([{ base: 0x400000n, size: 0x10000, name: 'C:\\app\\app.exe' }]);
  b.memoryList([{ start: 0x401000n, bytes: Uint8Array.of(0x8b, 0x00, 0xc3) }]);
  b.exception({ ThreadId: 0x10, ExceptionCode: 0xc0000005, ExceptionAddress: 0x401000n, parameters: [0n, 0n], context: { rva: context, size: X86_CONTEXT_BYTES } });
  options.extra?.(b);
  return b;
}

const dumpFixtures = (dir: string): string[] => readdirSync(fixture(dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? dumpFixtures(join(dir, e.name)) : e.name.endsWith('.dmp') ? [join(dir, e.name)] : []));

describe('truncated fixtures', () => {
  const files = dumpFixtures('.').filter((f) => !f.startsWith('rust-minidump/invalid'));

  it('covers every copied minidump', () => {
    // The walk must find the fixtures (a wrong path would make the cases below vacuous).
    expect(files.length).toBeGreaterThanOrEqual(11);
    expect(files).toEqual(expect.arrayContaining(['breakpad/ascii_read_av.dmp', 'breakpad/minidump2.dmp', 'lldb/unittests-minidump/regions-memlist64.dmp']));
  });

  it.each(files)('%s cut at many lengths is always one DumpFormatError', (file) => {
    const bytes = readFileSync(fixture(file));
    const size = bytes.length;
    const lengths = [...new Set([0, 1, 3, 4, 8, 0x1f, 0x20, 0x2b, ...Array.from({ length: 15 }, (_, k) => Math.floor((size * (k + 1)) / 16)), size - 1])].filter((n) => n < size);
    for (const length of lengths) {
      const error = failure(bytes.subarray(0, length), `cut-${length}.dmp`);
      expect(['truncated', 'bad-magic', 'bad-field', 'conflict'], `${file} cut at ${length}: ${error.message}`).toContain(error.code);
      expect(error.path).toMatch(/cut-\d+\.dmp$/);
      if (length >= 4) expect(error.offset, `${file} cut at ${length}: ${error.message}`).toBeDefined();
    }
  });

  it('the synthetic dump opens whole and fails at every cut', () => {
    const bytes = validDump().build();
    const path = temp.write('valid.dmp', bytes);
    const dump = openMinidump(path);
    expect(dump.fault).toMatchObject({ code: 0xc0000005n, address: 0x401000n, threadId: 0x10 });
    dump.close();
    for (let length = 0; length < bytes.length; length += 7) expect(failure(bytes.subarray(0, length), `syn-${length}.dmp`)).toBeInstanceOf(DumpFormatError);
  });
});

describe('hostile dumps', () => {
  it('rust-minidump\'s fuzzed dumps: streams past the end of the file', () => {
    const range = failure(readFileSync(fixture('rust-minidump/invalid-range.dmp')));
    expect(range).toMatchObject({ code: 'truncated', offset: 0x20000n });
    expect(range.message).toMatch(/^Stream 0xa793504d \(directory entry 0\) at offset 0x20000 .* runs past the end of the file \(276 bytes\)/);
    expect(failure(readFileSync(fixture('rust-minidump/invalid-record-count.dmp')))).toMatchObject({ code: 'truncated' });
  });

  it('NumberOfStreams 0xffffffff: the directory runs past the end', () => {
    const error = failure(validDump().build({ NumberOfStreams: 0xffffffff }));
    expect(error).toMatchObject({ code: 'truncated', offset: 0x20n });
    expect(error.message).toMatch(/^Stream directory at offset 0x20 \(4294967295 entries/);
  });

  it('a directory outside the file', () => {
    expect(failure(validDump().build({ StreamDirectoryRva: 0x7fff0000 }))).toMatchObject({ code: 'truncated', offset: 0x7fff0000n });
  });

  it('a stream past the end of the file', () => {
    const b = validDump();
    b.addDirectoryEntry(STREAM.MiscInfo, 0x100000, 24);
    const error = failure(b.build());
    expect(error).toMatchObject({ code: 'truncated', offset: 0x100000n });
    expect(error.message).toContain('MiscInfoStream');
  });

  it('absurd list counts, before anything is allocated', () => {
    const memory = new MinidumpBuilder();
    memory.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    const rva = memory.memoryList([{ start: 0x1000n, bytes: Uint8Array.of(1) }], { count: 0x10000000 });
    const error = failure(memory.build());
    expect(error).toMatchObject({ code: 'bad-field', offset: BigInt(rva) });
    expect(error.message).toMatch(/MemoryListStream claims 268435456 MINIDUMP_MEMORY_DESCRIPTOR entries/);

    const threads = new MinidumpBuilder();
    const list = new Uint8Array(4 + 0x30);
    new DataView(list.buffer).setUint32(0, 0xffffffff, true);
    threads.stream(STREAM.ThreadList, list);
    expect(failure(threads.build()).message).toMatch(/ThreadListStream claims 4294967295 MINIDUMP_THREAD entries/);
  });

  it('a thread context past the end of the file', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    b.threadList([{ ThreadId: 7, context: { rva: 0x7000000, size: X86_CONTEXT_BYTES } }]);
    const error = failure(b.build());
    expect(error).toMatchObject({ code: 'truncated', offset: 0x7000000n });
    expect(error.message).toContain('thread 0x7 context');
  });

  it('memory past the end of the file, or wrapping past 2^64', () => {
    const past = new MinidumpBuilder();
    past.memoryList([{ start: 0x1000n, rva: 0x10000, size: 0x100 }]);
    expect(failure(past.build()).message).toMatch(/MemoryListStream\[0\] bytes at offset 0x10000 .* run past the end of the file/);

    const wrap = new MinidumpBuilder();
    wrap.memory64List([{ start: 0xffffffffffffff00n, bytes: new Uint8Array(0x200) }]);
    expect(failure(wrap.build())).toMatchObject({ code: 'bad-field' });

    const sum = new MinidumpBuilder();
    sum.memory64List([{ start: 0x1000n, size: 0x10n }, { start: 0x2000n, size: 0x1_0000_0000n }], { baseRva: 0x100n });
    expect(failure(sum.build()).message).toMatch(/Memory64ListStream\[1\] bytes at offset 0x110/);
  });

  it('overlapping memory that disagrees is a conflict; repeated bytes that agree are merged', () => {
    const disagree = new MinidumpBuilder();
    disagree.memoryList([{ start: 0x1000n, bytes: Uint8Array.of(1, 2, 3, 4) }, { start: 0x1002n, bytes: Uint8Array.of(3, 9) }]);
    const error = failure(disagree.build());
    expect(error.code).toBe('conflict');
    expect(error.message).toMatch(/MemoryListStream\[1\] .* overlaps MemoryListStream\[0\] .* disagree at 0x1003/);

    const agree = new MinidumpBuilder();
    agree.systemInfo({ ProcessorArchitecture: 9, PlatformId: 2 });
    agree.memoryList([{ start: 0x1000n, bytes: Uint8Array.of(1, 2, 3, 4) }, { start: 0x1002n, bytes: Uint8Array.of(3, 4, 5, 6) }]);
    const dump = openMinidump(temp.write('agree.dmp', agree.build()));
    expect(dump.memory.ranges().map((r) => [r.start, r.end])).toEqual([[0x1000n, 0x1004n], [0x1004n, 0x1006n]]);
    expect(dump.memory.read(0x1000n, 6)).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6));
    dump.close();
  });

  it('a module name longer than any path', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    const rva = b.moduleList([{ base: 0x400000n, size: 0x1000, name: 'a.exe' }]);
    const bytes = b.build();
    const nameRva = new DataView(bytes.buffer).getUint32(rva + 4 + 0x14, true);
    new DataView(bytes.buffer).setUint32(nameRva, 0x7ffffff0, true);
    expect(failure(bytes)).toMatchObject({ code: 'bad-field', offset: BigInt(nameRva) });
  });

  it('not a minidump, or an architecture faultline cannot emulate', () => {
    expect(failure(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, ...new Uint8Array(60)))).toMatchObject({ code: 'bad-magic', offset: 0n });
    const arm = new MinidumpBuilder();
    arm.systemInfo({ ProcessorArchitecture: 5, PlatformId: 0x8201 });
    expect(failure(arm.build())).toMatchObject({ code: 'unsupported' });
    const strange = new MinidumpBuilder();
    strange.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    strange.threadList([{ ThreadId: 1, context: { rva: strange.data(new Uint8Array(0x100).fill(0xee)), size: 0x100 } }]);
    expect(failure(strange.build()).message).toMatch(/thread 0x1 context .* is not an x86, x64 or ARM64 CONTEXT/);
  });

  it('a context too short for its registers', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    b.threadList([{ ThreadId: 1, context: { rva: b.data(x86Context({ Eip: 1 }).subarray(0, 0x40)), size: 0x40 } }]);
    expect(failure(b.build())).toMatchObject({ code: 'truncated' });
  });

  it('a MemoryInfoList with an impossible entry size', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 9, PlatformId: 2 });
    const rva = b.memoryInfoList([{ BaseAddress: 0x1000n, RegionSize: 0x1000n, State: 0x1000, Protect: 4 }]);
    const bytes = b.build();
    new DataView(bytes.buffer).setUint32(rva + 4, 0, true);
    expect(failure(bytes)).toMatchObject({ code: 'bad-field', offset: BigInt(rva + 4) });
  });
});

describe('tolerated oddities', () => {
  it('a thread list with 4 bytes of padding after its count', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    b.threadList([{ ThreadId: 0x42, context: { rva: b.data(x86Context({ Eip: 0x1234 })), size: X86_CONTEXT_BYTES } }], { padding: true });
    const dump = openMinidump(temp.write('padded.dmp', b.build()));
    expect(dump.threads.map((t) => [t.id, t.contexts[0]?.registers.eip])).toEqual([[0x42, 0x1234n]]);
    dump.close();
  });

  it('a repeated stream: the first is used, with a warning', () => {
    const b = validDump({ extra: (d) => d.miscInfo({ Flags1: 1, ProcessId: 2 }) });
    b.miscInfo({ Flags1: 1, ProcessId: 99 });
    const dump = openMinidump(temp.write('repeated.dmp', b.build()));
    expect(dump.processId).toBe(2);
    expect(dump.notes).toContainEqual(expect.objectContaining({ level: 'warning', message: expect.stringMatching(/MiscInfoStream appears again/) }));
    dump.close();
  });

  it('an exception on a thread the list lacks: the thread is added with its exception context', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    const context = b.data(x86Context({ Eip: 0x401000 }));
    b.exception({ ThreadId: 0x99, ExceptionCode: 0x80000003, ExceptionAddress: 0x401000n, context: { rva: context, size: X86_CONTEXT_BYTES } });
    const dump = openMinidump(temp.write('orphan.dmp', b.build()));
    expect(dump.threads).toEqual([expect.objectContaining({ id: 0x99, contexts: [expect.objectContaining({ label: '.ecxr' })] })]);
    expect(dump.notes.map((n) => n.message).join()).toMatch(/thread 0x99, which the ThreadList stream lacks/);
    dump.close();
  });

  it('a thread whose stack is described only in the thread list is still memory', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: 0, PlatformId: 2 });
    const stack = b.data(Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd));
    b.stream(STREAM.ThreadList, (() => {
      const entry = writeStruct(MINIDUMP_THREAD, { ThreadId: 5, 'Stack.StartOfMemoryRange': 0x5000n, 'Stack.Memory.DataSize': 4, 'Stack.Memory.Rva': stack });
      const out = new Uint8Array(4 + entry.length);
      out[0] = 1;
      out.set(entry, 4);
      return out;
    })());
    const dump = openMinidump(temp.write('stack.dmp', b.build()));
    expect(dump.memory.read(0x5000n, 4)).toEqual(Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd));
    expect(dump.memory.provenanceOf(0x5001n)).toEqual({ source: 'ThreadListStream thread 0x5 stack', offset: BigInt(stack + 1) });
    dump.close();
  });
});
