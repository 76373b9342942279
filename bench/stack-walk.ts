/**
 * The stack walker against gdb on the same real core: the backtrace test
 * program (test/helpers/backtrace-programs.ts) built with gcc -O2 without
 * frame pointers, crashed in an assertion (11 frames through libc), its
 * core walked by faultline (open + walk in this process, after one warm-up
 * walk) and by `gdb -batch -ex bt` (a fresh process, as a user runs it).
 * Prints the times and their ratio.
 *
 * @example
 * ```sh
 * node --import tsx bench/stack-walk.ts
 * ```
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openElfCore } from '../src/dumps/elf/open-core.ts';
import { walkStack } from '../src/unwind/walk.ts';
import { crashCore } from '../test/helpers/backtrace-programs.ts';

const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-walk-'));
try {
  const run = crashCore('x64', 'O2', 'assert', dir);
  const walkOnce = async () => {
    const started = performance.now();
    const dump = openElfCore(run.core, { binaries: [run.binary] });
    const walk = await walkStack(dump, dump.threads[0]!.contexts[0]!);
    dump.close();
    return { ms: performance.now() - started, frames: walk.frames.length, cfi: walk.frames.filter((f) => f.trust === 'cfi').length };
  };
  await walkOnce();
  const runs = [await walkOnce(), await walkOnce(), await walkOnce()];
  const ours = Math.min(...runs.map((r) => r.ms));
  const gdbTimes = [0, 1, 2].map(() => {
    const started = performance.now();
    execFileSync('gdb', ['-batch', '-nx', '-ex', 'bt', run.binary, run.core], { stdio: 'ignore' });
    return performance.now() - started;
  });
  const gdb = Math.min(...gdbTimes);
  console.log(`faultline walk: ${runs[0]!.frames} frames (${runs[0]!.cfi} by CFI) in ${ours.toFixed(1)} ms (open + walk, warm)`);
  console.log(`gdb -batch -ex bt: ${gdb.toFixed(0)} ms (fresh process)`);
  console.log(`ratio gdb / faultline: ${(gdb / ours).toFixed(1)}×`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
