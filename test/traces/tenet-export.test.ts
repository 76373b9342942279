/**
 * Tenet export, each line written by hand from Tenet's trace format
 * (tracers/README.md): line k holds the registers changed and memory touched
 * by instruction k-1, then the pc of instruction k; the first line every
 * register in Tenet's order (arch/x86.py: EAX EBX ECX EDX EBP ESP ESI EDI EIP).
 */
import { describe, expect, it } from 'vitest';
import { tenetLines } from '../../traces/export/tenet.ts';
import type { TraceHeader } from '../../traces/model.ts';
import { X86_HEADER, batchOf, x86Run } from './fixtures.ts';

describe('tenetLines', () => {
  it('writes an x86 trace as Tenet deltas', () => {
    expect([...tenetLines({ header: X86_HEADER, batches: x86Run() })]).toEqual([
      'EAX=0x0,EBX=0x7ffdf000,ECX=0x0,EDX=0x0,EBP=0xf78aecf0,ESP=0xf78aecb0,ESI=0x80a5d8fc,EDI=0x0,EIP=0x8082e3d8',
      'EAX=0x80a5d8fc,EIP=0x8082e3dd,mr=0x80a5b020:fcd8a580', // mov eax,[80a5b020]
      'ESP=0xf78aecac,EIP=0x8082e3de,mw=0xf78aecac:fcd8a580', // push eax
      'EAX=0x80a5d8fd,EIP=0x8082e3df', // inc eax (efl is not a Tenet register)
      'ESP=0xf78aeca8,EIP=0x80a5d8fc,mr=0x80a5b020:fcd8a580,mw=0xf78aeca8:e5e38280', // call [80a5b020]
      // int 3 changed nothing: no closing line.
    ]);
  });

  it('writes arm64 as X0–X30, SP, PC and closes with the last instruction at the stop pc', () => {
    const registers = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'nzcv'] as TraceHeader['registers'];
    const header: TraceHeader = {
      version: 1, arch: 'arm64', registers,
      startRegisters: {
        ...Object.fromEntries(registers.map((r) => [r, 0n])),
        x0: 0x1122334455667788n, x29: 0xfffffe0045670ff0n, x30: 0xfffffe0012330000n, sp: 0xfffffe0045670f00n, pc: 0xfffffe0012340000n,
      },
    };
    const batches = [
      batchOf(0, [
        { pc: 0xfffffe0012340000n, bytes: [0x1f, 0x20, 0x03, 0xd5] }, // nop
        { pc: 0xfffffe0012340004n, bytes: [0xe0, 0x0b, 0x00, 0xf9], mem: [{ kind: 'write', address: 0xfffffe0045670f10n, size: 8, value: 0x1122334455667788n }] }, // str x0,[sp,#0x10]
        { pc: 0xfffffe0012340008n, bytes: [0x40, 0x00, 0x00, 0x94], regs: [[30, 0xfffffe001234000cn], [32, 0x60000000n]] }, // bl .+0x100
      ]),
      batchOf(3, [], [{ kind: 'stop', index: 2, reason: 'reached until address', pc: 0xfffffe0012340108n }]),
    ];
    const zeros = Array.from({ length: 28 }, (_, i) => `X${i + 1}=0x0`).join(',');
    expect([...tenetLines({ header, batches })]).toEqual([
      `X0=0x1122334455667788,${zeros},X29=0xfffffe0045670ff0,X30=0xfffffe0012330000,SP=0xfffffe0045670f00,PC=0xfffffe0012340000`,
      'PC=0xfffffe0012340004',
      'PC=0xfffffe0012340008,mw=0xfffffe0045670f10:8877665544332211',
      'X30=0xfffffe001234000c,PC=0xfffffe0012340108',
    ]);
  });

  it('falls back to the next address for the closing line when no stop event says where the run stopped', () => {
    const batches = [batchOf(0, [{ pc: 0x401000n, bytes: [0x40], regs: [[0, 1n]] }])];
    const lines = [...tenetLines({ header: { ...X86_HEADER, startRegisters: { eax: 0n } }, batches })];
    expect(lines).toEqual(['EAX=0x0,EIP=0x401000', 'EAX=0x1,EIP=0x401001']);
  });
});
