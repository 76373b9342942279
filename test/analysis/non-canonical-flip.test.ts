/**
 * A function pointer in a global variable whose bit 47 flipped in memory, on
 * a real core of a gcc-built x86-64 program (gdb flips it before the loop
 * that calls through it): the call goes to a non-canonical address and the
 * CPU raises a general-protection fault.
 *
 * A non-canonical address is a software pattern (a pointer from freed or
 * uninitialised memory), but one whose canonical neighbour, one bit away and
 * not in a tag byte, is a function's start says nothing for software: a flip
 * of bit 47 makes any user-space pointer non-canonical. The memory account
 * (the slot holds the value one bit from add_one) is the verdict.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
typedef long (*handler)(long);
__attribute__((noinline)) long add_one(long x) { return x + 1; }
__attribute__((noinline)) long twice(long x) { return 2 * x; }
handler global_handler = add_one;
__attribute__((noinline)) long run(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) s += global_handler(i);
  return s;
}
int main(int argc, char **argv) {
  if (argc > 5) global_handler = twice;
  return (int)run(argc + 3);
}
`;

describe.skipIf(!nativeX64)('a function pointer made non-canonical in memory (x86-64)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'non-canonical-flip', SOURCE, ['-O2', '-no-pie']);
  const run = BigInt(`0x${/^([0-9a-f]+) <run>:/m.exec(listing)![1]}`);
  const addOne = /^([0-9a-f]+) <add_one>:/m.exec(listing)![1]!;
  const slot = `0x${/# ([0-9a-f]+) <global_handler>/.exec(listing)![1]}`;

  it('bit 47 of the global: memory corruption, one bit from add_one', async () => {
    const report = await explainInjected({ dir, binary }, run, [`set *(unsigned long *)${slot} = *(unsigned long *)${slot} ^ 0x800000000000`]);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 47, expected: `0x${addOne.replace(/^0+/, '')}`, address: slot });
  }, 300_000);
});
