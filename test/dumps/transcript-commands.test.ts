/**
 * Command families beyond the IPI fixture: db/dc with ASCII columns, dw/dq,
 * x/ln/lm, cdb prompts and .exr, `r` inside a `.trap` scope, disagreeing
 * flags, memory edits. Transcripts are written as WinDbg prints them.
 */
import { describe, expect, it } from 'vitest';
import { loadTranscript } from '../../src/dumps/transcript/loader.ts';

describe('memory displays', () => {
  it('reads db bytes across the dash, not the ASCII column', () => {
    const dump = loadTranscript('db.txt', [
      '1: kd> db 80a5b020 l14',
      '80a5b020  e4 e3 82 80 41 42 43 44-10 d8 a5 80 00 00 00 00  ....ABCD........',
      '80a5b030  61 62 20 64                                      ab d',
    ].join('\n'));
    expect(dump.memory.read(0x80a5b020n, 16)).toEqual(Uint8Array.of(0xe4, 0xe3, 0x82, 0x80, 0x41, 0x42, 0x43, 0x44, 0x10, 0xd8, 0xa5, 0x80, 0, 0, 0, 0));
    expect(dump.memory.read(0x80a5b030n, 4)).toEqual(Uint8Array.of(0x61, 0x62, 0x20, 0x64));
    expect(dump.memory.read(0x80a5b034n, 1)).toBeUndefined();
  });

  it('does not take an ASCII column that looks like hex for a value', () => {
    // Bytes 'd','e','a','d' render as "dead"; a greedy reader would store 0xde 0xad.
    const dump = loadTranscript('db-hex-ascii.txt', '0:000> db 00403000 l4\n00403000  64 65 61 64 dead\n');
    expect(dump.memory.read(0x00403000n, 4)).toEqual(Uint8Array.of(0x64, 0x65, 0x61, 0x64));
    expect(dump.memory.read(0x00403004n, 1)).toBeUndefined();
    const dc = loadTranscript('dc.txt', '0:000> dc 00403000 l2\n00403000  64616564 66656562  deadbeef\n');
    expect(dc.memory.read(0x00403000n, 8)).toEqual(new TextEncoder().encode('deadbeef'));
    expect(dc.memory.read(0x00403008n, 1)).toBeUndefined();
  });

  it('reads dw and dq little-endian and skips unreadable values', () => {
    const dump = loadTranscript('dw.txt', [
      '1: kd> dw 80a5b020 l4',
      '80a5b020  e3e4 8082 ???? 80a5',
      '1: kd> dq 80a5b030 l2',
      '80a5b030  00000000`80a5d8fc ????????`????????',
    ].join('\n'));
    expect(dump.memory.read(0x80a5b020n, 4)).toEqual(Uint8Array.of(0xe4, 0xe3, 0x82, 0x80));
    expect(dump.memory.read(0x80a5b024n, 1)).toBeUndefined();
    expect(dump.memory.read(0x80a5b026n, 2)).toEqual(Uint8Array.of(0xa5, 0x80));
    expect(dump.memory.read(0x80a5b030n, 8)).toEqual(Uint8Array.of(0xfc, 0xd8, 0xa5, 0x80, 0, 0, 0, 0));
    expect(dump.memory.read(0x80a5b038n, 1)).toBeUndefined();
  });

  it('notes lines of a display it cannot read', () => {
    const dump = loadTranscript('dd.txt', '1: kd> dd 80a5b020\nMemory access error at \'80a5b020\'\n');
    expect(dump.notes[0]).toMatchObject({ level: 'info', message: expect.stringContaining('Memory access error'), provenance: { line: 2 } });
    // Nothing printed an address of known width or a register block.
    expect(dump.notes[1]!.message).toContain('assuming x64');
  });
});

describe('symbol listings', () => {
  it('reads x, x /v, ln (with the next symbol bounding the size) and lm', () => {
    const dump = loadTranscript('symbols.txt', [
      '1: kd> x hal!HalBeginSystemInterrupt',
      '80a604be          hal!HalBeginSystemInterrupt (<no parameter info>)',
      '1: kd> x /v hal!HalpIpiHandler',
      'prv func   80a5d830   d0 hal!HalpIpiHandler (void)',
      '1: kd> ln 8082e3e1',
      '(8082e3aa)   nt!KiCheckForKernelApcDelivery+0x37   |  (8082e3e8)   nt!KiDeliverApc',
      'Exact matches:',
      '1: kd> lm',
      'start    end        module name',
      '804d7000 806cd280   nt         (pdb symbols)          c:\\symbols\\ntkrpamp.pdb',
      '806ce000 806ee380   hal        (deferred)',
      '',
      'Unloaded modules:',
      'f7a4e000 f7a5c000   Fs_Rec.SYS',
    ].join('\n'));
    expect(dump.symbols.resolve('hal!HalBeginSystemInterrupt')).toBe(0x80a604ben);
    expect(dump.symbols.format(0x80a5d8fcn)).toBe('hal!HalpIpiHandler+0xcc');
    // Sized 0xd0 by x /v: 80a5d900 is past its end and in no module listed.
    expect(dump.symbols.format(0x80a5d900n)).toBe('80a5d900');
    expect(dump.symbols.format(0x8082e3e1n)).toBe('nt!KiCheckForKernelApcDelivery+0x37');
    expect(dump.symbols.lookup(0x8082e3e7n)?.symbol).toBe('KiCheckForKernelApcDelivery');
    expect(dump.symbols.format(0x8082e3e8n)).toBe('nt!KiDeliverApc');
    expect(dump.modules.map((m) => [m.name, m.base, m.size])).toEqual([['nt', 0x804d7000n, 0x1f6280n], ['hal', 0x806ce000n, 0x20380n]]);
    expect(dump.symbols.format(0x806ce010n)).toBe('hal+0x10');
    expect(dump.notes).toEqual([]);
  });
});

