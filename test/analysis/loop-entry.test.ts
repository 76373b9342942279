/**
 * Faults at a loop's head, on real cores of a gcc-built x86-64 program.
 *
 * `walk` sums a linked list several times; its inner loop starts where two
 * ways join: the fall-through from `mov rax, rdi` (the list's head) and the
 * `test rax, rax; jne` back-edge (a non-null next node). gdb steps the pc
 * over `mov rax, rdi` on the second round, as a CPU that dropped it would:
 * rax is still the null that ended the first round, and the load at the
 * loop's head faults on address 0, the very picture of a null dereference.
 * Replayed from the loop's head alone the code as written matches every
 * register; but neither way in can arrive with rax = 0 (the fall-through
 * gives rdi, the back-edge is not taken with rax = 0), so the account
 * fails, and the skip explains the fault. The same function handed a null
 * list (a real software bug) arrives through the fall-through with rax =
 * rdi = 0, and stays a software bug.
 *
 * `gather` reads `table[index[i]]`: one index entry with bit 22 set by gdb
 * in memory (a memory error) sends the read 16 MiB away; the value is 0x1a
 * with one bit far above the rest, and without it the read is inside the
 * table: memory corruption. An index of 0x12345678 written by the program
 * itself has no such shape: a software bug.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
#include <stdlib.h>
__asm__(
  ".text\n.globl walk\n.type walk, @function\nwalk:\n"
  "  .cfi_startproc\n"
  "  xor %ecx, %ecx\n  xor %edx, %edx\n"
  ".Louter:\n  mov %rdi, %rax\n"
  ".Linner:\n  add (%rax), %rdx\n  mov 8(%rax), %rax\n  test %rax, %rax\n  jne .Linner\n"
  "  add $1, %ecx\n  cmp %esi, %ecx\n  jne .Louter\n"
  "  mov %rdx, %rax\n  ret\n"
  "  .cfi_endproc\n.size walk, .-walk\n");
long walk(const long *list, int rounds);
struct node { long value; struct node *next; };
static struct node nodes[4];
static unsigned index_table[64];
static long table[64];
__attribute__((noinline)) long gather(const unsigned *index, int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += table[index[i]];
  return sum;
}
int main(int argc, char **argv) {
  for (int i = 0; i < 4; i++) { nodes[i].value = i; nodes[i].next = i < 3 ? &nodes[i + 1] : 0; }
  for (int i = 0; i < 64; i++) { index_table[i] = (i * 7) & 63; table[i] = i; }
  if (argc > 1 && argv[1][0] == 'n') return (int)walk(0, 3);
  if (argc > 1 && argv[1][0] == 'i') index_table[26] = 0x12345678;
  if (argc > 1) return (int)gather(index_table, 64);
  return (int)walk((const long *)nodes, 3);
}
`;

describe.skipIf(!nativeX64)('faults at a loop head (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'loop', SOURCE, ['-O2', '-no-pie']);
  const body = listing.slice(listing.indexOf('<walk>:'));
  const head = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+%rdi,%rax/m.exec(body)![1]}`);
  const explainCore = async (core: string) => explain(await openDump(core, { binaries: [binary], sysroot: '/' }), { searchReplays: 4000, searchBudgetMs: 120_000 });

  it('a skipped mov at the loop head: no way into the loop arrives with the null the code then reads, so a CPU fault', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'skipped.core'),
      commands: [`break *0x${head.toString(16)}`, 'continue', 'continue', 'set $pc = $pc + 3', 'delete', 'continue'],
    });
    const report = await explainCore(core);
    expect(report.fault?.accessAddress).toBe('0x0');
    expect(report.hypotheses.find((h) => h.id === 'as-written')?.explains).toBe(false);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip', hypothesis: `skip@${head.toString(16)}` });
  }, 300_000);

  it('a null list handed to the same loop arrives as written: a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['null'], signal: 'SIGSEGV', core: join(dir, 'null.core'), commands: ['continue'] });
    const report = await explainCore(core);
    expect(report.fault?.accessAddress).toBe('0x0');
    expect(report.verdict.class).toBe('software');
  }, 300_000);

  it('an index with one bit set far above its value, in memory: memory corruption, with the slot and both values', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, args: ['gather'], signal: 'SIGSEGV', core: join(dir, 'index.core'),
      commands: ['break gather', 'continue', 'set var *(unsigned *)((char *)&index_table + 104) |= 0x400000', 'delete', 'continue'],
    });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    const slot = dump.symbols.resolve('index_table')! + 26n * 4n;
    const report = await explain(dump, { searchReplays: 4000, searchBudgetMs: 120_000 });
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', bit: 22, expected: `0x${((26 * 7) & 63).toString(16)}`, address: `0x${slot.toString(16)}` });
  }, 300_000);

  it('an index the program itself set wild has no such shape: a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['index'], signal: 'SIGSEGV', core: join(dir, 'wild.core'), commands: ['continue'] });
    const report = await explainCore(core);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
