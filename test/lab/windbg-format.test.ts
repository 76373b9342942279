/**
 * The lab transcript writer's WinDbg formats, pinned to lines WinDbg
 * printed in real sessions (quoted from public crash reports and
 * Microsoft's documentation; the ARM64 disassembly from Microsoft's ARM64
 * disassembler as dumpbin prints it, which WinDbg shares). Each case feeds
 * the values of the real line to the writer and expects the same text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecoder, type Decoder } from '../../lab/writers/disasm/decoder.ts';
import { windbgInstruction, type AddressNames } from '../../lab/writers/disasm/windbg-text.ts';
import { exceptionRecord, bugcheck } from '../../lab/writers/transcript/fault-commands.ts';
import { masmHex, windbgAddress } from '../../lab/writers/transcript/hex.ts';
import { instructionLine, type ListingView } from '../../lab/writers/transcript/listing.ts';
import { flagText, psrText, registerBlock } from '../../lab/writers/transcript/register-block.ts';
import { stackTrace } from '../../lab/writers/transcript/stack-commands.ts';
import type { SymbolIndex } from '../../lab/writers/crash/symbols.ts';
import type { WriterArch } from '../../lab/writers/crash/registers.ts';

const noNames: AddressNames = { format: () => undefined };

function hexBytes(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** An ARM64 instruction word as it lies in memory. */
function word(value: number): Uint8Array {
  return Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
}

function registers(line: string): Record<string, bigint> {
  return Object.fromEntries([...line.matchAll(/([a-z0-9]+)=([0-9a-f]+)/g)].map((m) => [m[1]!, BigInt(`0x${m[2]}`)]));
}

describe('numbers', () => {
  it.each([
    ['x64', 0x7ff61bcfa9a3n, '00007ff6`1bcfa9a3'],
    ['arm64', 0x5500000da4n, '00000055`00000da4'],
    ['x86', 0x6cba388bn, '6cba388b'],
  ] as const)('%s address %s prints as %s', (arch, value, text) => {
    expect(windbgAddress(arch, value)).toBe(text);
  });

  it.each([[0n, '0'], [9n, '9'], [0x2an, '2Ah'], [0xa0n, '0A0h'], [0x28n, '28h'], [0xfffffff8n, '0FFFFFFF8h']])('immediate %s is %s', (value, text) => {
    expect(masmHex(value)).toBe(text);
  });
});

describe('register blocks', () => {
  it('x64 `r`, as WinDbg printed it for EXR!ReadEXR+0x40ef1', () => {
    const real = [
      'rax=0000000000003c00 rbx=0000000000000008 rcx=00000000cccccccc',
      'rdx=0000000000003c00 rsi=0000000000000001 rdi=0000000000000001',
      'rip=00007ff9def42de1 rsp=00000020ddefd050 rbp=00000020ddefd150',
      ' r8=00000000cccccccc  r9=000001ea00d1f6f6 r10=00000000ccccccea',
      'r11=0000000007800000 r12=0000000000000001 r13=00000000ffffffff',
      'r14=0000000033333334 r15=00000000cccccccc',
      'iopl=0         nv up ei ng nz na po cy',
      'cs=0033  ss=002b  ds=002b  es=002b  fs=0053  gs=002b             efl=00010285',
    ];
    const values = registers(real.join(' '));
    expect(registerBlock('x64', { ...values, eflags: values.efl! })).toEqual(real);
  });

  it('x86 `.ecxr`, as WinDbg printed it for qt5core!operator<<+0xa', () => {
    const real = [
      'eax=0110f8c8 ebx=015c5200 ecx=00000000 edx=015965b8 esi=015c5200 edi=0110f974',
      'eip=7bbcc5ea esp=0110f85c ebp=0110f8c0 iopl=0         nv up ei pl zr na pe nc',
      'cs=0023  ss=002b  ds=002b  es=002b  fs=0053  gs=002b             efl=00210246',
    ];
    const values = registers(real.join(' '));
    expect(registerBlock('x86', { ...values, eflags: values.efl! })).toEqual(real);
  });

  it('ARM64 `r`, as WinDbg prints it', () => {
    const real = [
      ' x0=0000000000000078   x1=000002037b0069e0   x2=0000000000000010   x3=000000293a8ff9f0',
      ' x4=000000293a8ffb90   x5=000000293a8ff9eb   x6=0000000000000000   x7=0000000000000000',
      ' x8=0000000000000072   x9=0000000000000000  x10=0000000000000000  x11=ffffffffff817aa9',
      'x12=00007ffea822efe0  x13=0000000000000967  x14=00007ffea8241b1e  x15=00007ffea822f008',
      'x16=0000000000000000  x17=0000000000000000  x18=0000000000000000  x19=000002037b006d60',
      'x20=000002037b0069e0  x21=000002037b004c10  x22=0000000000000010  x23=000000007ffe03c0',
      'x24=0000000000000001  x25=0000000000000000  x26=000000293a8ff9e0  x27=0000000000000010',
      'x28=0000000000000000   fp=000000293a8ffc10   lr=00007ffea80f7388   sp=000000293a8ff9e0',
      ' pc=00007ffea80e30f4  psr=60000000 -ZC- EL0',
    ];
    const values = registers(real.join(' '));
    expect(registerBlock('arm64', { ...values, x29: values.fp!, x30: values.lr!, pstate: values.psr! })).toEqual(real);
  });

  // Real sessions: x86 0x246 (SeAccessCheckByType), 0x202 (FreeImage_HasPixels); x64 0x246 (CrashAV_x64!wmain), 0x202 (libdwarf64!dwarf_errmsg).
  it.each([
    ['x86', 0x10246n, 'iopl=0         nv up ei pl zr na pe nc'],
    ['x86', 0x10202n, 'iopl=0         nv up ei pl nz na po nc'],
    ['x64', 0x10246n, 'iopl=0         nv up ei pl zr na po nc'],
    ['x64', 0x10202n, 'iopl=0         nv up ei pl nz na pe nc'],
  ] as const)('%s efl %s shows %s', (arch, efl, text) => {
    expect(flagText(efl, arch)).toBe(text);
  });

  it.each([[0x60000000n, '-ZC- EL0'], [0x80000040n, 'N--- EL0']])('psr %s shows %s', (psr, text) => {
    expect(psrText(psr)).toBe(text);
  });
});

