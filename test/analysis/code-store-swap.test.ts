/**
 * A code byte that turns a load into a store, on a real core of a gcc-built
 * x86-64 program at -O0 (gdb flips the byte in memory before it runs):
 *
 *   mov rax, qword ptr [rbp-18h]  (48 8b 45 e8)  →  mov qword ptr [rbp-18h], rax  (48 89 45 e8)
 *
 * The loop then adds the index's offset to the index instead of to the
 * pointer and faults near null. Replayed with the file's byte, the load reads
 * a slot the changed code wrote, whose earlier value the dump does not hold:
 * every run comes to the faulting instruction, on an address none can
 * compute. That does not show the recorded fault, so the changed byte stays
 * what made it: code corruption, not the null-plus-offset software pattern.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__attribute__((noinline)) long sum(long *p, int n) {
  long s = 0;
  for (int i = 0; i < n; i++) s += p[i];
  return s;
}
int main(int argc, char **argv) {
  long local[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  return (int)sum(local, 8);
}
`;

describe.skipIf(!nativeX64)('a code byte that turns a load into a store (x86-64, -O0)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'code-store-swap', SOURCE, ['-O0', '-no-pie']);
  const body = listing.slice(listing.indexOf('<sum>:'));
  const load = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+-0x18\(%rbp\),%rax/m.exec(body)![1]}`);

  it('bit 1 of the opcode (8b → 89): code corruption at that byte', async () => {
    const opcode = load + 1n;
    const report = await explainInjected({ dir, binary }, load, [`set *(unsigned char *)0x${opcode.toString(16)} = 0x89`]);
    expect(report.verdict).toMatchObject({ class: 'code-corruption', location: 'code', bit: 1, address: `0x${opcode.toString(16)}` });
  }, 300_000);
});
