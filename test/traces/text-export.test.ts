/** The WinDbg-style text export, line by line, against lines written out by hand. */
import { describe, expect, it } from 'vitest';
import { createDisassembler } from '../../src/disasm/disassembler.ts';
import { textLines } from '../../traces/export/text.ts';
import { X64_HEADER, X86_HEADER, x64Run, x86Run } from './fixtures.ts';

describe('textLines', () => {
  it('prints address, bytes and disassembly, then changed registers, memory and events', async () => {
    const disassembler = await createDisassembler('x86');
    const lines = [...textLines({ header: X86_HEADER, batches: x86Run() }, { disassembler })];
    disassembler.close();
    expect(lines).toEqual([
      '8082e3d8 a120b0a580      mov     eax,dword ptr [80a5b020]',
      '  eax=80a5d8fc',
      '  [80a5b020] -> 80a5d8fc (4)',
      '8082e3dd 50              push    eax',
      '  esp=f78aecac',
      '  [f78aecac] <- 80a5d8fc (4)',
      '8082e3de 40              inc     eax',
      '  eax=80a5d8fd efl=00000282',
      '8082e3df ff1520b0a580    call    dword ptr [80a5b020]',
      '  esp=f78aeca8',
      '  [80a5b020] -> 80a5d8fc (4)',
      '  [f78aeca8] <- 8082e3e5 (4)',
      '80a5d8fc cc              int     3',
      '  *** trap int 3 at 80a5d8fc',
    ]);
  });

  it('prints bytes only without a disassembler', () => {
    const lines = [...textLines({ header: X86_HEADER, batches: x86Run() })];
    expect(lines.filter((l) => !l.startsWith(' '))).toEqual([
      '8082e3d8 a120b0a580', '8082e3dd 50', '8082e3de 40', '8082e3df ff1520b0a580', '80a5d8fc cc',
    ]);
  });

  it('prints a symbol header whenever the symbol changes', () => {
    const symbolize = (a: bigint): string | undefined => {
      if (a >= 0x8082e3c0n && a < 0x8082e400n) return `nt!KiTrap03+0x${(a - 0x8082e3c0n).toString(16)}`;
      if (a >= 0x80a5d8f0n && a < 0x80a5d900n) return `hal!HalpBreak+0x${(a - 0x80a5d8f0n).toString(16)}`;
      return undefined;
    };
    const lines = [...textLines({ header: X86_HEADER, batches: x86Run() }, { symbolize })];
    expect(lines.filter((l) => l.endsWith(':'))).toEqual(['nt!KiTrap03+0x18:', 'hal!HalpBreak+0xc:']);
    expect(lines[0]).toBe('nt!KiTrap03+0x18:');
    expect(lines[lines.indexOf('hal!HalpBreak+0xc:') + 1]).toBe('80a5d8fc cc');
  });

  it('writes 64-bit addresses with a backtick and values at full width', async () => {
    const disassembler = await createDisassembler('x64');
    const lines = [...textLines({ header: X64_HEADER, batches: x64Run() }, { disassembler })];
    disassembler.close();
    expect(lines).toEqual([
      'fffff880`3836e110 4883ec28        sub     rsp,28h',
      '  rsp=fffff88003a1f780 efl=0000000000000286',
      'fffff880`3836e114 48890424        mov     qword ptr [rsp],rax',
      '  [fffff880`03a1f780] <- fffffa8003b5c060 (8)',
      'fffff880`3836e118 cc              int     3',
      '  *** trap int 3 at fffff880`3836e118',
    ]);
  });

  it('prints events alone when the trace has no instructions', () => {
    const events = [{ kind: 'fault' as const, index: 0, address: 0n, access: 'read' as const, pc: 0x401000n, reason: 'unmapped' }];
    expect([...textLines({ header: X86_HEADER, batches: [], events })]).toEqual(['  *** fault: read of 00000000 at 00401000: unmapped']);
  });
});
