/**
 * Flags a run leaves undefined at its end, which an account's replay may
 * set differently from the CPU without either being wrong: from a list of
 * mnemonics, and from a traced replay of a gcc-built program's core.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodeReader } from '../../src/analysis/code.ts';
import { Replayer } from '../../src/analysis/replay.ts';
import { AF, CF, OF, PF, SF, ZF, flagsLeftUndefined } from '../../src/analysis/undefined-flags.ts';
import { createDisassembler } from '../../src/disasm/disassembler.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

describe('flags left undefined by a run', () => {
  it('imul then a return leaves SF, ZF, AF and PF undefined (a virtual method returning a product)', () => {
    expect(flagsLeftUndefined('x64', ['mov', 'imul', 'ret', 'mov'])).toBe(SF | ZF | AF | PF);
  });

  it('a later instruction that sets a flag from its result defines it again', () => {
    expect(flagsLeftUndefined('x64', ['imul', 'test'])).toBe(AF);
    expect(flagsLeftUndefined('x86', ['imul', 'cmp'])).toBe(0n);
    expect(flagsLeftUndefined('x86', ['div', 'inc'])).toBe(CF);
  });

  it('shifts leave OF and AF, and an instruction that cannot be decoded changes nothing', () => {
    expect(flagsLeftUndefined('x64', ['add', 'shl', undefined])).toBe(OF | AF);
  });

  it('AArch64 has no undefined flags', () => {
    expect(flagsLeftUndefined('arm64', ['mul', 'udiv'])).toBe(0n);
  });
});

// A product used as a pointer: imul leaves SF, ZF, AF and PF undefined, and the load through it faults (it does not run).
const SOURCE = String.raw`
__asm__(
  ".text\n.globl mul_load\n.type mul_load, @function\nmul_load:\n"
  "  mov %rdi, %rax\n  imul %rsi, %rax\n  mov (%rax), %rax\n  ret\n.size mul_load, .-mul_load\n");
long mul_load(long, long);
int main(int argc, char **argv) { return (int)mul_load(argc + 2, 8); }
`;

describe.skipIf(!nativeX64)('a traced replay says which flags its path left undefined (gcc-built x86-64 core)', () => {
  const { dir, binary } = buildCProgram(nativeX64!, 'mul-load', SOURCE, ['-O2', '-no-pie']);

  it('given the code, the outcome of the replay from the function start holds imul\'s undefined flags; without it, none', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, signal: 'SIGSEGV', core: join(dir, 'mul-load.core'), commands: ['continue'] });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const start = dump.symbols.resolve('mul_load')!;
    const registers = dump.threads[0]!.contexts[0]!.registers;
    expect(registers.rip).toBe(start + 7n);
    const replayer = new Replayer(dump, { start, registers, unknown: new Set(['rax']), maxInstructions: 8, fault: start + 7n });
    const disassembler = await createDisassembler(dump.arch);
    try {
      const traced = replayer.runTraced(undefined, { code: new CodeReader(dump, disassembler) });
      expect(traced.path).toEqual([start, start + 3n, start + 7n]);
      expect(traced.outcome.result).toMatchObject({ kind: 'fault', access: 'read', address: 24n, pc: start + 7n });
      expect(traced.outcome.undefinedFlags).toBe(SF | ZF | AF | PF);
      expect(replayer.runTraced().outcome.undefinedFlags).toBeUndefined();
    } finally {
      disassembler.close();
      replayer.dispose();
    }
  }, 120_000);
});
