/**
 * `explain` on a core a test made, as the analysis tests run it: the
 * program's binary given, this machine's libraries, and a search budget in
 * replays (the same verdict however busy the machine).
 *
 * @example
 * ```ts
 * const report = await explainCore(core, binary);
 * report.verdict.class; // 'cpu-fault'
 * ```
 */
import { explain, type ExplainReport } from '../../src/analysis/explain.ts';
import { join } from 'node:path';
import { openDump } from '../../src/dumps/open.ts';
import type { Toolchain } from '../../lab/toolchain.ts';
import { nativeX64 } from './c-program.ts';
import { runToCore } from './run-to-core.ts';

export async function explainCore(core: string, binary: string, sysroot = '/'): Promise<ExplainReport> {
  const dump = await openDump(core, { binaries: [binary], sysroot });
  return explain(dump, { searchReplays: 3000, searchBudgetMs: 120_000 });
}

/**
 * Runs `program` under gdb to a breakpoint at `at`, applies `edits` there
 * (gdb commands playing the fault: `set $rax = $rax ^ 32`), lets it crash
 * with SIGSEGV and explains the core; on this machine's x86-64 unless
 * `toolchain` says otherwise.
 */
export async function explainInjected(program: { dir: string; binary: string }, at: bigint, edits: string[], toolchain: Toolchain = nativeX64!): Promise<ExplainReport> {
  const { core } = await runToCore(toolchain, {
    program: program.binary, signal: 'SIGSEGV', core: join(program.dir, `injected-${at.toString(16)}.core`),
    commands: [`break *0x${at.toString(16)}`, 'continue', 'delete', ...edits, 'continue'],
  });
  return explainCore(core, program.binary, toolchain.sysroot ?? '/');
}
