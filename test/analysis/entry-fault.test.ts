/**
 * A way into the trap's window that would itself have faulted, on real cores
 * of a gcc-built x86-64 program (gdb plays the fault):
 *
 *   victim:  push rbx ; mov rbx,[rdi] ; mov rax,[rbx+8] ; pop rbx ; ret
 *   other:   (victim+36: one bit, bit 5, from victim+4)
 *   run:     push rbx ; mov ebx,12345h ; mov rax,[handler] ; call rax
 *
 * - The CPU flips bit 5 of the loaded pointer to `other`: the call lands on
 *   victim+4 and `mov rax,[rbx+8]` faults on run's rbx. The window at the
 *   trap holds only the faulting instruction, which as written would explain
 *   any fault; but the code reaches it only through `mov rbx,[rdi]`, which
 *   with the dump's rdi (1, unchanged since) faults first: the code as
 *   written did not come that way, and the call's window explains the trap
 *   with bit 5 flipped: a CPU fault.
 * - The program itself calls victim+4 (run_bug: a computed pointer): the
 *   call's window, as written, reproduces the trap: a software bug.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore, explainInjected } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.p2align 6\n.globl victim\n.type victim, @function\nvictim:\n  push %rbx\n  mov (%rdi), %rbx\n  mov 8(%rbx), %rax\n  pop %rbx\n  ret\n.size victim, .-victim\n"
  ".org victim+36, 0x90\n.globl other\n.type other, @function\nother:\n  lea 1(%rdi), %eax\n  ret\n.size other, .-other\n"
  ".p2align 4\n.globl run\n.type run, @function\nrun:\n  push %rbx\n  mov $0x12345, %ebx\n  mov handler(%rip), %rax\n  call *%rax\n  pop %rbx\n  ret\n.size run, .-run\n"
  ".p2align 4\n.globl run_bug\n.type run_bug, @function\nrun_bug:\n  push %rbx\n  mov $0x12345, %ebx\n  lea victim+4(%rip), %rax\n  call *%rax\n  pop %rbx\n  ret\n.size run_bug, .-run_bug\n");
int other(int);
int run(int);
int run_bug(int);
int (*volatile handler)(int) = other;
int main(int argc, char **argv) { return argc > 1 ? run_bug(1) : run(argc); }
`;

describe.skipIf(!nativeX64)('a window whose only way in faults first (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'entry-fault', SOURCE, ['-O2', '-no-pie']);
  const run = listing.slice(listing.indexOf('<run>:'));
  const call = BigInt(`0x${/^\s*([0-9a-f]+):\s+call\s+\*%rax/m.exec(run)![1]}`);

  it('bit 5 of the loaded pointer flipped: the landing faults, a CPU fault', async () => {
    const report = await explainInjected({ dir, binary }, call, ['set $rax = $rax ^ 32']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', bit: 5 });
    expect(BigInt(report.verdict.expected!) ^ BigInt(report.verdict.observed!)).toBe(32n);
  }, 300_000);

  it('the program calls victim+4 itself: the code as written, a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['bug'], signal: 'SIGSEGV', core: join(dir, 'bug.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
