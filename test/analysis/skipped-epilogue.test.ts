/**
 * A return to address 0, on real cores of a gcc-built x86-64 program (gdb
 * plays the fault). `level1` keeps an 8-byte pad holding 0 below its return
 * address:
 *
 *   level1: sub rsp,8 ; mov qword ptr [rsp],0 ; call level2 ; add rsp,8 ; ret
 *
 * - The CPU skips `add rsp,8`: the ret pops the pad (0). The code as written
 *   could only have done so starting 8 bytes lower than the unwind
 *   information puts level1's frame after the call returns (its return slot
 *   holds the caller's return address, which reads as no frame end): a CPU
 *   fault, the skipped instruction.
 * - The program itself zeroes level1's return address (a stack smash): the
 *   ret pops 0 from the slot the unwind information names, and the code as
 *   written explains it: a software bug.
 * - The same skip in `apply`, which calls through a register and sets the
 *   flags again after `add rsp,8` (`add eax,1`): skipping `add rsp,8` ends in
 *   the very state the code as written ends in, and only the window's start
 *   (8 bytes higher, where the frame checks look) tells the two apart; the
 *   skip must not be dropped as changing nothing (a flipped return target
 *   was blamed instead).
 * - `pop rbp` skipped after a loop (-O0): the ret takes the saved frame
 *   pointer. The epilogue window's rbp comes from the unwind rule, solved from
 *   the stack pointer; the skip's window starts 8 bytes higher, and so does
 *   rbp (before, the skip replayed with the as-written rbp and mismatched).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64, type CProgram } from '../helpers/c-program.ts';
import { explainCore } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl level2\n.type level2, @function\nlevel2:\n  .cfi_startproc\n  lea 1(%rdi), %rax\n  ret\n  .cfi_endproc\n.size level2, .-level2\n"
  ".globl level1\n.type level1, @function\nlevel1:\n  .cfi_startproc\n  sub $8, %rsp\n  .cfi_def_cfa_offset 16\n  movq $0, (%rsp)\n"
  "  call level2\n  add $8, %rsp\n  .cfi_def_cfa_offset 8\n  ret\n  .cfi_endproc\n.size level1, .-level1\n"
  ".globl smashed\n.type smashed, @function\nsmashed:\n  .cfi_startproc\n  sub $8, %rsp\n  .cfi_def_cfa_offset 16\n  movq $0, (%rsp)\n"
  "  call level2\n  movq $0, 8(%rsp)\n  add $8, %rsp\n  .cfi_def_cfa_offset 8\n  ret\n  .cfi_endproc\n.size smashed, .-smashed\n");
long level1(long);
long smashed(long);
__attribute__((noinline)) long run(long x, int smash) { return (smash ? smashed(x) : level1(x)) + 1; }
int main(int argc, char **argv) { return (int)run(argc, argc > 1); }
`;

/** gdb skips `add rsp,8` in `fn` (the pc moved past it); explain must name that skip. */
async function expectSkippedAddRsp(program: CProgram, fn: string): Promise<void> {
  const body = program.listing.slice(program.listing.indexOf(`<${fn}>:`));
  const addRsp = BigInt(`0x${/^\s*([0-9a-f]+):\s+add\s+\$0x8,%rsp/m.exec(body)![1]}`);
  const { core } = await runToCore(nativeX64!, {
    program: program.binary, signal: 'SIGSEGV', core: join(program.dir, `skip-${fn}.core`),
    commands: [`break *0x${addRsp.toString(16)}`, 'continue', 'delete', 'set $pc = $pc + 4', 'continue'],
  });
  const report = await explainCore(core, program.binary);
  expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip', address: `0x${addRsp.toString(16)}` });
}

describe.skipIf(!nativeX64)('a return to 0: a skipped epilogue against a smashed return address (x86-64)', () => {
  const program = buildCProgram(nativeX64!, 'epilogue', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const { dir, binary } = program;

  it('add rsp,8 not executed: the ret pops the pad, a CPU fault', () => expectSkippedAddRsp(program, 'level1'), 300_000);

  it('the return address zeroed by the program: the code as written, a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['smash'], signal: 'SIGSEGV', core: join(dir, 'smash.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});

const APPLY = String.raw`
__asm__(
  ".text\n.globl level2\n.type level2, @function\nlevel2:\n  .cfi_startproc\n  lea 1(%rdi), %rax\n  ret\n  .cfi_endproc\n.size level2, .-level2\n"
  ".globl apply\n.type apply, @function\napply:\n  .cfi_startproc\n  sub $8, %rsp\n  .cfi_def_cfa_offset 16\n  movq $0, (%rsp)\n  mov %rdi, %rax\n  mov %esi, %edi\n"
  "  call *%rax\n  add $8, %rsp\n  .cfi_def_cfa_offset 8\n  add $1, %eax\n  ret\n  .cfi_endproc\n.size apply, .-apply\n");
long level2(long);
long apply(long (*)(long), long);
__attribute__((noinline)) long run(long x) { return apply(level2, x) + 1; }
int main(int argc, char **argv) { return (int)run(argc); }
`;

describe.skipIf(!nativeX64)('a skipped epilogue whose end state is the code as written\'s (x86-64)', () => {
  const program = buildCProgram(nativeX64!, 'epilogue-apply', APPLY, ['-O2', '-no-pie', '-fno-inline']);

  it('add rsp,8 not executed before add eax,1: a CPU fault, the skipped instruction', () => expectSkippedAddRsp(program, 'apply'), 300_000);
});

const FRAME = String.raw`
__attribute__((noinline)) long work(long x) { volatile long y = 0; for (long i = 0; i < x + 2; i++) y += i * 3; return y; }
int main(int argc, char **argv) { return (int)work(argc); }
`;

describe.skipIf(!nativeX64)('a skipped pop of the frame pointer (x86-64, -O0)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'epilogue-frame', FRAME, ['-O0', '-no-pie']);
  const work = listing.slice(listing.indexOf('<work>:'));
  const pop = BigInt(`0x${/^\s*([0-9a-f]+):\s+pop\s+%rbp/m.exec(work)![1]}`);

  // The epilogue after the loop is the window; its frame pointer comes from the unwind rule at its start, solved
  // from the stack pointer the `ret` ran at; starting 8 bytes higher (the skip), it is 8 higher too.
  it('pop rbp not executed: the ret takes the saved frame pointer, a stack address; a CPU fault, the skipped pop', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'skip.core'),
      commands: [`break *0x${pop.toString(16)}`, 'continue', 'delete', 'set $pc = $pc + 1', 'continue'],
    });
    const report = await explainCore(core, binary);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip', address: `0x${pop.toString(16)}` });
  }, 300_000);
});
