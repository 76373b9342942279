/**
 * A skipped `mov rax, rdi` in a function called from a loop gcc rotated (the
 * first pass jumps forward into the loop's middle; later ones fall into it
 * from the body), on a real core of a gcc-built x86-64 program at -O2 (gdb
 * steps over the instruction on the third call):
 *
 *   apply: sub rsp, 8; mov rax, rdi; mov edi, esi; call rax
 *
 * rax keeps what the loop's body left there (i & 3 = 2) and the call goes to
 * address 2. From apply alone, the code as written does that if apply was
 * called with 2 as its function pointer (a software bug). The window at the
 * call in the loop starts in the body (not at the forward jump's first pass),
 * takes i back from rbx, and calls apply with choices[2]: every call it makes
 * comes with another pointer than the one apply's window starts from, and
 * none goes to 2. What remains is the skip.
 */
import { describe, expect, it } from 'vitest';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { explainInjected } from '../helpers/explain-core.ts';

const SOURCE = String.raw`
typedef int (*handler)(int);
__attribute__((noinline)) int add_one(int x) { return x + 1; }
__attribute__((noinline)) int twice(int x) { return 2 * x; }
__attribute__((noinline)) int square_mod(int x) { return (x * x) % 97; }
__attribute__((noinline)) int negate(int x) { return -x; }
static handler const choices[4] = { add_one, twice, square_mod, negate };
__attribute__((noinline)) int apply(handler f, int x) { return f(x) + 1; }
__attribute__((noinline)) long run(int n) {
  long s = 0;
  for (int i = 0; i < n; i++) s += apply(choices[i & 3], i);
  return s;
}
int main(int argc, char **argv) { return (int)run(argc + 6); }
`;

describe.skipIf(!nativeX64)('a skipped move in a function a rotated loop calls (x86-64, -O2)', () => {
  const { dir, binary, listing } = buildCProgram(nativeX64!, 'rotated-loop-skip', SOURCE, ['-O2', '-no-pie']);
  const body = listing.slice(listing.indexOf('<apply>:'));
  const move = BigInt(`0x${/^\s*([0-9a-f]+):\s+mov\s+%rdi,%rax/m.exec(body)![1]}`);
  const at = `*0x${move.toString(16)}`;

  it('the third call skips mov rax, rdi: a CPU fault (skip), not a software bug of apply', async () => {
    const report = await explainInjected({ dir, binary }, move, [`tbreak ${at}`, 'continue', `tbreak ${at}`, 'continue', 'set $pc = $pc + 3']);
    expect(report.verdict).toMatchObject({ class: 'cpu-fault', location: 'skip' });
    expect(report.hypotheses[0]!.id).toBe(`skip@${move.toString(16)}`);
  }, 300_000);
});
