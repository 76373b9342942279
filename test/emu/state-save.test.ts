import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { stateSaveLength } from '../../emu/unicorn-quirks.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';

const open: Emulator[] = [];
afterEach(() => {
  while (open.length) open.pop()!.dispose();
});

/** An x86-64 engine with `code` at 0x401000 and a stack page around rsp 0x7800. */
function engineWith(code: string): Emulator {
  const emu = Emulator.open('x64');
  open.push(emu);
  emu.mapBytes(0x401000n, assemble('x64', code));
  emu.map(0x7000n, 0x2000);
  emu.writeRegisters({ rsp: 0x7800n });
  return emu;
}

// glibc's lazy-binding trampoline (_dl_runtime_resolve_xsavec) saves and restores the extended state around
// _dl_fixup; Unicorn 2.0.1 has no XSAVE family and raises #UD on them.
describe('XSAVE-family instructions Unicorn lacks', () => {
  it.skipIf(lacks('binutils'))('the assembler agrees with stateSaveLength on every form', () => {
    for (const [text, arch] of [
      ['xsavec [rsp+0x40]', 'x64'], ['xrstor [rsp+0x40]', 'x64'], ['xsave64 [rbx]', 'x64'], ['xsaveopt [rip+0x1234]', 'x64'],
      ['xrstor [r12+rax*8+0x100]', 'x64'], ['xsaves [rbp-8]', 'x64'], ['xsavec [esp+0x40]', 'x86'], ['xrstor [0x1000]', 'x86'],
    ] as const) {
      const bytes = assemble(arch, text);
      expect(stateSaveLength(arch, Uint8Array.of(...bytes, 0x90, 0x90)), text).toBe(bytes.length);
    }
    expect(stateSaveLength('x64', assemble('x64', 'lfence'))).toBeUndefined();
    expect(stateSaveLength('x64', assemble('x64', 'cmpxchg16b [rdi]'))).toBeUndefined();
    expect(stateSaveLength('x64', assemble('x64', 'fxsave [rsp]'))).toBeUndefined();
  });

  it.skipIf(lacks('binutils'))('a run steps over them and goes on, registers as a save and restore leave them', () => {
    const emu = engineWith(`
      mov eax, 1
      xsavec [rsp+0x40]
      mov ebx, 2
      xrstor [rsp+0x40]
      mov ecx, 3
      int3`);
    const result = emu.run({ from: 0x401000n, maxInstructions: 100 });
    expect(result).toMatchObject({ kind: 'trapped', vector: 3 });
    expect([emu.readRegister('rax'), emu.readRegister('rbx'), emu.readRegister('rcx')]).toEqual([1n, 2n, 3n]);
    expect(emu.statesSkipped).toBe(2);
  });

  it.skipIf(lacks('binutils'))('a counted run that meets one ends there as #UD (its count would be lost)', () => {
    const emu = engineWith(`
      mov eax, 1
      xsavec [rsp+0x40]
      mov ebx, 2
      int3`);
    const result = emu.run({ from: 0x401000n, count: 3, maxInstructions: 3 });
    expect(result).toMatchObject({ kind: 'trapped', name: 'invalid instruction', pc: 0x401005n });
  });
});
