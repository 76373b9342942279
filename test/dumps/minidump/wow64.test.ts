/**
 * x86 processes on 64-bit Windows (WoW64) dumped by a 64-bit tool: either
 * the dump holds x86 CONTEXTs under an AMD64 SystemInfo, or it holds the
 * 64-bit WoW64 layer's contexts and the x86 ones sit in each thread's TEB
 * (`dt nt!_TEB` on x64: +0x1480 TlsSlots; slot 1 is WOW64_TLS_CPURESERVED,
 * whose CONTEXT follows USHORT Flags and USHORT Machine).
 */
import { describe, expect, it } from 'vitest';
import { openMinidump } from '../../../src/dumps/minidump/open-minidump.ts';
import { AMD64_CONTEXT_BYTES, MinidumpBuilder, X86_CONTEXT_BYTES, amd64Context, concat, x86Context } from './builder.ts';
import { tempFiles } from './temp-files.ts';

const temp = tempFiles();
const AMD64 = 9;

describe('WoW64', () => {
  it('x86 CONTEXTs under an AMD64 SystemInfo read as x86, with a note', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: AMD64, PlatformId: 2 });
    const context = b.data(x86Context({ Eip: 0x00401000, Esp: 0x0019ff00 }));
    b.threadList([{ ThreadId: 0x20, Teb: 0x7efdd000n, context: { rva: context, size: X86_CONTEXT_BYTES } }]);
    b.exception({ ThreadId: 0x20, ExceptionCode: 0xc0000005, ExceptionAddress: 0x401000n, parameters: [0n, 0x10n], context: { rva: context, size: X86_CONTEXT_BYTES } });
    const dump = openMinidump(temp.write('wow64-x86-contexts.dmp', b.build()));
    expect(dump.arch).toBe('x86');
    expect(dump.threads[0]!.contexts.map((c) => [c.label, c.registers.eip])).toEqual([['.ecxr', 0x401000n], ['thread 0x20', 0x401000n]]);
    expect(dump.notes.map((n) => n.message).join()).toMatch(/SystemInfo says AMD64 but the contexts are x86 CONTEXTs/);
    dump.close();
  });

  it('64-bit contexts with wow64.dll loaded: the x86 contexts come from the TEBs', () => {
    const teb = 0x7ffdf000n;
    const cpuReserved = 0x50000n;
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: AMD64, PlatformId: 2 });
    const context64 = b.data(amd64Context({ Rip: 0x77a01234n, Rsp: 0x4e000n }));
    b.threadList([{ ThreadId: 0x30, Teb: teb, context: { rva: context64, size: AMD64_CONTEXT_BYTES } }, { ThreadId: 0x31, Teb: 0x7ffdc000n, context: { rva: context64, size: AMD64_CONTEXT_BYTES } }]);
    b.moduleList([{ base: 0x400000n, size: 0x1000, name: 'C:\\app\\app32.exe' }, { base: 0x77a00000n, size: 0x50000, name: 'C:\\Windows\\System32\\wow64.dll' }]);
    const tlsSlot = new Uint8Array(8);
    new DataView(tlsSlot.buffer).setBigUint64(0, cpuReserved, true);
    b.memoryList([
      { start: teb + 0x1480n + 8n, bytes: tlsSlot },
      { start: cpuReserved, bytes: concat([Uint8Array.of(0, 0, 0x4c, 0x01), x86Context({ Eip: 0x00401234, Esp: 0x0019fe00, Eax: 0xdead })]) },
    ]);
    const dump = openMinidump(temp.write('wow64-teb.dmp', b.build()));
    expect(dump.arch).toBe('x86');
    expect(dump.threads[0]!.contexts).toEqual([expect.objectContaining({ address: cpuReserved + 4n, registers: expect.objectContaining({ eip: 0x401234n, esp: 0x19fe00n, eax: 0xdeadn }) })]);
    expect(dump.threads[1]!.contexts).toEqual([]); // its TEB is not in the dump
    expect(dump.notes.map((n) => n.message).join()).toMatch(/x86 contexts of 1 of 2 threads were read from their TEBs/);
    dump.close();
  });

  it('64-bit contexts with wow64.dll loaded but no TEB in the dump stay x64, with a warning', () => {
    const b = new MinidumpBuilder();
    b.systemInfo({ ProcessorArchitecture: AMD64, PlatformId: 2 });
    const context64 = b.data(amd64Context({ Rip: 0x77a01234n }));
    b.threadList([{ ThreadId: 0x30, Teb: 0x7ffdf000n, context: { rva: context64, size: AMD64_CONTEXT_BYTES } }]);
    b.moduleList([{ base: 0x77a00000n, size: 0x50000, name: 'C:\\Windows\\System32\\WOW64.DLL' }]);
    const dump = openMinidump(temp.write('wow64-no-teb.dmp', b.build()));
    expect(dump.arch).toBe('x64');
    expect(dump.threads[0]!.contexts[0]!.registers).toMatchObject({ rip: 0x77a01234n, gs_base: 0x7ffdf000n });
    expect(dump.notes).toContainEqual(expect.objectContaining({ level: 'warning', message: expect.stringMatching(/no thread's x86 context is in the dump/) }));
    dump.close();
  });
});
