/**
 * A switch's jump table entry with one bit flipped in memory, on a real core
 * of a gcc-built i386 program (x86 code built without PIC keeps absolute
 * case addresses in its tables; gdb flips the entry before the switch loads it).
 *
 * The jump goes to an unmapped address one bit from a case's code. That
 * code is no function start, but the entries beside the slot point into the
 * same function: the slot is a table of cases, and the value one bit from
 * one of them. Memory corruption, not the software bug of the code as written.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, x86 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
__attribute__((noinline)) long pick(long k, long x) {
  switch (k) {
  case 0: return x + 1;
  case 1: return x * 3;
  case 2: return x - 7;
  case 3: return x ^ 0x55;
  case 4: return x << 2;
  case 5: return x >> 1;
  default: return 0;
  }
}
int main(int argc, char **argv) {
  long s = 0;
  for (long i = 0; i < 6; i++) s += pick((i + argc) % 6, i);
  return (int)s;
}
`;

describe.skipIf(!x86)('a jump table entry flipped in memory (i386, -O0, no PIC)', () => {
  const { dir, binary, listing } = buildCProgram(x86!, 'jump-table-memory', SOURCE, ['-O0', '-fno-pic', '-no-pie']);
  const body = listing.slice(listing.indexOf('<pick>:'));
  // add $table, %eax; mov (%eax), %eax; jmp *%eax: gdb flips the entry before the load.
  const jump = /add\s+\$0x([0-9a-f]+),%eax\n\s*([0-9a-f]+):\s+mov\s+\(%eax\),%eax\n\s*[0-9a-f]+:\s+jmp\s+\*%eax/.exec(body)!;
  const table = BigInt(`0x${jump[1]}`);

  it('bit 28 of the entry of case 1 (the first call): memory corruption at that entry', async () => {
    const entry = table + 4n;
    const report = await explainInjected({ dir, binary }, BigInt(`0x${jump[2]}`), [`set *(unsigned int *)0x${entry.toString(16)} = *(unsigned int *)0x${entry.toString(16)} ^ 0x10000000`], x86!);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 28, address: `0x${entry.toString(16)}` });
  }, 300_000);
});
