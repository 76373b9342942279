/**
 * A loop's pointer stepped by a constant, on a real core of a gcc-built
 * x86-64 program (gdb plays the fault):
 *
 *   1: movsxd rcx,dword ptr [rdi] ; add rdi,4 ; add rax,[rsi+rcx*8] ; cmp r8,rdi ; jne 1b
 *
 * The CPU flips bit 39 of the index as loaded: the next load faults. The
 * window from the loop's head overwrites rdi (`add rdi,4`), so rdi is not
 * known at its start, and replaying it to find the step fails: each lane's
 * `movsxd` faults on its fill of rdi before the `add` runs. The instruction
 * says the step itself: rdi started 4 below the recorded value, the index
 * is read back from the dump, and the flip explains the fault: a CPU fault
 * in the loaded value, bit 39.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl walk\n.type walk, @function\nwalk:\n  xor %eax, %eax\n  test %edx, %edx\n  jle 2f\n  lea (%rdi,%rdx,4), %r8\n"
  "1:\n  movslq (%rdi), %rcx\n  add $4, %rdi\n  add (%rsi,%rcx,8), %rax\n  cmp %rdi, %r8\n  jne 1b\n2:\n  ret\n.size walk, .-walk\n");
long walk(const int *idx, const long *vals, int n);
static const int idx[4] = { 3, 1, 2, 0 };
static const long vals[4] = { 10, 20, 30, 40 };
int main(int argc, char **argv) { return (int)walk(idx, vals, 4) + argc; }
`;

describe.skipIf(!nativeX64)('a register stepped by a constant the replay cannot undo (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'constant-steps', SOURCE, ['-O2', '-no-pie']);
  const walk = listing.slice(listing.indexOf('<walk>:'));
  const step = BigInt(`0x${/^\s*([0-9a-f]+):\s+add\s+\$0x4,%rdi/m.exec(walk)![1]}`);

  it('bit 39 of the loaded index flipped: a CPU fault in the loaded value', async () => {
    const report = await explainInjected({ dir, binary }, step, ['set $rcx = $rcx ^ 0x8000000000']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'loaded-value', bit: 39 });
    expect(BigInt(report.verdict.expected!) ^ BigInt(report.verdict.observed!)).toBe(1n << 39n);
  }, 300_000);
});
