/**
 * A switch whose cases each return on their own, on real cores of a
 * gcc-built x86-64 program (gdb plays the fault):
 *
 *   classify: cmp edi,5 ; ja def ; jmp [table+rdi*8]
 *   c0: lea eax,[rdi+3] ; ret        c1: lea eax,[rdi+rdi*4] ; ret
 *   c2: mov eax,edi ; xor eax,33h ; ret   c3: mov eax,edi ; sar eax,1 ; ret   …
 *
 * classify(3) runs c3. Memory flips bit 20 of its return address before
 * c3's ret takes it: the pc is one bit from the return site. The windows go
 * to the returns whose code fits the dump (c3's `sar` leaves eax as
 * recorded; c0's `lea` does not), not to the first three of the function:
 * memory corruption, in the slot, with both values.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl classify\n.type classify, @function\nclassify:\n  cmp $5, %edi\n  ja 9f\n  mov %edi, %eax\n  jmp *table(,%rax,8)\n"
  "0:\n  lea 3(%rdi), %eax\n  ret\n1:\n  lea (%rdi,%rdi,4), %eax\n  ret\n2:\n  mov %edi, %eax\n  xor $0x33, %eax\n  ret\n"
  "3:\n  mov %edi, %eax\n  sar $1, %eax\n  ret\n4:\n  mov %edi, %eax\n  not %eax\n  ret\n5:\n  lea (,%rdi,4), %eax\n  ret\n"
  "9:\n  mov $100, %eax\n  sub %edi, %eax\n  ret\n.size classify, .-classify\n"
  ".section .rodata\n.p2align 3\ntable:\n  .quad 0b, 1b, 2b, 3b, 4b, 5b\n.text\n");
int classify(int);
__attribute__((noinline)) int run(int n) { return classify(n) + 1; }
int main(int argc, char **argv) { return run(argc + 2); }
`;

describe.skipIf(!nativeX64)('a return address flipped in memory, in a switch of many returns (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'return-choice', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const ret = BigInt(`0x${/\ssar\s+%eax\n\s*([0-9a-f]+):\s+ret/.exec(listing)![1]}`);

  it('bit 20 of the return address flipped in its slot before the fourth case returns: memory corruption', async () => {
    const report = await explainInjected({ dir, binary }, ret, ['set *(long *)$rsp = *(long *)$rsp ^ 0x100000']);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 20 });
    expect(BigInt(report.verdict.expected!) ^ BigInt(report.verdict.observed!)).toBe(0x100000n);
  }, 300_000);
});
