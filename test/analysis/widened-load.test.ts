/**
 * A load that widens what it reads, on a real core of a gcc-built x86-64
 * program (gdb plays the fault): a switch's relative table,
 *
 *   … ; lea rsi,[table] ; movsxd rax,dword ptr [rsi+rdi*4] ; add rax,rsi ; jmp rax
 *
 * reads 4 bytes into 64-bit rax. The CPU flips bit 59 of rax as loaded (one
 * of the bits the sign extension made): the jump goes to a non-canonical
 * address (#GP, no address recorded). A flip of the 4 bytes read cannot
 * make that address; a flip of the register's upper half does: a CPU fault
 * in the loaded value, bit 59, with both values.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl classify\n.type classify, @function\nclassify:\n  lea 7(%rdi,%rdi,2), %rcx\n  lea (,%rcx,4), %rdx\n  lea 1(%rdx), %r8\n  lea table(%rip), %rsi\n  movslq (%rsi,%rdi,4), %rax\n  add %rsi, %rax\n  jmp *%rax\n"
  "0:\n  mov $10, %eax\n  ret\n1:\n  mov $20, %eax\n  ret\n.size classify, .-classify\n"
  ".section .rodata\n.p2align 2\ntable:\n  .long 0b-table, 1b-table\n.text\n");
int classify(long);
__attribute__((noinline)) int run(long n) { return classify(n) + 1; }
int main(int argc, char **argv) { return run(argc - 1); }
`;

describe.skipIf(!nativeX64)('a flip in the bits a sign-extending load made (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'widened-load', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const classify = listing.slice(listing.indexOf('<classify>:'));
  const add = BigInt(`0x${/^\s*([0-9a-f]+):\s+add\s+%rsi,%rax/m.exec(classify)![1]}`);

  it('bit 59 of rax after movsxd: a CPU fault in the loaded value', async () => {
    const report = await explainInjected({ dir, binary }, add, ['set $rax = $rax ^ 0x0800000000000000']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'loaded-value', bit: 59 });
    expect(BigInt(report.verdict.expected!) ^ BigInt(report.verdict.observed!)).toBe(1n << 59n);
  }, 300_000);
});