describe('cdb sessions', () => {
  const dump = loadTranscript('cdb.txt', [
    '0:000> .exr -1',
    'ExceptionAddress: 00401012 (app!main+0x00000012)',
    '   ExceptionCode: c0000005 (Access violation)',
    '  ExceptionFlags: 00000000',
    'NumberParameters: 2',
    '   Parameter[0]: 00000001',
    '   Parameter[1]: 00000000',
    'Attempt to write to address 00000000',
    '0:002> r',
    'eax=00000000 ebx=7ffd9000 ecx=00000001 edx=00000000 esi=00000000 edi=00000000',
    'eip=00401012 esp=0012ff68 ebp=0012ff70 iopl=0         nv up ei pl zr na pe nc',
    'cs=001b  ss=0023  ds=0023  es=0023  fs=003b  gs=0000             efl=00010246',
    'app!main+0x12:',
    '00401012 c70001000000    mov     dword ptr [eax],1    ds:0023:00000000=????????',
  ].join('\n'));

  it('reads the exception record as the fault', () => {
    expect(dump.fault).toMatchObject({ kind: 'exception', code: 0xc0000005n, address: 0x401012n, parameters: [1n, 0n], threadId: 0 });
    expect(dump.symbols.resolve('app!main')).toBe(0x401000n);
  });

  it('puts r output on the thread the prompt names', () => {
    expect(dump.threads.map((t) => t.id)).toEqual([2]);
    expect(dump.threads[0]!.contexts[0]).toMatchObject({ kind: 'thread', label: 'r', registers: { eip: 0x401012n, efl: 0x10246n } });
    expect(dump.memory.read(0n, 1)).toBeUndefined();
  });
});

describe('register contexts', () => {
  const TRAP = [
    '1: kd> .trap f78aec38',
    'ErrCode = 00000010',
    'eax=0e364a01 ebx=f78aed50 ecx=f78aecb8 edx=000000e1 esi=f7727ec0 edi=f75d9ca2',
    'eip=8082e3e1 esp=f78aecac ebp=f78aecc0 iopl=0         nv up ei pl nz na po nc',
    'cs=0008  ss=0010  ds=0023  es=0023  fs=0030  gs=0000             efl=00000202',
  ];

  it('merges r after .trap into the trap frame, warning on a disagreement', () => {
    const dump = loadTranscript('scope.txt', [...TRAP, '1: kd> r eax', 'eax=0e364a01', '1: kd> r ebx', 'ebx=00000000'].join('\n'));
    expect(dump.threads[0]!.contexts).toHaveLength(1);
    expect(dump.threads[0]!.contexts[0]!.errorCode).toBe(0x10n);
    expect(dump.threads[0]!.contexts[0]!.registers.ebx).toBe(0xf78aed50n);
    expect(dump.notes).toMatchObject([{ level: 'warning', message: expect.stringContaining('ebx=0'), provenance: { line: 9 } }]);
  });

  it('adds a thread context after the scope is reset, and puts the fault context first', () => {
    const dump = loadTranscript('reset.txt', [
      '1: kd> .bugcheck', 'Bugcheck code 0000008E', 'Arguments 80000003 8082e3e0 f78aec38 00000000',
      '0: kd> r eip', 'eip=80545a10',
      ...TRAP,
      '1: kd> .trap', 'Resetting default scope',
      '1: kd> r esp', 'esp=f78ae9d0',
    ].join('\n'));
    expect(dump.threads.map((t) => t.id)).toEqual([1, 0]);
    expect(dump.threads[0]!.contexts.map((c) => c.kind)).toEqual(['trap-frame', 'thread']);
    expect(dump.threads[0]!.contexts[1]!.registers).toEqual({ esp: 0xf78ae9d0n });
  });

  it('warns when efl and the flag mnemonics disagree', () => {
    const dump = loadTranscript('flags.txt', TRAP.join('\n').replace('pl nz na po nc', 'pl zr na po nc'));
    expect(dump.notes).toMatchObject([{ level: 'warning', message: expect.stringContaining('efl=202') }]);
  });

  it('warns that memory edits make later output unreliable', () => {
    const dump = loadTranscript('edit.txt', '1: kd> ed 80a5b020 8082e3e0\n1: kd> dd 80a5b020 l1\n80a5b020  8082e3e0\n');
    expect(dump.notes).toMatchObject([{ level: 'warning', message: expect.stringContaining('edits memory') }]);
  });
});
