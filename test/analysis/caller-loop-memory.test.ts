/**
 * A pointer flipped in the caller's stack slot between its store and its
 * reload, on a real core of a gcc-built x86-64 program at -O0 (gdb flips bit
 * 21 of the local `p` on the loop's second pass, before the call through it):
 *
 *   p = &base[i & 3];  mov [rbp-18h], rax … mov rax, [rbp-18h]; mov rdi, rax; call rcx
 *
 * The callee faults reading through its argument. Replayed from the fault's
 * function alone, the code as written faults with the dump's argument: a
 * software bug by itself. The window at the call, started at the loop's head
 * with the caller's frame pointer (the callee's `push rbp` slot holds it; the
 * dump's rbp is the callee's), computes p again, comes to the callee with
 * another argument and runs the faulting load without faulting on that pass:
 * the shorter window's start state is not one the code as written makes.
 * What remains is the flip of the slot between store and load.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
struct item { int value; long (*op)(struct item *, int); };
__attribute__((noinline)) long op_offset(struct item *it, int k) { return it->value + k; }
__attribute__((noinline)) long op_scale(struct item *it, int k) { return it->value * k; }
struct item items[4] = { { 3, op_offset }, { 5, op_scale }, { 7, op_offset }, { 9, op_scale } };
__attribute__((noinline)) long run(struct item *base, int n) {
  long s = 0;
  for (int i = 0; i < n; i++) {
    struct item *p = &base[i & 3];
    s += p->op(p, i);
  }
  return s;
}
int main(int argc, char **argv) { return (int)run(items, argc + 6); }
`;

describe.skipIf(!nativeX64)('a pointer flipped in the caller\'s slot before the call (x86-64, -O0)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'caller-loop-memory', SOURCE, ['-O0', '-no-pie']);
  const body = listing.slice(listing.indexOf('<run>:'));
  // The reload of p that becomes the argument: the second `mov -0x18(%rbp),%rax`.
  const reloads = [...body.matchAll(/^\s*([0-9a-f]+):\s+mov\s+-0x18\(%rbp\),%rax/gm)];
  const reload = BigInt(`0x${reloads[1]![1]}`);
  const items = BigInt(`0x${/([0-9a-f]+) <items>/.exec(listing)![1]}`);

  it('bit 21 of the slot on the second pass: memory corruption, the slot and the values exact', async () => {
    // The second pass: p = &items[1], inside the array (no symbol starts there).
    const report = await explainInjected({ dir, binary }, reload, [
      `tbreak *0x${reload.toString(16)}`, 'continue', 'set *(long *)($rbp - 0x18) = *(long *)($rbp - 0x18) ^ 0x200000',
    ]);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 21, expected: `0x${(items + 16n).toString(16)}` });
    // The window at the call starts at the loop's head, with rbp from the callee's save slot.
    const call = report.windows.find((w) => /call rcx/.test(w.anchor))!;
    expect(call.recovered.some((r) => r.register === 'rbp')).toBe(true);
  }, 300_000);
});
