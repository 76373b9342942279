import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { EmulationError } from '../../emu/errors.ts';
import type { MemorySource } from '../../emu/memory-source.ts';
import { assemble } from '../helpers/assemble.ts';
import { lacks } from '../helpers/system.ts';
import { partialPageCases } from './partial-page-cases.ts';

const open: Emulator[] = [];
function engine(arch: 'x86' | 'x64' | 'arm64'): Emulator {
  const emu = Emulator.open(arch);
  open.push(emu);
  return emu;
}
afterEach(() => {
  while (open.length) open.pop()!.dispose();
});

describe('known snippets', () => {
  it.skipIf(lacks('binutils'))('x86: arithmetic, push/pop and int 3 with eip after the int 3', () => {
    const emu = engine('x86');
    const code = assemble('x86', `
      mov eax, 0x11223344
      mov ebx, 0x10
      add eax, ebx
      push eax
      pop ecx
      xor edx, edx
      int3
      nop`);
    emu.mapBytes(0x401000n, code);
    emu.map(0x7000n, 0x1000);
    emu.writeRegisters({ esp: 0x7800n });
    const result = emu.run({ from: 0x401000n });
    const int3At = 0x401000n + BigInt(code.indexOf(0xcc));
    expect(result).toMatchObject({ kind: 'trapped', vector: 3, name: 'int 3', pc: int3At + 1n });
    expect(emu.readRegister('eax')).toBe(0x11223354n);
    expect(emu.readRegister('ecx')).toBe(0x11223354n);
    expect(emu.readRegister('esp')).toBe(0x7800n);
    expect(emu.readValue(0x77fcn, 4)).toBe(0x11223354n);
    // xor edx,edx sets ZF and PF: efl = 0x246 (bit 1 always set).
    expect(emu.readRegister('efl') & 0xffn).toBe(0x46n);
  });

  it.skipIf(lacks('binutils'))('x64: a loop summing 1..10 stops at the until address', () => {
    const emu = engine('x64');
    const code = assemble('x64', `
      xor eax, eax
      mov ecx, 10
    1:
      add rax, rcx
      dec rcx
      jnz 1b
      mov r9, 0x1122334455667788
    end:
      nop`);
    emu.mapBytes(0x140001000n, code);
    const end = 0x140001000n + BigInt(code.length - 1);
    const result = emu.run({ from: 0x140001000n, until: end });
    expect(result).toMatchObject({ kind: 'reached', reason: 'address', pc: end });
    expect(emu.readRegister('rax')).toBe(55n);
    expect(emu.readRegister('rcx')).toBe(0n);
    expect(emu.readRegister('r9')).toBe(0x1122334455667788n);
  });

  it.skipIf(lacks('binutils-aarch64-linux-gnu'))('arm64: add, a stored pair and brk', () => {
    const emu = engine('arm64');
    const code = assemble('arm64', `
      add x0, x1, x2
      stp x0, x1, [sp, #-16]!
      ldr x3, [sp]
      brk #0`);
    emu.mapBytes(0x400000n, code);
    emu.map(0x7ff000n, 0x1000);
    emu.writeRegisters({ x1: 40n, x2: 2n, sp: 0x7ff800n });
    const result = emu.run({ from: 0x400000n });
    expect(result).toMatchObject({ kind: 'trapped', name: 'brk' });
    expect(emu.readRegister('x0')).toBe(42n);
    expect(emu.readRegister('x3')).toBe(42n);
    expect(emu.readRegister('sp')).toBe(0x7ff7f0n);
    expect(emu.readValue(0x7ff7f8n, 8)).toBe(40n);
  });

  it.skipIf(lacks('binutils-aarch64-linux-gnu'))('arm64: svc traps', () => {
    const emu = engine('arm64');
    emu.mapBytes(0x400000n, assemble('arm64', 'mov x8, #93\nsvc #0\nnop'));
    expect(emu.run({ from: 0x400000n })).toMatchObject({ kind: 'trapped', name: 'svc' });
    expect(emu.readRegister('x8')).toBe(93n);
  });

  it.skipIf(lacks('binutils'))('stops after exactly count instructions', () => {
    const emu = engine('x86');
    emu.mapBytes(0x1000n, assemble('x86', 'inc eax\ninc eax\ninc eax\ninc eax\nint3'));
    emu.writeRegister('eax', 0n);
    expect(emu.run({ from: 0x1000n, count: 3 })).toMatchObject({ kind: 'reached', reason: 'count', pc: 0x1003n });
    expect(emu.readRegister('eax')).toBe(3n);
  });
});

