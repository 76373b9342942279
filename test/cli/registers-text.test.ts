/**
 * The register lines `faultline info` prints: WinDbg's layout, registers
 * the dump lacks left out, and registers a context does not hold (an x64
 * trap frame's non-volatile ones) shown as not saved, whatever value the
 * dump printed for them.
 */
import { describe, expect, it } from 'vitest';
import { registerLines } from '../../src/cli/registers-text.ts';

describe('registerLines', () => {
  it('leaves out registers the context lacks', () => {
    expect(registerLines('x86', { eax: 1n, eip: 0x401000n })).toEqual(['eax=00000001', 'eip=00401000']);
  });

  it('shows an x64 trap frame’s unsaved registers as not saved, not as WinDbg’s zeros', () => {
    const unknown = ['rbx', 'rsi', 'rdi', 'r12', 'r13', 'r14', 'r15'] as const;
    const registers = { rax: 0n, rbx: 0n, rcx: 0xfffffa8005d4e060n, rsi: 0n, rdi: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n, rip: 0xfffff80002a93b9bn, efl: 0x282n };
    expect(registerLines('x64', registers, [...unknown])).toEqual([
      'rax=0000000000000000 rbx=(not saved) rcx=fffffa8005d4e060',
      'rsi=(not saved) rdi=(not saved)',
      'rip=fffff80002a93b9b',
      'r12=(not saved) r13=(not saved)',
      'r14=(not saved) r15=(not saved) efl=00000282',
    ]);
  });

  it('prints ARM64 contexts with x29, x30 and nzcv', () => {
    expect(registerLines('arm64', { x28: 0n, x29: 0x55028215c0n, x30: 0x5500000a84n, sp: 0x55028215c0n, pc: 0x5500000da4n, nzcv: 0x80000000n })).toEqual([
      'x28=0000000000000000 x29=00000055028215c0 x30=0000005500000a84',
      'sp=00000055028215c0 pc=0000005500000da4 nzcv=0000000080000000',
    ]);
  });
});
