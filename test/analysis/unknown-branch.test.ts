/**
 * A software bug whose path turns on a value the dump does not hold, on a
 * real core of a gcc-built x86-64 program. `run(x, how)` calls one of three
 * functions by `how` (argc); `smashed` zeroes its own return address and
 * returns to 0:
 *
 *   main: mov rsi,rdi ; call run          (rdi, argc, not known at main's start)
 *   run:  cmp esi,2 ; je → smashed ; cmp esi,3 ; je → … ; call level1 ; …
 *
 * Replayed from main, the lanes fill rdi with 0, ones and a hash: none is 2,
 * so all three agree on the level1 path, which returns normally. Two
 * accounts used that guessed path:
 * - main's return flipped back into the libc code that calls main: it reads
 *   argc from the stack and runs the crash again (every value matches);
 * - `mov rsi,rdi` skipped, keeping rsi at the value the dump recorded (2),
 *   which the instruction as written may as well have produced.
 * Neither is evidence of a fault: the verdict must not blame the machine.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HARDWARE } from '../../src/analysis/verdict.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl level2\n.type level2, @function\nlevel2:\n  lea 1(%rdi), %rax\n  ret\n.size level2, .-level2\n"
  ".globl level1\n.type level1, @function\nlevel1:\n  sub $8, %rsp\n  call level2\n  add $8, %rsp\n  ret\n.size level1, .-level1\n"
  ".globl level1f\n.type level1f, @function\nlevel1f:\n  sub $8, %rsp\n  call level2\n  add $8, %rsp\n  add $1, %eax\n  ret\n.size level1f, .-level1f\n"
  ".globl smashed\n.type smashed, @function\nsmashed:\n  sub $8, %rsp\n  call level2\n  movq $0, 8(%rsp)\n  add $8, %rsp\n  ret\n.size smashed, .-smashed\n");
long level1(long);
long level1f(long);
long smashed(long);
__attribute__((noinline)) long run(long x, int how) { return (how == 2 ? smashed(x) : how == 3 ? level1f(x) : level1(x)) + 1; }
int main(int argc, char **argv) { return (int)run(argc, argc); }
`;

describe.skipIf(!nativeX64)('a path that turns on a value the dump lacks (x86-64)', () => {
  const { dir, binary } = buildCProgram(nativeX64!, 'unknown-branch', SOURCE, ['-O2', '-no-pie', '-fno-inline']);

  it('a return address the program zeroed, behind a branch on argc: not called a hardware fault', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['smash'], signal: 'SIGSEGV', core: join(dir, 'smash.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(HARDWARE.has(report.verdict.class), `${report.verdict.class}: ${report.verdict.summary}`).toBe(false);
  }, 300_000);
});
