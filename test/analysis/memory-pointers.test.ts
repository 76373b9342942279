/**
 * Pointers the memory held one bit off, on real cores of a gcc-built x86-64
 * program (gdb plays the corruption by flipping a bit in memory, so the dump
 * holds the flipped value and the CPU follows it faithfully):
 *
 * - An array of pointers to heap objects (`all[i]->size`): one element
 *   loses nothing but gains bit 23 and points past the heap. The bit alone
 *   says little (the neighbour is only "mapped memory"); the elements beside
 *   it pointing next to the repaired value, and far from the flipped one,
 *   say the slot is one of a run of pointers to like objects.
 * - A pointer kept in a stack slot at -O0 and indexed in a loop (`p[i]`:
 *   `mov rax,[rbp-18h]` then `add rax,rdx` then `mov rax,[rax]`), bit 30
 *   cleared in the slot by the fourth iteration: the window is the loop's
 *   body (the pointer was stored before it), the faulting base is the
 *   loaded pointer plus the index's offset, and no slot holds it; the
 *   pointer it was computed from is what the memory held.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { join } from 'node:path';
import { explainCore, explainInjected } from '../helpers/explain-core.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
#include <stdlib.h>
struct shape { long kind; long size; long pad[2]; };
__attribute__((noinline)) long total(struct shape **all, int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += all[i]->size;
  return sum;
}
__attribute__((noinline)) long sum(long *p, int n) {
  long s = 0;
  for (int i = 0; i < n; i++) s += p[i];
  return s;
}
int main(int argc, char **argv) {
  struct shape *all[6];
  for (int i = 0; i < 6; i++) { all[i] = malloc(sizeof *all[i]); all[i]->kind = i; all[i]->size = 10 * i + argc; }
  long local[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  return (int)(sum(local, 8) + total(all, 6));
}
`;

/** The address of the first instruction of `name` in the listing whose text matches `pattern`. */
function addressIn(listing: string, name: string, pattern: RegExp): bigint {
  const body = listing.slice(listing.indexOf(`<${name}>:`));
  const line = body.split('\n').find((l) => pattern.test(l));
  return BigInt(`0x${/^\s*([0-9a-f]+):/.exec(line!)![1]}`);
}

describe.skipIf(!nativeX64)('pointers the memory held one bit off (x86-64)', () => {
  it('an array of heap pointers, one with bit 23 set: memory corruption, told by the pointers beside it', async () => {
    const { dir, binary, listing } = buildCProgram(nativeX64!, 'memory-siblings', SOURCE, ['-O2', '-no-pie']);
    const entry = addressIn(listing, 'total', /^\s*[0-9a-f]+:\s/);
    const report = await explainInjected({ dir, binary }, entry, ['set *(long *)($rdi + 16) ^= 0x800000']);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 23 });
    expect(BigInt(report.verdict.expected!) ^ BigInt(report.verdict.observed!)).toBe(1n << 23n);
  }, 300_000);

  it('a stack pointer kept at -O0, bit 30 cleared, then indexed: memory corruption of the pointer, not of the sum', async () => {
    const { dir, binary, listing } = buildCProgram(nativeX64!, 'memory-offset', SOURCE, ['-O0', '-no-pie']);
    const load = addressIn(listing, 'sum', /mov\s+-0x18\(%rbp\),%rax/);
    const { core } = await runToCore(nativeX64!, {
      program: binary, signal: 'SIGSEGV', core: join(dir, 'offset.core'),
      commands: [`break *0x${load.toString(16)}`, 'ignore 1 3', 'continue', 'delete', 'set *(long *)($rbp - 0x18) ^= 0x40000000', 'continue'],
    });
    const report = await explainCore(core, binary);
    expect(report.verdict).toMatchObject({ class: 'memory-corruption', location: 'memory', bit: 30 });
    expect(BigInt(report.verdict.observed!) + 0x40000000n).toBe(BigInt(report.verdict.expected!));
  }, 300_000);
});
