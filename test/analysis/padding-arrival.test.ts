/**
 * A call that lands in the padding after a function, on real cores of a
 * gcc-built x86-64 program (gdb plays the fault). `twice` is 4 bytes,
 * padded with four `nop dword ptr [rax]` (0f 1f 80 00 00 00 00) to the next
 * function; at twice+8 the padding's bytes decode as `add byte ptr
 * [rax],al`, a store to twice's own read-only code (rax holds the target):
 *
 *   twice:   lea eax,[rdi+rdi] ; ret ; nop dword ptr [rax] ; …
 *   run:     mov rax,[handler] ; call rax     (handler holds twice)
 *
 * - The CPU flips bit 3 of the call's target: the padding's bytes fault. The
 *   code as written never runs padding after a `ret` (no symbol covers it,
 *   and it decodes as nops up to the next function), so the window that
 *   starts at the trap cannot be arrived at; the call's window explains it:
 *   a CPU fault, the branch target, bit 3. (Before, the faulting instruction
 *   replayed alone from the dump's own registers was "the code as written".)
 * - The program stores twice+12 in handler (two bits off: no flip): the
 *   call's window, as written, reproduces the trap: a software bug.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore, explainInjected } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.p2align 5\n.globl twice\n.type twice, @function\ntwice:\n  lea (%rdi,%rdi), %eax\n  ret\n.size twice, .-twice\n"
  ".rept 4\n  .byte 0x0f, 0x1f, 0x80, 0, 0, 0, 0\n.endr\n"
  ".p2align 5\n.globl square\n.type square, @function\nsquare:\n  mov %edi, %eax\n  imul %edi, %eax\n  ret\n.size square, .-square\n");
int twice(int);
int square(int);
int (*volatile handler)(int) = twice;
__attribute__((noinline)) int run(int x) { return handler(x) + 1; }
int main(int argc, char **argv) {
  if (argc > 1) handler = (int (*)(int))((char *)twice + 12);
  return run(argc) + square(argc);
}
`;

describe.skipIf(!nativeX64)('a call into the padding after a function (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'padding', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const run = listing.slice(listing.indexOf('<run>:'));
  const call = /^\s*([0-9a-f]+):\s+call\s+\*%rax/m.exec(run);

  it('bit 3 of the target flipped: the padding faults, a CPU fault in the branch target', async () => {
    const at = BigInt(`0x${call![1]}`);
    // The call as the CPU ran it with bit 3 of its target flipped: rax keeps the right target.
    const report = await explainInjected({ dir, binary }, at, ['set $rsp = $rsp - 8', `set *(long *)$rsp = 0x${(at + 2n).toString(16)}`, 'set $pc = $rax ^ 8']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 3 });
  }, 300_000);

  it('the program stores a pointer two bits off: the code as written, a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['bug'], signal: 'SIGSEGV', core: join(dir, 'bug.core'), commands: ['continue'] });
    const report = await explainCore(core, binary);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
