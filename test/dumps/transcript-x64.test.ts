/**
 * x64 kd transcripts written the way WinDbg prints them: 16-digit registers,
 * backtick addresses, `dqs`, a `u` listing, `.cxr` for a 0x3B
 * SYSTEM_SERVICE_EXCEPTION, and a `.trap` whose frame lacks the
 * non-volatile registers. x64 WinDbg prints the parity pair the other way
 * round from x86 (`po` with PF set): efl=00010246 shows as `zr na po nc`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

const CXR_SESSION = `Microsoft (R) Windows Debugger Version 6.12.0002.633 AMD64
0: kd> .bugcheck
Bugcheck code 0000003B
Arguments 00000000\`c0000005 fffff800\`02a93b9b fffff880\`0b3e5a90 00000000\`00000000
0: kd> .cxr fffff880\`0b3e5a90
rax=0000000000000000 rbx=fffffa8004d1b060 rcx=fffffa8005d4e060
rdx=0000000000000000 rsi=0000000000000001 rdi=fffffa8004d1b060
rip=fffff80002a93b9b rsp=fffff8800b3e6470 rbp=fffff8800b3e6540
 r8=0000000000000000  r9=0000000000000000 r10=fffff80002a1d000
r11=fffff8800b3e6440 r12=0000000000000000 r13=0000000000000000
r14=0000000000000000 r15=fffffa8003c6a040
iopl=0         nv up ei pl zr na po nc
cs=0010  ss=0018  ds=002b  es=002b  fs=0053  gs=002b             efl=00010246
nt!ObfDereferenceObject+0x2b:
fffff800\`02a93b9b 488b01          mov     rax,qword ptr [rcx] ds:002b:fffffa80\`05d4e060=fffffa8004d1b0c0
0: kd> dqs fffff880\`0b3e6470 l4
fffff880\`0b3e6470  fffffa80\`04d1b060
fffff880\`0b3e6478  fffff800\`02d8e2a4 nt!ObpCloseHandleTableEntry+0x1b4
fffff880\`0b3e6480  00000000\`00000000
fffff880\`0b3e6488  ????????\`????????
0: kd> u nt!ObfDereferenceObject l5
nt!ObfDereferenceObject:
fffff800\`02a93b70 48895c2408      mov     qword ptr [rsp+8],rbx
fffff800\`02a93b75 57              push    rdi
fffff800\`02a93b76 4883ec20        sub     rsp,20h
fffff800\`02a93b7a 833d7fa3200000  cmp     dword ptr [nt!ObpTraceFlags (fffff800\`02c9df00)],0
fffff800\`02a93b81 488bf9          mov     rdi,rcx
0: kd> k
Child-SP          RetAddr           Call Site
fffff880\`0b3e6470 fffff800\`02d8e2a4 nt!ObfDereferenceObject+0x2b
`;

const TRAP_SESSION = `0: kd> .trap fffff880\`0b3e5f20
NOTE: The trap frame does not contain all registers.
Some register values may be zeroed or incorrect.
rax=0000000000000000 rbx=0000000000000000 rcx=fffffa8005d4e060
rdx=0000000000000000 rsi=0000000000000000 rdi=0000000000000000
rip=fffff80002a93b9b rsp=fffff8800b3e60b0 rbp=fffff8800b3e6140
 r8=0000000000000000  r9=0000000000000000 r10=0000000000000000
r11=0000000000000000 r12=0000000000000000 r13=0000000000000000
r14=0000000000000000 r15=0000000000000000
iopl=0         nv up ei ng nz na pe nc
nt!KiPageFault+0x260:
fffff800\`02a93b9b 488b01          mov     rax,qword ptr [rcx] ds:fffffa80\`05d4e068=????????????????
`;

const le64 = (value: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
};

describe('x64 kd transcript with .cxr, dqs and u', () => {
  const dump = loadTranscript('x64-cxr.txt', CXR_SESSION);

  it('is x64, with the 0x3B bugcheck and its backtick arguments', () => {
    expect(dump.arch).toBe('x64');
    expect(dump.fault).toMatchObject({ kind: 'bugcheck', code: 0x3bn, parameters: [0xc0000005n, 0xfffff80002a93b9bn, 0xfffff8800b3e5a90n, 0n] });
  });

  it('reads every register of the .cxr block, and only those', () => {
    const [context] = dump.threads[0]!.contexts;
    expect(context).toMatchObject({ kind: 'context', label: '.cxr fffff880`0b3e5a90', address: 0xfffff8800b3e5a90n });
    expect(context!.registers).toEqual({
      rax: 0n, rbx: 0xfffffa8004d1b060n, rcx: 0xfffffa8005d4e060n,
      rdx: 0n, rsi: 1n, rdi: 0xfffffa8004d1b060n,
      rip: 0xfffff80002a93b9bn, rsp: 0xfffff8800b3e6470n, rbp: 0xfffff8800b3e6540n,
      r8: 0n, r9: 0n, r10: 0xfffff80002a1d000n,
      r11: 0xfffff8800b3e6440n, r12: 0n, r13: 0n,
      r14: 0n, r15: 0xfffffa8003c6a040n,
      cs: 0x10n, ss: 0x18n, ds: 0x2bn, es: 0x2bn, fs: 0x53n, gs: 0x2bn, efl: 0x10246n,
    });
  });

  it('reads dqs values as little-endian qwords, leaving ???????? absent', () => {
    expect(dump.memory.read(0xfffff8800b3e6478n, 8)).toEqual(le64(0xfffff80002d8e2a4n));
    expect(dump.memory.read(0xfffff8800b3e6470n, 24)).toBeDefined();
    expect(dump.memory.read(0xfffff8800b3e6488n, 1)).toBeUndefined();
    expect(dump.memory.provenanceOf(0xfffff8800b3e6478n)).toEqual({ source: 'dqs fffff880`0b3e6470 l4', line: 18 });
  });

  it('reads the u listing as code and the effective-address note as data', () => {
    expect(dump.memory.read(0xfffff80002a93b70n, 5)).toEqual(Uint8Array.of(0x48, 0x89, 0x5c, 0x24, 0x08));
    expect(dump.memory.ranges().find((r) => r.start === 0xfffff80002a93b70n)?.kind).toBe('code');
    expect(dump.memory.read(0xfffffa8005d4e060n, 8)).toEqual(le64(0xfffffa8004d1b0c0n));
    expect(dump.memory.ranges().find((r) => r.start === 0xfffffa8005d4e060n)?.kind).toBe('data');
  });

  it('formats symbols and unknown addresses like WinDbg on x64', () => {
    expect(dump.symbols.format(0xfffff80002a93b9bn)).toBe('nt!ObfDereferenceObject+0x2b');
    expect(dump.symbols.resolve('nt!ObfDereferenceObject')).toBe(0xfffff80002a93b70n);
    expect(dump.symbols.format(0xfffff80002d8e2a4n)).toBe('nt!ObpCloseHandleTableEntry+0x1b4');
    expect(dump.symbols.resolve('nt!ObpTraceFlags')).toBe(0xfffff80002c9df00n);
    expect(dump.symbols.format(0xfffff8800b3e6470n)).toBe('fffff880`0b3e6470');
  });

  it('skips the banner, keeping its text, and reads k as a recorded stack', () => {
    const skipped = dump.notes.filter((n) => /skipped/i.test(n.message));
    expect(skipped.map((n) => n.provenance?.line)).toEqual([1]);
    const [stack] = dump.threads[0]!.recordedStacks!;
    expect(stack!.frames).toMatchObject([{ index: 0, frameAddress: 0xfffff8800b3e6470n, returnAddress: 0xfffff80002d8e2a4n, site: 'nt!ObfDereferenceObject+0x2b', provenance: { line: 30 } }]);
    expect(dump.notes.filter((n) => n.level === 'warning')).toEqual([]);
  });
});

describe('x64 .trap whose frame lacks non-volatile registers', () => {
  const dump = loadTranscript('x64-trap.txt', TRAP_SESSION);
  const [trap] = dump.threads[0]!.contexts;
  const UNSAVED = ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'] as const;

  it('marks rbx, rsi, rdi and r12-r15 unknown, keeping the zeros WinDbg shows', () => {
    expect(trap!.unknown).toEqual(UNSAVED);
    for (const name of UNSAVED) expect(trap!.registers[name]).toBe(0n);
    expect(trap!.registers.rax).toBe(0n);
    expect(trap!.registers.rcx).toBe(0xfffffa8005d4e060n);
    expect(trap!.registers.r11).toBe(0n);
    expect(dump.notes.some((n) => n.message.includes('does not save rbx, rsi, rdi, r12, r13, r14, r15'))).toBe(true);
  });

  it('marks them unknown without the NOTE too, whatever values are shown; x86 trap frames save every register', () => {
    const noNote = TRAP_SESSION.replace(/NOTE:.*\n.*incorrect\.\n/, '').replace('rsi=0000000000000000', 'rsi=fffffa8004d1b060');
    const [context] = loadTranscript('x64-trap-no-note.txt', noNote).threads[0]!.contexts;
    expect(noNote).not.toContain('NOTE');
    expect(context!.unknown).toEqual(UNSAVED);
    expect(context!.registers.rsi).toBe(0xfffffa8004d1b060n);
    const x86 = loadTranscript('x86-trap.txt', readFileSync('test/fixtures/transcripts/ipi-call-target-bitflip.txt', 'utf8'));
    expect(x86.threads[0]!.contexts[0]).toMatchObject({ kind: 'trap-frame' });
    expect(x86.threads[0]!.contexts[0]!.unknown).toBeUndefined();
  });

  it('builds efl from iopl and the flag mnemonics when no efl= is shown, pe meaning PF clear on x64', () => {
    // ei (IF, 0x200) + ng (SF, 0x80) + reserved bit 1; x64 `pe` is PF clear.
    expect(trap!.registers.efl).toBe(0x282n);
    expect(trap!.registers.cs).toBeUndefined();
    expect(dump.notes.some((n) => n.level === 'info' && n.message.includes('efl=282'))).toBe(true);
  });

  it('gives the pc its symbol and leaves the unreadable operand absent', () => {
    expect(dump.symbols.format(0xfffff80002a93b9bn)).toBe('nt!KiPageFault+0x260');
    expect(dump.memory.read(0xfffff80002a93b9bn, 3)).toEqual(Uint8Array.of(0x48, 0x8b, 0x01));
    expect(dump.memory.read(0xfffffa8005d4e068n, 1)).toBeUndefined();
  });
});

describe('the parity mnemonic, read as each WinDbg prints it', () => {
  const X86_BLOCK = (efl: string, flags: string) => [
    '0:000> r',
    'eax=00000000 ebx=003e49f8 ecx=00000000 edx=003e3818 esi=0000002a edi=00000000',
    `eip=004015a4 esp=0020fc40 ebp=0020fc58 iopl=0         ${flags}`,
    `cs=001b  ss=0023  ds=0023  es=0023  fs=003b  gs=0000             efl=${efl}`,
  ].join('\n');
  const X64_BLOCK = (efl: string, flags: string) => [
    '0:000> r',
    'rax=0000000000000000 rbx=0000000000000000 rcx=00007ffc81a954d4',
    'rdx=0000000000000000 rsi=0000000000000000 rdi=0000000000000001',
    'rip=00007ff791d81014 rsp=00000000006ff8b0 rbp=0000000000000000',
    ' r8=00000000006ff808  r9=0000000000000000 r10=0000000000000000',
    'r11=0000000000000000 r12=0000000000000000 r13=0000000000000000',
    'r14=0000000000000000 r15=0000000000000000',
    `iopl=0         ${flags}`,
    `cs=0033  ss=002b  ds=002b  es=002b  fs=0053  gs=002b             efl=${efl}`,
  ].join('\n');
  const warnings = (text: string) => loadTranscript('parity.txt', text).notes.filter((n) => n.level === 'warning').map((n) => n.message);

  // As sessions print them: x86 0x10246 as `pe` (onehttpd+0x15a4), x64 0x10246 as `po` (CrashAV_x64!wmain+0x14).
  it.each([
    ['x86', '00010246', 'pe', X86_BLOCK('00010246', 'nv up ei pl zr na pe nc')],
    ['x86', '00010202', 'po', X86_BLOCK('00010202', 'nv up ei pl nz na po nc')],
    ['x64', '00010246', 'po', X64_BLOCK('00010246', 'nv up ei pl zr na po nc')],
    ['x64', '00010202', 'pe', X64_BLOCK('00010202', 'nv up ei pl nz na pe nc')],
  ])('%s: efl=%s shown with %s agrees', (_arch, _efl, _parity, text) => {
    expect(warnings(text)).toEqual([]);
  });

  it.each([
    ['x86', 'po', X86_BLOCK('00010246', 'nv up ei pl zr na po nc')],
    ['x64', 'pe', X64_BLOCK('00010246', 'nv up ei pl zr na pe nc')],
  ])('%s: efl=00010246 shown with %s disagrees (PF would be clear)', (_arch, _parity, text) => {
    // The mnemonics cover 0x3ed7, not RF (0x10000): they say 0x242, efl has 0x246.
    expect(warnings(text)).toEqual(['`r` shows efl=10246 but its flag words say 242 (bits 3ed7); keeping efl']);
  });
});
