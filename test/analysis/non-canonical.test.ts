/**
 * x86-64 faults a transfer to a non-canonical address on the transfer itself
 * (#GP: Linux SIGSEGV with si_code SI_KERNEL and no address), where Unicorn
 * jumps and then fails to fetch. Real cores of a gcc-built program that
 * calls, tail-jumps and returns through a poisoned pointer (0xd0 fill, as
 * MALLOC_PERTURB_ leaves freed memory): each is a software bug, the trap
 * and the stack pointer reproduced as the CPU left them (nothing pushed or
 * popped), and no bit flip is offered in its place.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
#include <stdlib.h>
#include <string.h>
struct obj { long pad; void (*fn)(void); };
/* A call through the freed pointer, then code after it: not a tail call. */
__attribute__((noinline)) int call_through(struct obj *o) { o->fn(); return 1; }
/* A tail call: jmp qword ptr [rdi+8]. */
__attribute__((noinline)) void jump_through(struct obj *o) { o->fn(); }
/* A return through a poisoned return address. */
__attribute__((noinline)) void return_through(void) {
  void *volatile *slot = (void *volatile *)__builtin_frame_address(0) + 1;
  *slot = (void *)0xd0d0d0d0d0d0d0d0UL;
}
int main(int argc, char **argv) {
  struct obj *o = malloc(sizeof *o);
  memset(o, 0xd0, sizeof *o);
  switch (argv[1][0]) {
  case 'c': return call_through(o);
  case 'j': jump_through(o); return 0;
  default: return_through(); return 0;
  }
}
`;

describe.skipIf(!nativeX64)('a transfer to a non-canonical address (x86-64 #GP)', () => {
  // -O2 makes jump_through a tail jump; -fno-omit-frame-pointer gives return_through a frame to poison.
  const { dir, binary } = buildCProgram(nativeX64!, 'poisoned', SOURCE, ['-O2', '-fno-omit-frame-pointer', '-no-pie']);

  it.each([
    { how: 'c', mnemonic: / call /, name: 'a call' },
    { how: 'j', mnemonic: / jmp /, name: 'a tail jump' },
    { how: 'r', mnemonic: / ret/, name: 'a return' },
  ])('through $name: software, the CPU stopped on the transfer with the stack untouched', async ({ how, mnemonic }) => {
    const { core } = await runToCore(nativeX64!, { program: binary, args: [how], commands: ['continue'], signal: 'SIGSEGV', core: join(dir, `core-${how}`) });
    const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
    {
      const report = await explain(dump, { searchReplays: 400 });
      expect(report.fault?.summary).toMatch(/general protection/);
      expect(report.fault?.instruction).toMatch(mnemonic);
      expect(report.verdict.class).toBe('software');
      const trap = report.checks.find((c) => c.what === 'trap');
      expect(trap).toMatchObject({ status: 'match' });
      expect(trap?.actual).toMatch(/general protection at .*non-canonical d0d0d0d0`d0d0d0d0/);
      expect(report.checks.find((c) => c.what === 'rsp')?.status).toBe('match');
      expect(report.checks.find((c) => c.what === 'rip')?.status).toBe('match');
      expect(report.hypotheses.some((h) => h.explains && h.class !== 'software' && h.class !== 'no-fault')).toBe(false);
    }
  }, 120_000);
});
