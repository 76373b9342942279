/**
 * Unwind information from the module file a transcript names with
 * `--binary`: a gcc-built x86-64 program linked without `.eh_frame_hdr`
 * (as static i386 glibc programs are), so the image in memory offers no
 * `PT_GNU_EH_FRAME`, crashes three calls deep; the lab's writer turns its
 * core into a WinDbg transcript, whose module is named by WinDbg's module
 * name, not a path. The walk reads `.eh_frame` from the file matched to the
 * module and unwinds every program frame by CFI.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTranscript } from '../../lab/writers/index.ts';
import { openDump } from '../../src/dumps/open.ts';
import { walkStack } from '../../src/unwind/walk.ts';
import { buildCProgram, nativeX64 } from '../helpers/c-program.ts';
import { runToCore } from '../helpers/run-to-core.ts';

const SOURCE = String.raw`
volatile long sink;
__attribute__((noinline)) long leaf(long *p) { return *p + 1; }
__attribute__((noinline)) long middle(long *p) { long r = leaf(p) * 3; sink = r; return r + 1; }
__attribute__((noinline)) long outer(long *p) { long r = middle(p) + 5; sink = r; return r; }
int main(int argc, char **argv) { return (int)outer(argc > 5 ? (long *)argv : 0); }
`;

describe.skipIf(!nativeX64)('CFI from the module file of a transcript (x86-64)', () => {
  // Built here, not in the test: buildCProgram registers its directory's removal with afterAll, which a test body cannot.
  const { dir, binary } = buildCProgram(nativeX64!, 'no-hdr', SOURCE, ['-O2', '-no-pie', '-fomit-frame-pointer', '-Wl,--no-eh-frame-hdr']);

  it('walks leaf, middle, outer and main by the .eh_frame of the --binary file', async () => {
    const { core } = await runToCore(nativeX64!, { program: binary, signal: 'SIGSEGV', core: join(dir, 'crash.core'), commands: ['continue'] });
    const transcript = join(dir, 'crash.txt');
    await writeTranscript({ arch: 'x64', core, binaries: [binary], sysroot: '/', signal: 11 }, transcript, { style: 'user' });
    const dump = await openDump(transcript, { binaries: [binary] });
    const thread = dump.threads[0]!;
    const walk = await walkStack(dump, thread.contexts[0]!);
    const frames = walk.frames.map((f) => ({ name: dump.symbols.lookup(f.pc)?.symbol, trust: f.trust }));
    expect(frames.slice(0, 4)).toEqual([
      { name: 'leaf', trust: 'context' }, { name: 'middle', trust: 'cfi' }, { name: 'outer', trust: 'cfi' }, { name: 'main', trust: 'cfi' },
    ]);
  }, 120_000);
});
