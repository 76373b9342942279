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
import { openDump } from '../../src/dumps/open.ts';

export async function explainCore(core: string, binary: string): Promise<ExplainReport> {
  const dump = await openDump(core, { binaries: [binary], sysroot: '/' });
  return explain(dump, { searchReplays: 3000, searchBudgetMs: 120_000 });
}
