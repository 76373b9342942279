/**
 * Transfers that went astray, and a store that faulted, on real cores of a
 * gcc-built x86-64 program (gdb plays the fault).
 *
 * - `handlers.fn` is called through memory. gdb flips bit 10 of it in memory:
 *   the call lands 0x400 past `good`, in the middle of `other`,
 *   whose next instruction reads near null. The code as written reproduces
 *   every value (the memory holds the bad pointer), but the call's target is
 *   no function start and is one bit from `good`'s: memory corruption, with
 *   the slot and both values. The program itself storing a pointer three
 *   bits away lands in the same code and stays a software bug.
 * - `apply(fn, x)` copies its argument to rax and calls it. gdb makes the
 *   CPU go to `fn` with bit 40 flipped (a fetch fault at once). The window
 *   that starts at `apply` has rdi unknown; the transfer went to its start
 *   value unchanged and rax still holds it at the fault, so rdi is read
 *   back from rax: a CPU fault in the branch target.
 * - A store into a read-only table: Unicorn reports the write before the
 *   fault, which must not count as the slot's new value (the dump holds
 *   the old one): the code as written explains it, a software bug.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
__asm__(
  ".text\n.p2align 12\n.globl good\n.type good, @function\ngood:\n"
  "  lea 1(%rdi), %rax\n  ret\n.size good, .-good\n"
  "  .p2align 4\n.globl other\n.type other, @function\nother:\n"
  "  mov %rdi, %rax\n  add $2, %rax\n  add $3, %rax\n"
  "  .org good + 0x3fc\n"
  "  add $4, %rax\n"
  "  mov 0x10(%rdi), %rax\n  add $5, %rax\n  ret\n.size other, .-other\n"
  "  .p2align 12\n");
long good(long);
long other(long);
struct ops { long (*fn)(long); };
struct ops handlers = { good };
const long ro_table[4] = { 1, 2, 3, 4 };
__attribute__((noinline)) long run(long x) { return handlers.fn(x); }
__attribute__((noinline)) long apply(long (*fn)(long), long x) { return fn(x) + 1; }
int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == 'w') handlers.fn = (long (*)(long))((char *)good + 0x3fc);
  if (argc > 1 && argv[1][0] == 'r') { *(volatile long *)&ro_table[argc] = 7; return 0; }
  if (argc > 1 && argv[1][0] == 'a') return (int)apply(argc > 2 ? other : good, 5);
  return (int)run(5);
}
`;

describe.skipIf(!nativeX64)('transfers gone astray and a faulting store (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'stray', SOURCE, ['-O2', '-no-pie', '-fno-inline']);
  const apply = listing.slice(listing.indexOf('<apply>:'));
  const callRax = BigInt(`0x${/^\s*([0-9a-f]+):\s+call\s+\*%r(?:ax|di)/m.exec(apply)![1]}`);
  const explainCore = async (core: string) => {
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    return { dump, report: await explain(dump, { searchReplays: 4000, searchBudgetMs: 120_000 }) };
  };

  it('a function pointer one bit off in memory, landing mid-function: memory corruption with the slot and both values', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'memory.core'),
      commands: ['break run', 'continue', 'set var *(long *)&handlers ^= 0x400', 'delete', 'continue'],
    });
    const { dump, report } = await explainCore(core);
    const good = dump.symbols.resolve('good')!;
    expect(report.verdict).toMatchObject({
      class: 'memory-corruption', bit: 10, expected: `0x${good.toString(16)}`, observed: `0x${(good ^ 0x400n).toString(16)}`,
      address: `0x${dump.symbols.resolve('handlers')!.toString(16)}`,
    });
  }, 300_000);

  it('a wild pointer the program stored, landing in the same code: a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['wild'], signal: 'SIGSEGV', core: join(dir, 'wild.core'), commands: ['continue'] });
    const { report } = await explainCore(core);
    expect(report.verdict.class).toBe('software');
  }, 300_000);

  it('a call register copied from an argument, its target one bit off: rdi is read back from rax, a CPU fault', async () => {
    const { core } = await runToCore(nativeX64!, {
      program: binary, args: ['apply'], signal: 'SIGSEGV', core: join(dir, 'target.core'),
      commands: [
        `break *0x${callRax.toString(16)}`, 'continue', 'delete',
        // What the CPU does for `call reg` with one bit of the target lost: the return address pushed, the pc elsewhere.
        'set $sp = $sp - 8', `set var *(long *)$sp = 0x${callRax.toString(16)} + 2`,
        `set $pc = (${/call\s+\*%rdi/.test(apply) ? '$rdi' : '$rax'}) ^ (1L << 40)`, 'continue',
      ],
    });
    const { dump, report } = await explainCore(core);
    const good = dump.symbols.resolve('good')!;
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'branch-target', bit: 40, expected: `0x${good.toString(16)}` });
    // The window at apply's entry: rdi (overwritten there) comes back from rax, which the call went to.
    const entry = report.windows.find((w) => w.start === `0x${dump.symbols.resolve('apply')!.toString(16)}`);
    expect(entry?.recovered).toContainEqual({ register: 'rdi', slot: 'copied', value: `0x${good.toString(16)}`, from: 'rax' });
  }, 300_000);

  it('a store into a read-only table faults before it writes: the code as written explains it', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['ro'], signal: 'SIGSEGV', core: join(dir, 'ro.core'), commands: ['continue'] });
    const { report } = await explainCore(core);
    const asWritten = report.hypotheses.find((h) => h.id === 'as-written');
    expect(asWritten?.summary.mismatch).toBe(0);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
