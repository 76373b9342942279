/**
 * A trap every run of the code as written comes to, on an address the dump
 * holds only at the fault, on a real core of a gcc-built x86-64 program:
 *
 *   g:       mov rax, rdx ; xor edx, edx ; ret
 *   main:    mov rdx, 7654320h ; call g ; back: …
 *   landing: mov rcx, [rax]          (at back + 100h)
 *
 * The return address g's `ret` takes is flipped in memory (bit 8, gdb plays
 * the corruption): control lands on `mov rcx, [rax]`, which faults on rax.
 * The window of the `ret` starts with rdx unknown (g overwrites it), so
 * each run faults at the landing on its own fill of rax: how the code as
 * written ends was "unknown", and no account in which it ran as written was
 * offered. Every run comes to the faulting instruction and faults there;
 * the dump's rax says where. Then the return address read from memory, one
 * bit from the call's own return address, is memory corruption.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl g\n.type g, @function\ng:\n  mov %rdx, %rax\n  xor %edx, %edx\n  ret\n.size g, .-g\n"
  ".globl main\n.type main, @function\n.p2align 9\nmain:\n  mov $0x7654320, %rdx\n  call g\nback:\n  xor %eax, %eax\n  ret\n"
  ".org back + 0x100\nlanding:\n  mov (%rax), %rcx\n  xor %eax, %eax\n  ret\n.size main, .-main\n");
`;

describe.skipIf(!nativeX64)('a trap every run comes to, its address known only at the fault (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'reached-trap', SOURCE, ['-O2', '-no-pie']);
  const g = listing.slice(listing.indexOf('<g>:'));
  const ret = BigInt(`0x${/^\s*([0-9a-f]+):\s+ret/m.exec(g)![1]}`);

  it('a return address one bit off in memory, landing on a load through a register the window made: memory corruption', async () => {
    const report = await explainInjected({ dir, binary }, ret, ['set *(long *)$rsp ^= 0x100']);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 8 });
    expect(BigInt(report.verdict.observed!) - BigInt(report.verdict.expected!)).toBe(0x100n);
  }, 300_000);
});
