/**
 * Known instructions decoded and printed WinDbg's way. The expected text is
 * written by hand from the bytes and the rules in windbg-syntax.ts (what
 * WinDbg's `u` shows, minus symbol names).
 */
import { describe, expect, it } from 'vitest';
import type { Arch } from '../../emu/registers.ts';
import { createDisassembler } from './disassembler.ts';
import { masmHex } from './windbg-syntax.ts';

const CASES: Array<[Arch, string, bigint, string, number]> = [
  // arch, bytes, address, text, size
  ['x86', 'cc', 0x8082e3e1n, 'int     3', 1],
  ['x86', 'ff1520b0a580', 0x8082e3dfn, 'call    dword ptr [80a5b020]', 6],
  ['x86', 'e8fbffffff', 0x401000n, 'call    00401000', 5],
  ['x86', '8b4df0', 0x401000n, 'mov     ecx,dword ptr [ebp-10h]', 3],
  ['x86', '83e4f8', 0x401000n, 'and     esp,0FFFFFFF8h', 3],
  ['x86', 'c20800', 0x401000n, 'ret     8', 3],
  ['x86', 'cd2e', 0x401000n, 'int     2Eh', 2],
  ['x86', 'c3', 0x401000n, 'ret', 1],
  ['x64', '4883ec28', 0xfffff8803836e110n, 'sub     rsp,28h', 4],
  // RIP-relative: 0xfffff8803836e117 (next instruction) + 0x24.
  ['x64', '488b0524000000', 0xfffff8803836e110n, 'mov     rax,qword ptr [fffff880`3836e13b]', 7],
  ['x64', 'cc', 0xfffff8803836e118n, 'int     3', 1],
  // arm64 words d503201f (nop), 94000001 (bl .+4), a9bf7bfd (stp x29,x30,[sp,#-0x10]!), little-endian in memory.
  ['arm64', '1f2003d5', 0xfffffe0012340000n, 'nop', 4],
  ['arm64', '01000094', 0xfffffe0012340000n, 'bl          fffffe00`12340004', 4],
  ['arm64', 'fd7bbfa9', 0xfffffe0012340000n, 'stp         fp,lr,[sp,#-0x10]!', 4],
];

describe('createDisassembler', () => {
  it.each(CASES)('%s %s at %s is "%s"', async (arch, hex, address, text, size) => {
    const disasm = await createDisassembler(arch);
    try {
      expect(disasm.decode(Buffer.from(hex, 'hex'), address)).toMatchObject({ text, size });
    } finally {
      disasm.close();
    }
  });

  it('splits mnemonic and operands', async () => {
    const disasm = await createDisassembler('x86');
    expect(disasm.decode(Uint8Array.of(0xcc), 0n)).toEqual({ size: 1, mnemonic: 'int', operands: '3', text: 'int     3' });
    expect(disasm.decode(Buffer.from('ff1520b0a580', 'hex'), 0n)).toMatchObject({ mnemonic: 'call', operands: 'dword ptr [80a5b020]' });
    disasm.close();
  });

  it('returns undefined for bytes that are not an instruction', async () => {
    const disasm = await createDisassembler('x86');
    expect(disasm.decode(Uint8Array.of(0xff), 0x1000n)).toBeUndefined(); // cut short
    expect(disasm.decode(new Uint8Array(0), 0x1000n)).toBeUndefined();
    disasm.close();
  });

  it('shares one handle per arch until the last user closes it', async () => {
    const a = await createDisassembler('x64');
    const b = await createDisassembler('x64');
    a.close();
    expect(b.decode(Uint8Array.of(0xcc), 0n)?.text).toBe('int     3');
    expect(() => a.decode(Uint8Array.of(0xcc), 0n)).toThrow('Disassembler for x64 used after close()');
    b.close();
    const c = await createDisassembler('x64');
    expect(c.decode(Uint8Array.of(0x90), 0n)?.text).toBe('nop');
    c.close();
  });
});

describe('masmHex', () => {
  it.each([[0n, '0'], [9n, '9'], [10n, '0Ah'], [0x28n, '28h'], [0xfffffff8n, '0FFFFFFF8h']])('%s is %s', (value, text) => {
    expect(masmHex(value)).toBe(text);
  });
});