describe('budgets', () => {
  it('stops an infinite loop by the instruction budget', () => {
    const emu = engine('x86');
    emu.mapBytes(0x1000n, Uint8Array.of(0xeb, 0xfe)); // jmp $
    expect(emu.run({ from: 0x1000n, maxInstructions: 5000 })).toMatchObject({ kind: 'budget', budget: 'instructions', pc: 0x1000n });
  });

  it('stops an infinite loop by the time budget', () => {
    const emu = engine('x64');
    emu.mapBytes(0x1000n, Uint8Array.of(0x48, 0xff, 0xc0, 0xeb, 0xfb)); // inc rax; jmp -5
    const result = emu.run({ from: 0x1000n, maxInstructions: 0, timeoutMs: 50 });
    expect(result).toMatchObject({ kind: 'budget', budget: 'time' });
    expect(emu.readRegister('rax')).toBeGreaterThan(1000n);
  });

  it('refuses an unbounded run', () => {
    const emu = engine('x86');
    expect(() => emu.run({ from: 0n, maxInstructions: 0, timeoutMs: 0 })).toThrow(/needs an instruction budget/);
  });
});

describe('lazy memory', () => {
  const code = () => assemble('x64', `
    mov rax, [0x600010]
    mov [0x600ff8], rax
    mov rbx, [0x700000]
    nop`);
  const source = (pages: Map<bigint, Uint8Array>): MemorySource & { reads: bigint[] } => {
    const reads: bigint[] = [];
    return {
      reads,
      read(address, length) {
        reads.push(address);
        const page = pages.get(address);
        return page && page.length >= length ? page.subarray(0, length) : undefined;
      },
    };
  };

  it.skipIf(lacks('binutils'))('maps pages from the source on first touch and stops at a page it lacks', () => {
    const data = new Uint8Array(0x1000);
    data.set([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], 0x10);
    const codePage = new Uint8Array(0x1000);
    codePage.set(code());
    const src = source(new Map([[0x400000n, codePage], [0x600000n, data]]));
    const emu = engine('x64');
    emu.setMemorySource(src);
    const result = emu.run({ from: 0x400000n, maxInstructions: 100 });
    expect(result).toMatchObject({ kind: 'fault', reason: 'not-in-dump', access: 'read', address: 0x700000n });
    if (result.kind === 'fault') expect(result.message).toBe('memory at 0x700000 is not in the dump');
    expect(emu.readRegister('rax')).toBe(0x1122334455667788n);
    expect(emu.readValue(0x600ff8n, 8)).toBe(0x1122334455667788n);
    expect(emu.lazyPagesMapped).toBe(2);
    expect(src.reads).toEqual([0x400000n, 0x600000n, 0x700000n]);
  });

  it('stops with a fetch fault when code is not in the dump', () => {
    const emu = engine('x86');
    emu.setMemorySource(source(new Map()));
    expect(emu.run({ from: 0x8082e3e0n, maxInstructions: 10 })).toMatchObject({
      kind: 'fault', access: 'fetch', address: 0x8082e3e0n, pc: 0x8082e3e0n, reason: 'not-in-dump',
    });
  });

  partialPageCases(engine);
});

describe.skipIf(lacks('binutils'))('hooks', () => {
  it('rethrows an exception thrown inside a hook after the run stops', () => {
    const emu = engine('x86');
    emu.mapBytes(0x1000n, assemble('x86', 'inc eax\ninc eax\ninc eax\nint3'));
    let calls = 0;
    emu.onInstruction((address) => {
      calls++;
      if (address === 0x1001n) throw new Error('hook failed at 0x1001');
    });
    expect(() => emu.run({ from: 0x1000n })).toThrow('hook failed at 0x1001');
    expect(calls).toBe(2);
  });

  it('a hook added after code ran still fires (translations dropped)', () => {
    const emu = engine('x86');
    emu.mapBytes(0x1000n, assemble('x86', 'inc eax\ninc eax\nint3'));
    emu.run({ from: 0x1000n });
    const seen: bigint[] = [];
    emu.onInstruction((address) => seen.push(address));
    emu.run({ from: 0x1000n });
    expect(seen).toEqual([0x1000n, 0x1001n, 0x1002n]);
  });

  it('memory hooks see read and written values', () => {
    const emu = engine('x86');
    emu.mapBytes(0x1000n, assemble('x86', 'mov eax, [0x2000]\nadd eax, 1\nmov [0x2004], eax\nint3'));
    emu.map(0x2000n, 0x1000);
    emu.writeValue(0x2000n, 4, 0xfffffffen);
    const seen: string[] = [];
    emu.onMemory('read', (a, s, v) => seen.push(`r ${a.toString(16)} ${s} ${v.toString(16)}`));
    emu.onMemory('write', (a, s, v) => seen.push(`w ${a.toString(16)} ${s} ${v.toString(16)}`));
    emu.run({ from: 0x1000n });
    expect(seen).toEqual(['r 2000 4 fffffffe', 'w 2004 4 ffffffff']);
  });
});

