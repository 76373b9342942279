/**
 * A call through a null function pointer kept on the heap, written as a
 * small Windows minidump by the lab's writer (stack and code near the pc
 * only) from a real core of a gcc-built x86-64 program. The heap is not in
 * the minidump: replayed from the caller, the code as written loads the
 * pointer from memory the dump lacks, and where it goes is unknown. The
 * fault itself still shows the pattern (execute of 0, a null pointer): a
 * software bug, not "inconclusive".
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/analysis/explain.ts';
import { openDump } from '../../src/dumps/open.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
#include <stdlib.h>
struct handler { long id; long (*fn)(long); };
__attribute__((noinline)) long dispatch(struct handler *h, long x) { return h->fn(x + h->id) + 1; }
int main(int argc, char **argv) {
  struct handler *h = calloc(1, sizeof *h);
  h->id = argc;
  return (int)dispatch(h, argc);
}
`;

describe.skipIf(!nativeX64)('a null function pointer the minidump does not hold (x86-64)', () => {
  const { dir, binary } = buildCProgram(nativeX64!, 'null-call', SOURCE, ['-O2', '-no-pie', '-fno-inline']);

  it('execute of 0 from a pointer on the heap: a software bug', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, signal: 'SIGSEGV', core: join(dir, 'null.core'), commands: ['continue'] });
    const minidump = join(dir, 'null.dmp');
    // The writers' command line, in a process of its own, as the lab runs them.
    execFileSync(process.execPath, ['--import', 'tsx', 'lab/writers/cli.ts', 'minidump', '--arch', 'x64', '--core', core, '--binary', binary, '--sysroot', '/', '--signal', '11', '--memory', 'small', '--out', minidump]);
    const dump = await openDump(minidump, { binaries: [binary] });
    const report = await explain(dump, { binaries: [binary], searchReplays: 3000, searchBudgetMs: 120_000 });
    expect(report.verdict.class, report.verdict.summary).toBe('software');
  }, 300_000);
});