describe('disassembly', () => {
  const decoders = new Map<WriterArch, Decoder>();
  beforeAll(async () => {
    for (const arch of ['x86', 'x64', 'arm64'] as const) decoders.set(arch, await createDecoder(arch));
  });
  afterAll(() => decoders.forEach((d) => d.close()));

  const text = (arch: WriterArch, bytes: Uint8Array, address = 0x1000n, names = noNames) => windbgInstruction(arch, decoders.get(arch)!.decode(bytes, address)!, names);

  it.each([
    ['c70001000000', 'mov     dword ptr [rax],1'],
    ['488b08', 'mov     rcx,qword ptr [rax]'],
    ['4883baa000000000', 'cmp     qword ptr [rdx+0A0h],0'],
    ['66418901', 'mov     word ptr [r9],ax'],
    ['0fb74364', 'movzx   eax,word ptr [rbx+64h]'],
    ['cd29', 'int     29h'],
    ['48f7f1', 'div     rax,rcx'],
    ['f77c2428', 'idiv    eax,dword ptr [rsp+28h]'],
    ['c3', 'ret'],
  ])('x64 %s is `%s`', (bytes, expected) => {
    expect(text('x64', hexBytes(bytes))).toBe(expected);
  });

  it.each([
    ['8b4804', 'mov     ecx,dword ptr [eax+4]'],
    ['ff36', 'push    dword ptr [esi]'],
    ['833800', 'cmp     dword ptr [eax],0'],
    ['8b11', 'mov     edx,dword ptr [ecx]'],
    ['cc', 'int     3'],
  ])('x86 %s is `%s`', (bytes, expected) => {
    expect(text('x86', hexBytes(bytes))).toBe(expected);
  });

  it('x64 call targets name the symbol and the address, as in `u rip` on r_cons', () => {
    const names: AddressNames = { format: (a) => (a === 0x7fff912b7a60n ? 'r_cons+0x7a60' : undefined) };
    expect(text('x64', hexBytes('e8c2c2ffff'), 0x7fff912bb799n, names)).toBe('call    r_cons+0x7a60 (00007fff`912b7a60)');
  });

  it.each([
    [0xd43e0000, 'brk         #0xF000'],
    [0xa9bd7bfd, 'stp         fp,lr,[sp,#-0x30]!'],
    [0x910003fd, 'mov         fp,sp'],
    [0xd2800008, 'mov         x8,#0'],
    [0xa8c37bfd, 'ldp         fp,lr,[sp],#0x30'],
    [0xf9400fe1, 'ldr         x1,[sp,#0x18]'],
    [0xb90013e0, 'str         w0,[sp,#0x10]'],
    [0x9100e3e8, 'add         x8,sp,#0x38'],
    [0xd10103ff, 'sub         sp,sp,#0x40'],
    [0xa9008be1, 'stp         x1,x2,[sp,#8]'],
    [0x2a0003e0, 'mov         w0,w0'],
    [0xd65f03c0, 'ret'],
  ])('ARM64 %s is `%s`', (value, expected) => {
    expect(text('arm64', word(value))).toBe(expected);
  });

  it('lines carry the effective-address note where WinDbg puts it', () => {
    const view = (arch: WriterArch) => ({ arch, symbols: noNames as unknown as SymbolIndex }) as unknown as ListingView;
    const x86 = decoders.get('x86')!.decode(hexBytes('ff36'), 0x76c23e8dn)!;
    expect(instructionLine(view('x86'), x86, 'ds:0023:4141413d=????????')).toBe('76c23e8d ff36            push    dword ptr [esi]      ds:0023:4141413d=????????');
    const x64 = decoders.get('x64')!.decode(hexBytes('c70001000000'), 0x7ff7f3306ba3n)!;
    expect(instructionLine(view('x64'), x64, 'ds:00000000`00000000=????????')).toBe('00007ff7`f3306ba3 c70001000000    mov     dword ptr [rax],1 ds:00000000`00000000=????????');
    const arm64 = decoders.get('arm64')!.decode(word(0xd43e0000), 0x7ff7a094a8a8n)!;
    expect(instructionLine(view('arm64'), arm64)).toBe('00007ff7`a094a8a8 d43e0000 brk         #0xF000');
  });
});

