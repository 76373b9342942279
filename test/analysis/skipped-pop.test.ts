/**
 * A CPU that skips one instruction: a real core of a gcc-built x86-64
 * program whose function restores three callee-saved registers, made under
 * gdb by stepping the pc over its last `pop r13` (as a CPU that dropped the
 * instruction would). Its `ret` then pops the saved r13, a data address, and
 * the CPU faults executing it. The code as written does not reach that state;
 * only the skipped pop, in the function's epilogue found from the return
 * address above the stack pointer, reproduces it, registers and all.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl saver\n.type saver, @function\nsaver:\n"
  "  push %r13\n  push %r12\n  push %rbx\n"
  "  mov $0x11, %r13\n  mov $0x22, %r12\n  lea 3(%rdi), %rbx\n"
  "  mov %rbx, %rax\n  add %r12, %rax\n  add %r13, %rax\n"
  "  pop %rbx\n  pop %r12\n  pop %r13\n  ret\n.size saver, .-saver\n");
long saver(long);
static char data[64];
int main(void) {
  long r;
  /* main's r13 is a data address: the value a ret through its slot executes. */
  __asm__ volatile("mov %1, %%r13\n call saver\n mov %%rax, %0" : "=r"(r) : "r"(data + 16), "D"(5L) : "r13", "rax", "rbx", "r12", "memory");
  return (int)r;
}
`;

describe.skipIf(!nativeX64)('a skipped instruction (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'saver', SOURCE, ['-O1', '-no-pie']);
  // The last pop r13 in saver: the one just before its ret.
  const saver = listing.slice(listing.indexOf('<saver>:'));
  const restore = BigInt(`0x${/^\s*([0-9a-f]+):\s+pop\s+%r13\s*\n\s*[0-9a-f]+:\s+ret/m.exec(saver)![1]}`);

  it('a ret after a skipped pop r13 is a CPU fault: the pop, found in the epilogue of the function that returned', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, args: [], signal: 'SIGSEGV', core: join(dir, 'core'),
      commands: [`break *0x${restore.toString(16)}`, 'continue', 'set $pc = $pc + 2', 'continue'],
    });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const report = await explain(dump, { searchReplays: 1500, searchBudgetMs: 120_000 });
    expect(report.fault?.access).toBe("execute");
    expect(report.candidates.some((c) => c.kind === 'ret' && /^ret/.test(c.instruction.text))).toBe(true);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip' });
    expect(report.verdict.hypothesis).toBe(`skip@${restore.toString(16)}`);
    // The registers the epilogue did pop come from the dump's stack and match what the machine recorded.
    for (const register of ['rbx', 'r12', 'rsp', 'rip']) {
      expect(report.checks.find((c) => c.what === register), register).toMatchObject({ status: 'match' });
    }
    // The code as written is not an account of this state.
    expect(report.hypotheses.find((h) => h.id === 'as-written')?.explains).not.toBe(true);
  }, 300_000);
});
