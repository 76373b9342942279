/**
 * A fault in a later pass of a loop, on real cores of a gcc-built x86-64
 * program (gdb plays the fault). `walk` loops back through a register (no
 * direct branch marks the loop's head), so the code before the faulting
 * instruction runs straight back to the function's start:
 *
 *   walk: xor edx,edx ; xor eax,eax ; lea rsi,[slots] ; lea r8,[1f]
 *   1:    cmp rax,4 ; jge 2f
 *         mov rcx,[rsi+rax*8]
 *         add rdx,[rcx]        ; faults in the third pass
 *         add rax,1 ; jmp r8
 *
 * A replay from the start reaches the faulting instruction in the first
 * pass, with another rax and rcx than the dump's: every account of that
 * window mismatches. The faulting instruction replayed alone from the
 * recorded registers settles it:
 *
 * - the CPU read one bit away from rcx (gdb moves rcx for the access and
 *   puts it back): a data address one bit off, with the bit and both
 *   addresses;
 * - the modrm byte of `add` has bit 7 flipped in memory before the third
 *   pass (`add rdx,[rcx+disp32]`, the displacement taken from the bytes
 *   after it): code corruption.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.globl walk\n.type walk, @function\nwalk:\n"
  "  xor %edx, %edx\n  xor %eax, %eax\n  lea slots(%rip), %rsi\n  lea 1f(%rip), %r8\n"
  "1:\n  cmp $4, %rax\n  jge 2f\n  mov (%rsi,%rax,8), %rcx\n  add (%rcx), %rdx\n  add $1, %rax\n  jmp *%r8\n"
  "2:\n  mov %rdx, %rax\n  ret\n.size walk, .-walk\n");
long values[4] = { 1, 2, 3, 4 };
long *slots[4] = { &values[0], &values[1], &values[2], &values[3] };
long walk(void);
int main(void) { return (int)walk(); }
`;

describe.skipIf(!nativeX64)('a fault in a later pass of a loop: the faulting instruction alone (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'loop-pass', SOURCE, ['-O2', '-no-pie']);
  const walk = listing.slice(listing.indexOf('<walk>:'));
  const add = BigInt(`0x${/^\s*([0-9a-f]+):\s+add\s+\(%rcx\),%rdx/m.exec(walk)![1]}`);
  const explainCore = async (core: string) => {
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    return explain(dump, { searchReplays: 3000, searchBudgetMs: 120_000 });
  };

  it('the address read one bit off in the third pass: a data address, with the bit and both addresses', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'address.core'),
      commands: [`break *0x${add.toString(16)}`, 'ignore 1 2', 'continue', 'set $rcx = $rcx ^ (1L << 30)', 'delete', 'continue', 'set $rcx = $rcx ^ (1L << 30)'],
    });
    const report = await explainCore(core);
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const value = dump.symbols.resolve('values')! + 16n;
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'data-address', bit: 30, expected: `0x${value.toString(16)}`, observed: `0x${(value ^ (1n << 30n)).toString(16)}` });
    // The window from the loop's head does not reproduce it; the instruction alone does.
    expect(report.windows.some((w) => w.start === `0x${add.toString(16)}` && w.instructions.length === 1)).toBe(true);
  }, 300_000);

  it('the modrm byte of the faulting add flipped before the third pass: code corruption', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'code.core'),
      commands: [`break *0x${add.toString(16)}`, 'ignore 1 2', 'continue', 'delete', `set var *(unsigned char *)0x${(add + 2n).toString(16)} = 0x91`, 'continue'],
    });
    const report = await explainCore(core);
    const modrm = add + 2n;
    expect(report.verdict).toMatchObject({ class: 'code-corruption', bit: 7, expected: '0x11', observed: '0x91', address: `0x${modrm.toString(16)}` });
  }, 300_000);
});
