/**
 * A value loaded once at a function's entry and used on every pass of a
 * loop, on real cores of a gcc-built x86-64 program:
 *
 *   walk: mov r9,[rdi] ; … ; 1: movsxd rcx,[rax] ; … ; mov r11,[r9+rcx*8] ; … ; jne 1b
 *
 * The fault's own window starts at the loop's head with r9 as the dump has
 * it, so the code as written faults there whatever r9 is: a software
 * account nothing in that window refutes. The window from main's call of
 * walk enters as the stack says it did: the registers walk changes before
 * it comes to the fault are unknown at that call, not the dump's later
 * values, and the code as written from there runs the faulting load on
 * every pass without faulting. Then:
 *
 * - the CPU flipped bit 30 of r9 as it was loaded (gdb plays it): the
 *   loop-head window's accounts start from a state the code does not make,
 *   and the flip of the load at walk's entry explains the dump: a CPU fault
 *   in the loaded value, bit 30;
 * - the program itself stored a wild pointer (a software bug): the code as
 *   written from the call faults too, and it stays software;
 * - the address of the load was one bit off on the third pass only (gdb
 *   moves r9 for that access and puts it back): the code as written from
 *   the call comes to the loop's head with the very state the loop-head
 *   window starts from on that pass, which refutes nothing of it: a CPU
 *   fault in the data address.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainCore, explainInjected } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
struct table { long *vals; long scale; };
__attribute__((noinline)) long walk(const struct table *t, const int *idx, int n) {
  long *vals = t->vals;
  long sum = 0;
  for (int r = 0; r < 4; r++)
    for (int i = 0; i < n; i++) sum += vals[idx[i]] * t->scale;
  return sum;
}
static long vals[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const int idx[6] = { 3, 1, 2, 0, 7, 5 };
int main(int argc, char **argv) {
  struct table t = { vals, argc };
  if (argc > 1) t.vals = (long *)0x7654320UL;
  return (int)walk(&t, idx, 6);
}
`;

describe.skipIf(!nativeX64)('a window from the call the stack shows refutes the loop-head window (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'covering', SOURCE, ['-O2', '-no-pie']);
  const walk = listing.slice(listing.indexOf('<walk>:'));
  const load = /^\s*([0-9a-f]+):\s+mov\s+\(%rdi\),%(r\w+)/m.exec(walk)!;
  const after = /^\s*([0-9a-f]+):/m.exec(walk.slice(walk.indexOf(load[0]) + load[0].length))!;

  it('bit 30 of the pointer flipped as it was loaded at the entry: a CPU fault in the loaded value', async () => {
    const report = await explainInjected({ dir, binary }, BigInt(`0x${after[1]}`), [`set $${load[2]} = $${load[2]} ^ 0x40000000`]);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'loaded-value', bit: 30, address: `0x${load[1]}` });
    expect(BigInt(report.verdict.observed!) ^ BigInt(report.verdict.expected!)).toBe(1n << 30n);
  }, 300_000);

  it('the load\'s address one bit off on the third pass: a CPU fault in the data address, not refuted by the call\'s window', async () => {
    const access = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+\(%r\w+,%rcx,8\),%r\w+/m.exec(walk)![1]}`);
    const base = /^\s*[0-9a-f]+:\s+mov\s+\(%(r\w+),%rcx,8\)/m.exec(walk)![1];
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'address.core'),
      commands: [`break *0x${access.toString(16)}`, 'ignore 1 2', 'continue', 'delete', `set $${base} = $${base} ^ 0x40000000`, 'stepi', `set $${base} = $${base} ^ 0x40000000`],
    });
    const report = await explainCore(core, binary);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'data-address', bit: 30 });
  }, 300_000);

  it('the program stored a wild pointer itself: software', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: ['bad'], commands: ['continue'], signal: 'SIGSEGV', core: join(dir, 'software.core') });
    const report = await explainCore(core, binary);
    expect(report.verdict.class).toBe('software');
  }, 300_000);
});