describe('fault and stack commands', () => {
  const symbols = (name: string, start: bigint) => ({ format: (a: bigint, digits = 0) => `${name}+0x${(a - start).toString(16).padStart(digits, '0')}` }) as unknown as SymbolIndex;

  it('`.exr -1` of a write access violation, as for AccessV!main+0x101', () => {
    const exception = { code: 0xc0000005, flags: 0, address: 0x7ff66d771101n, parameters: [1n, 0n], contextPc: 0x7ff66d771101n };
    expect(exceptionRecord({ arch: 'x64', exception, symbols: symbols('AccessV!main', 0x7ff66d771000n) })).toEqual([
      'ExceptionAddress: 00007ff66d771101 (AccessV!main+0x0000000000000101)',
      '   ExceptionCode: c0000005 (Access violation)',
      '  ExceptionFlags: 00000000',
      'NumberParameters: 2',
      '   Parameter[0]: 0000000000000001',
      '   Parameter[1]: 0000000000000000',
      'Attempt to write to address 0000000000000000',
    ]);
  });

  it('`.exr -1` of an x86 read, as for win32ole!ole_encoding2cp+0xb', () => {
    const exception = { code: 0xc0000005, flags: 0, address: 0x6cba388bn, parameters: [0n, 4n], contextPc: 0x6cba388bn };
    expect(exceptionRecord({ arch: 'x86', exception, symbols: symbols('win32ole!ole_encoding2cp', 0x6cba3880n) })).toEqual([
      'ExceptionAddress: 6cba388b (win32ole!ole_encoding2cp+0x0000000b)',
      '   ExceptionCode: c0000005 (Access violation)',
      '  ExceptionFlags: 00000000',
      'NumberParameters: 2',
      '   Parameter[0]: 00000000',
      '   Parameter[1]: 00000004',
      'Attempt to read from address 00000004',
    ]);
  });

  it('`.exr -1` of abort()\'s fail-fast, as for ucrtbase!abort+0x4e', () => {
    const exception = { code: 0xc0000409, flags: 1, address: 0x7fff87badd7en, parameters: [7n], contextPc: 0x7fff87badd7en };
    expect(exceptionRecord({ arch: 'x64', exception, symbols: symbols('ucrtbase!abort', 0x7fff87badd30n) })).toEqual([
      'ExceptionAddress: 00007fff87badd7e (ucrtbase!abort+0x000000000000004e)',
      '   ExceptionCode: c0000409 (Security check failure or stack buffer overrun)',
      '  ExceptionFlags: 00000001',
      'NumberParameters: 1',
      '   Parameter[0]: 0000000000000007',
      'Subcode: 0x7 FAST_FAIL_FATAL_APP_EXIT',
    ]);
  });

  it('`.bugcheck` 0x1E sign-extends the code on x64, as !analyze shows Arg1: ffffffffc0000005', () => {
    const exception = { code: 0xc0000005, flags: 0, address: 0xfffff8036f6d2316n, parameters: [0n, 0x14n], contextPc: 0n };
    expect(bugcheck({ arch: 'x64', exception, symbols: symbols('nt', 0n) })).toEqual([
      'Bugcheck code 0000001E',
      'Arguments ffffffff`c0000005 fffff803`6f6d2316 00000000`00000000 00000000`00000014',
    ]);
  });

  it('`kb` headers are WinDbg\'s', () => {
    const view = (arch: WriterArch) => ({ arch, registers: arch === 'x86' ? { eip: 0n, esp: 0n } : { rip: 0n, rsp: 0n }, returnAddresses: [], symbols: { format: () => undefined }, memory: { readPointer: () => undefined } }) as unknown as Parameters<typeof stackTrace>[0];
    expect(stackTrace(view('x64')).slice(0, 2)).toEqual([
      '  *** Stack trace for last set context - .thread/.cxr resets it',
      ' # Child-SP          RetAddr               : Args to Child                                                           : Call Site',
    ]);
    expect(stackTrace(view('x86'))[1]).toBe(' # ChildEBP RetAddr  Args to Child              ');
  });
});
