/**
 * Fleet mode's two targets (issue 14):
 * - `batch` on many small cores on this machine's cores: dumps/s and the
 *   per-dump p50/p99 (target: 1,000 in under 10 minutes on 2 cores). The
 *   cores are lab crashes of lab/programs/bugs.c (test/helpers/lab-cores.ts).
 * - `fleet report` on a synthetic store of 1 M verdicts from 20,000
 *   machines (target: under 5 s), in a fresh process as a user runs it.
 *
 * @example
 * ```sh
 * node --import tsx bench/fleet.ts                 # both, 1,000 cores
 * node --import tsx bench/fleet.ts --dumps 200     # fewer cores
 * node --import tsx bench/fleet.ts --report-only
 * node --import tsx bench/fleet.ts --batch-only --dumps 50 --bin /work/main/bin/faultline.js  # another checkout's code
 * ```
 *
 * The cores are explained with `--sysroot /` and the program named, as a
 * user with the binaries would: without them a core of this machine holds
 * none of its code and explain stops at once. Besides wall-clock rates
 * (which a shared machine slows) it reports the CPU time the batch and its
 * workers used per dump.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDbStore } from '../src/fleet/store.ts';
import { fillSynthetic } from '../src/fleet/synthetic.ts';
import { makeLabCores } from '../test/helpers/lab-cores.ts';

const BIN = arg('--bin') ?? fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
export const TARGET_REPORT_MS = 5_000;
export const TARGET_BATCH_S = 600;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** CPU seconds (user + system) of this process's waited-for children and theirs (/proc/self/stat, clock ticks of 1/100 s). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After the command name: cutime and cstime are fields 16 and 17 of stat(5), here 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function benchReport(dir: string): Promise<void> {
  const db = join(dir, 'synthetic.duckdb');
  const store = await DuckDbStore.open(db);
  const t0 = performance.now();
  await fillSynthetic(store, { dumps: 1_000_000, machines: 20_000, hardwareShare: 0.01, planted: { machine: 'planted', dumps: 40, hardware: 8 } });
  store.close();
  const fillMs = performance.now() - t0;
  const t1 = performance.now();
  const report = JSON.parse(execFileSync(process.execPath, [BIN, 'fleet', 'report', '--db', db, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 }));
  const wallMs = performance.now() - t1;
  console.log(`fleet report, 1,000,000 verdicts, 20,000 machines (filled in ${(fillMs / 1000).toFixed(1)} s): queries ${report.queryMs} ms, whole command ${(wallMs / 1000).toFixed(2)} s (target < ${TARGET_REPORT_MS / 1000} s); first machine: ${report.machines[0]?.machine}`);
}

function benchBatch(dir: string, dumps: number): void {
  const t0 = performance.now();
  makeLabCores(join(dir, 'cores'), dumps);
  const makeS = (performance.now() - t0) / 1000;
  const jobs = String(availableParallelism());
  const cpu0 = childrenCpuSeconds();
  const t1 = performance.now();
  const args = [BIN, 'batch', join(dir, 'cores'), '--db', join(dir, 'batch.duckdb'), '--jobs', jobs, '--search-replays', '100', '--sysroot', '/', '--binary', join(dir, 'cores', 'bugs-x64'), '--json'];
  const summary = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }));
  const wallS = (performance.now() - t1) / 1000;
  const cpuS = childrenCpuSeconds() - cpu0;
  const perDump = cpuS / dumps;
  console.log(`batch, ${dumps} lab cores (made in ${makeS.toFixed(0)} s), --jobs ${jobs} --search-replays 100: ${wallS.toFixed(0)} s wall, ${summary.rate} dumps/s, per dump p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, ${summary.errors} errors, verdicts ${JSON.stringify(summary.verdicts)}; CPU ${cpuS.toFixed(1)} s, ${(perDump * 1000).toFixed(0)} ms per dump (${jobs} cores unshared: ${(Number(jobs) / perDump).toFixed(2)} dumps/s); 1,000 would take ${((1000 / summary.rate) / 60).toFixed(1)} min at this run's rate (target < ${TARGET_BATCH_S / 60} min)`);
}

const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-fleet-'));
try {
  if (!process.argv.includes('--batch-only')) await benchReport(dir);
  if (!process.argv.includes('--report-only')) benchBatch(dir, Number(arg('--dumps') ?? 1000));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
