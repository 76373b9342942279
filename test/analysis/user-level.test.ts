/**
 * Instructions a user-level CPU refuses, on real cores of a gcc-built
 * x86-64 program (gdb plays the fault by writing the code, as a flipped bit
 * in memory would).
 *
 * - `ret` (c3) with bit 3 flipped is `retf` (cb): the CPU pops a selector
 *   that is no code segment and raises #GP (SIGSEGV, no address). Unicorn,
 *   at CPL 0, pops with a 16-bit stack pointer and reads elsewhere.
 * - `cld` (fc) with bit 3 flipped is `hlt` (f4): #GP at CPL 3; Unicorn stops
 *   after it as if the run were over.
 * - The same `hlt` in the program as written is a software bug.
 *
 * Each corrupt byte is in the module file as the other value: code
 * corruption, with the bit and both bytes. Written as Windows minidumps by
 * the lab's writer, the hlt is STATUS_PRIVILEGED_INSTRUCTION and the retf
 * an access violation reading all ones (Windows' #GP), with the same
 * verdicts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Emulator } from '../../emu/emulator.ts';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl leaf\n.type leaf, @function\nleaf:\n"
  "  lea 1(%rdi), %rax\n  add %rdi, %rax\n.globl leaf_cld\nleaf_cld:\n  cld\n  add $3, %rax\n.globl leaf_ret\nleaf_ret:\n  ret\n.size leaf, .-leaf\n"
  ".globl halts\n.type halts, @function\nhalts:\n  mov %rdi, %rax\n  hlt\n  ret\n.size halts, .-halts\n");
long leaf(long);
long halts(long);
extern char leaf_cld[], leaf_ret[];
__attribute__((noinline)) long run(long x) { return leaf(x) * 3; }
int main(int argc, char **argv) {
  if (argc > 1) return (int)halts(argc);
  return (int)run(argc + 4);
}
`;

describe.skipIf(!nativeX64)('instructions a user-level CPU refuses (x86-64)', () => {
  const { dir, binary } = buildCProgram(nativeX64!, 'user-level', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const explainCore = async (core: string) => {
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    return { dump, report: await explain(dump, { searchReplays: 3000, searchBudgetMs: 120_000 }) };
  };
  const flipped = async (label: string, at: string, value: number) => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, `${label}.core`),
      commands: ['break run', 'continue', `set var *(unsigned char *)${at} = ${value}`, 'delete', 'continue'],
    });
    return explainCore(core);
  };

  it('ret made retf by one bit: #GP at the retf, code corruption with the bit and both bytes', async () => {
    const { dump, report } = await flipped('retf', 'leaf_ret', 0xcb);
    expect(report.verdict).toMatchObject({
      class: 'code-corruption', bit: 3, expected: '0xc3', observed: '0xcb', address: `0x${dump.symbols.resolve('leaf_ret')!.toString(16)}`,
    });
  }, 300_000);

  it('cld made hlt by one bit: #GP at the hlt, code corruption', async () => {
    const { dump, report } = await flipped('hlt', 'leaf_cld', 0xf4);
    expect(report.verdict).toMatchObject({
      class: 'code-corruption', bit: 3, expected: '0xfc', observed: '0xf4', address: `0x${dump.symbols.resolve('leaf_cld')!.toString(16)}`,
    });
  }, 300_000);

  it('the same crashes as Windows minidumps: hlt is c0000096 (privileged instruction), retf a #GP read of ffffffffffffffff; the verdicts hold', async () => {
    for (const [label, at, value, code] of [['hlt-dmp', 'leaf_cld', 0xf4, 0xc0000096n], ['retf-dmp', 'leaf_ret', 0xcb, 0xc0000005n]] as const) {
      const { core } = await runToCore(nativeX64!, {
        program: binary, signal: 'SIGSEGV', core: join(dir, `${label}.core`),
        commands: ['break run', 'continue', `set var *(unsigned char *)${at} = ${value}`, 'delete', 'continue'],
      });
      const minidump = join(dir, `${label}.dmp`);
      // The writers' command line, in a process of its own, as the lab runs them.
      execFileSync(process.execPath, ['--import', 'tsx', 'lab/writers/cli.ts', 'minidump', '--arch', 'x64', '--core', core, '--binary', binary, '--sysroot', '/', '--signal', '11', '--memory', 'full', '--out', minidump]);
      const dump = await openDump(minidump, { binaries: [binary] });
      expect(dump.fault).toMatchObject({ kind: 'exception', code });
      const report = await explain(dump, { binaries: [binary], searchReplays: 3000, searchBudgetMs: 120_000 });
      expect(report.verdict, label).toMatchObject({ class: 'code-corruption', bit: 3, address: `0x${dump.symbols.resolve(at)!.toString(16)}` });
    }
  }, 300_000);

  it('a hlt the program has as written: a software bug, the replay trapping where the CPU did', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['h'], signal: 'SIGSEGV', core: join(dir, 'written.core'), commands: ['continue'] });
    const { report } = await explainCore(core);
    expect(report.verdict.class).toBe('software');
    const asWritten = report.hypotheses.find((h) => h.id === 'as-written');
    expect(asWritten?.checks.find((c) => c.what === 'trap')).toMatchObject({ status: 'match', actual: expect.stringContaining('general protection (hlt)') });
  }, 300_000);

  it('the user-level check at the faulting instruction shares its hook: one code hook per address on every engine', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['h'], signal: 'SIGSEGV', core: join(dir, 'hooks.core'), commands: ['continue'] });
    const hooks = new Map<Emulator, bigint[]>();
    const original = Emulator.prototype.onInstructionAt;
    const spy = vi.spyOn(Emulator.prototype, 'onInstructionAt').mockImplementation(function (this: Emulator, address, fn) {
      hooks.set(this, [...(hooks.get(this) ?? []), address]);
      return original.call(this, address, fn);
    });
    try {
      const { dump, report } = await explainCore(core);
      expect(report.verdict.class).toBe('software');
      const hlt = dump.symbols.resolve('halts')! + 3n;
      const atHlt = [...hooks.values()].filter((addresses) => addresses.includes(hlt));
      expect(atHlt.length).toBeGreaterThan(0);
      for (const addresses of hooks.values()) expect(addresses.length).toBe(new Set(addresses).size);
    } finally {
      spy.mockRestore();
    }
  }, 300_000);
});
