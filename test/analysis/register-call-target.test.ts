/**
 * A `call rax` whose target came from the window's unknown argument, on real
 * cores of a gcc-built x86-64 program (gdb plays the fault):
 *
 *   apply: sub rsp,8 ; mov rax,rdi ; mov edi,esi ; call rax ; …
 *   square: imul edi,edi ; …          (0f af ff: at square+1, `af` is scasd [rdi])
 *
 * The window starts at apply's entry, where rdi (the function pointer) is
 * unknown. The call lands on the pc the dump trapped at and the scasd there
 * trapped before it changed anything, so rax in the dump is the call's
 * target register, unchanged: the start value of rdi.
 * - The CPU flips bit 0 of the target: square+1 runs and reads [rdi]: a CPU
 *   fault, the branch target, bit 0 (before, the unknown target left it
 *   inconclusive).
 * - The program itself calls square+1 (a pointer off by one): the code as
 *   written reproduces it: a software bug, although square+1 is one bit from
 *   a function start (the value came in a register, from no memory the dump
 *   shows, so nothing says memory held it).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore, explainInjected } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl square\n.type square, @function\nsquare:\n  .cfi_startproc\n  imul %edi, %edi\n  mov %edi, %eax\n  ret\n  .cfi_endproc\n.size square, .-square\n"
  ".globl apply\n.type apply, @function\napply:\n  .cfi_startproc\n  sub $8, %rsp\n  .cfi_def_cfa_offset 16\n  mov %rdi, %rax\n  mov %esi, %edi\n"
  "  call *%rax\n  add $8, %rsp\n  .cfi_def_cfa_offset 8\n  add $1, %eax\n  ret\n  .cfi_endproc\n.size apply, .-apply\n");
int square(int);
int apply(int (*)(int), int);
__attribute__((noinline)) int run(int x, int offByOne) {
  int (*fn)(int) = offByOne ? (int (*)(int))((char *)square + 1) : square;
  return apply(fn, x) + 1;
}
int main(int argc, char **argv) { return run(argc + 4, argc > 1); }
`;

describe.skipIf(!nativeX64)('a call through a register the window cannot know: its target read back from the dump (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'register-call', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const apply = listing.slice(listing.indexOf('<apply>:'));
  const call = BigInt(`0x${/^\s*([0-9a-f]+):\s+call\s+\*%rax/m.exec(apply)![1]}`);

  it('bit 0 of the target flipped by the CPU: a CPU fault, with the expected and observed targets', async () => {
    // The call as the CPU ran it with bit 0 of its target flipped: rax keeps the right target.
    const report = await explainInjected({ dir, binary }, call, ['set $rsp = $rsp - 8', `set *(long *)$rsp = 0x${(call + 2n).toString(16)}`, 'set $pc = $rax ^ 1']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 0 });
    expect(BigInt(report.verdict.observed!) - BigInt(report.verdict.expected!)).toBe(1n);
  }, 300_000);

  it('the program calls one byte into the function: the code as written, a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['off-by-one'], signal: 'SIGSEGV', core: join(dir, 'bug.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
