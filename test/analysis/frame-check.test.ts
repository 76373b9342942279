/**
 * A skipped push, told by the frame: a real core of a gcc-built x86-64
 * program whose function takes its seventh argument, a pointer, from the
 * stack. gdb steps the pc over the function's `push r12` (as a CPU that
 * dropped the instruction would); the load then reads the eighth argument,
 * a small number, and the dereference faults near null, the very picture of
 * a software bug. The fault site alone replays as written, but the unwind
 * information puts the function's return address 8 bytes above where the
 * call left it: the code as written cannot have left the stack pointer
 * there. The same function run untouched with a null seventh argument (a
 * real software bug) keeps its frame, and stays a software bug.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl seventh\n.type seventh, @function\nseventh:\n"
  "  .cfi_startproc\n"
  "  push %rbx\n  .cfi_def_cfa_offset 16\n  .cfi_offset rbx, -16\n"
  "  push %r12\n  .cfi_def_cfa_offset 24\n  .cfi_offset r12, -24\n"
  "  sub $8, %rsp\n  .cfi_def_cfa_offset 32\n"
  "  mov %rdi, %rbx\n  lea (%rsi,%rdx), %r12\n"
  "  mov 0x20(%rsp), %rax\n  mov (%rax), %rax\n"
  "  add %rbx, %rax\n  add %r12, %rax\n"
  "  add $8, %rsp\n  .cfi_def_cfa_offset 24\n"
  "  pop %r12\n  .cfi_def_cfa_offset 16\n  pop %rbx\n  .cfi_def_cfa_offset 8\n  ret\n"
  "  .cfi_endproc\n.size seventh, .-seventh\n");
long seventh(long, long, long, long, long, long, long *, long);
static long value = 7;
int main(int argc, char **argv) {
  (void)argv;
  /* With an argument, the seventh is null: the code as written faults at the same load. */
  return (int)seventh(1, 2, 3, 4, 5, 6, argc > 1 ? 0 : &value, 0x10);
}
`;

describe.skipIf(!nativeX64)('the frame at the fault (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'seventh', SOURCE, ['-O2', '-no-pie']);
  const body = listing.slice(listing.indexOf('<seventh>:'));
  const push = BigInt(`0x${/^\s*([0-9a-f]+):\s+push\s+%r12/m.exec(body)![1]}`);
  const sub = BigInt(`0x${/^\s*([0-9a-f]+):\s+sub\s+\$0x8,%rsp/m.exec(body)![1]}`);

  it('a skipped push leaves the stack pointer where the code cannot: a CPU fault, not the near-null read it looks like', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'skipped.core'),
      commands: [`break *0x${push.toString(16)}`, 'continue', 'set $pc = $pc + 2', 'continue'],
    });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const report = await explain(dump, { searchReplays: 1500, searchBudgetMs: 120_000 });
    expect(report.fault?.accessAddress).toBe('0x10');
    const asWritten = report.hypotheses.find((h) => h.id === 'as-written');
    const frame = asWritten?.checks.find((c) => c.what === 'frame');
    expect(frame).toMatchObject({ status: 'mismatch' });
    expect(frame?.note).toMatch(/rsp [0-9a-f`]+ is 8 bytes above where the code as written leaves it here/);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip' });
    // Skipping the push or the frame allocation after it leaves the same stack; where the register pushed held what
    // the slot already held, the dump cannot tell them apart, and says so.
    const skips = [`skip@${push.toString(16)}`, `skip@${sub.toString(16)}`];
    expect(skips).toContain(report.verdict.hypothesis);
    expect([report.verdict.hypothesis, ...(report.verdict.equivalent ?? []), ...(report.verdict.alternatives ?? [])]).toEqual(expect.arrayContaining(skips));
  }, 300_000);

  it('the same load of a null argument, run as written, keeps its frame and is a software bug', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, args: ['null'], signal: 'SIGSEGV', core: join(dir, 'null.core'), commands: ['continue'],
    });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const report = await explain(dump, { searchReplays: 1500, searchBudgetMs: 120_000 });
    expect(report.hypotheses.flatMap((h) => h.checks).some((c) => c.what === 'frame')).toBe(false);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