describe('errors', () => {
  it('names the operation, address and Unicorn text', () => {
    const emu = engine('x86');
    let error: unknown;
    try {
      emu.map(0x1001n, 0x1000);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmulationError);
    expect((error as EmulationError).ucError).toMatch(/UC_ERR_ARG/);
    expect((error as EmulationError).message).toMatch(/^uc_mem_map\(0x1001, 0x1000\) at 0x1001 failed/);
  });

  it('refuses overlapping mappings', () => {
    const emu = engine('x64');
    emu.map(0x1000n, 0x2000);
    expect(() => emu.map(0x2000n, 0x1000)).toThrow(/overlaps 0x1000\.\.0x3000/);
  });

  it('rejects a register the architecture lacks', () => {
    const emu = engine('x86');
    expect(() => emu.readRegister('r8')).toThrow(/x86 engine has no register 'r8'/);
  });
});

describe.skipIf(lacks('binutils'))('x86 segment bases', () => {
  it('fs:[124h] reads from the fs base (kernel code finds its thread there)', () => {
    const emu = engine('x86');
    emu.mapBytes(0x80000000n, assemble('x86', 'mov eax, dword ptr fs:[0x124]\nmov ebx, dword ptr [0x124 + 0xffdff000]\nint3'));
    emu.map(0xffdff000n, 0x1000);
    emu.writeValue(0xffdff124n, 4, 0x81234567n);
    emu.writeRegister('fs_base', 0xffdff000n);
    expect(emu.readRegister('fs_base')).toBe(0xffdff000n);
    expect(emu.readRegister('fs')).toBe(0x30n);
    emu.writeRegister('esp', 0xffdff800n);
    expect(emu.run({ from: 0x80000000n })).toMatchObject({ kind: 'trapped', name: 'int 3' });
    expect(emu.readRegister('eax')).toBe(0x81234567n);
    expect(emu.readRegister('ebx')).toBe(0x81234567n);
  });
});

describe('instructions that abort Unicorn 2.0.1', () => {
  // `ff /3` and `ff /5` with a register operand kill the process inside Unicorn's translator
  // ("tcg fatal error"); a CPU raises #UD. Reached mid-run (here by a `ret`), not only where a run starts.
  const bytes = (...b: number[]) => Uint8Array.from(b);
  for (const [arch, sp] of [['x86', 'esp'], ['x64', 'rsp']] as const) {
    it(`${arch}: a ret into 'ljmp eax' (with a prefix) ends in #UD, and code written over it runs again`, () => {
      const emu = engine(arch);
      emu.map(0x1000n, 0x1000);
      emu.write(0x1000n, bytes(0x89, 0xc0, 0xc3)); // mov eax,eax; ret
      emu.write(0x1800n, bytes(0x90, 0x66, 0xff, 0xe8, 0xcc)); // nop; (66) ljmp eax; int 3
      emu.map(0x8000n, 0x1000);
      emu.write(0x8800n, bytes(0x00, 0x18, 0, 0, 0, 0, 0, 0));
      emu.writeRegisters({ [sp]: 0x8800n });
      const snapshot = emu.snapshot();
      expect(emu.run({ from: 0x1000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 6, pc: 0x1801n });
      emu.restore(snapshot);
      emu.write(0x1801n, bytes(0x90, 0x90, 0x90)); // nops where the bad instruction was: no stale stop
      emu.flushAllTranslations();
      expect(emu.run({ from: 0x1000n, maxInstructions: 10 })).toMatchObject({ kind: 'trapped', vector: 3, pc: 0x1805n });
    });
  }
});
