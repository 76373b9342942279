/**
 * `faultline batch INPUT… [--jobs N] [--db FILE.duckdb] [--json]`: explains
 * every dump the inputs name (dumps, directories, JSON Lines manifests) in
 * parallel worker processes, each dump bounded in time, and stores each
 * verdict with its evidence in a DuckDB file (or PostgreSQL, `--db
 * postgres://…`). Rerunning skips what is done.
 * With `--queue redis://HOST:PORT` the dumps go on a BullMQ queue that
 * `faultline worker` processes take (src/fleet/queue.ts), and their
 * results come back here to be stored.
 *
 * @example
 * ```sh
 * faultline batch crashes/ fleet.jsonl --jobs 2 --db fleet.duckdb
 * faultline fleet report --db fleet.duckdb
 * ```
 */
import { Command } from 'commander';
import { availableParallelism } from 'node:os';
import type { ExplainOptions } from '../../analysis/explain.ts';
import { runBatch, type BatchSummary } from '../../fleet/batch.ts';
import { collectJobs, type DumpJob } from '../../fleet/inputs.ts';
import type { DumpOutcome } from '../../fleet/store.ts';
import { openStore } from '../../fleet/store.ts';
import { parseCount, parseSeconds } from '../../parse.ts';
import { jsonText } from '../json.ts';
import { progressBar } from '../progress.ts';
import type { Io } from '../main.ts';

export const DEFAULT_DB = 'faultline.duckdb';

export interface BatchFlags {
  jobs?: string;
  db: string;
  json?: boolean;
  timeout: string;
  window: string;
  searchSeconds: string;
  searchReplays?: string;
  binary: string[];
  sysroot?: string;
  retryErrors?: boolean;
  queue?: string;
}

const collect = (value: string, all: string[] = []) => [...all, value];

/** The explain options every dump of a batch gets. */
export function batchExplainOptions(flags: Pick<BatchFlags, 'window' | 'searchSeconds' | 'searchReplays'>): ExplainOptions {
  return {
    windowInstructions: parseCount(flags.window, '--window'),
    searchBudgetMs: parseSeconds(flags.searchSeconds, '--search-seconds'),
    searchReplays: flags.searchReplays === undefined ? undefined : parseCount(flags.searchReplays, '--search-replays'),
  };
}

function seconds(s: number): string {
  return s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;
}

/** Progress: a bar with rate and time left on a terminal, otherwise a plain line every ~10 s (none with --json). */
export function batchProgress(json: boolean | undefined, io: Io): { onDump: (done: number, total: number, job: DumpJob, outcome: DumpOutcome) => void; finish: () => void } {
  const bar = progressBar('explaining', { json });
  const started = performance.now();
  let lastLine = started;
  return {
    onDump(done, total) {
      const elapsed = (performance.now() - started) / 1000;
      const rate = done / Math.max(elapsed, 1e-3);
      const left = (total - done) / Math.max(rate, 1e-9);
      if (bar) {
        bar.update({ count: done, unit: `of ${total} dumps, ${rate.toFixed(2)}/s`, fraction: done / total, leftMs: left * 1000 });
      } else if (!json && (performance.now() - lastLine >= 10_000 || done === total)) {
        lastLine = performance.now();
        io.err(`batch: ${done}/${total} dumps, ${rate.toFixed(2)}/s, ${seconds(left)} left\n`);
      }
    },
    finish: () => bar?.done(),
  };
}

export function summaryText(summary: BatchSummary, db: string): string {
  const classes = Object.entries(summary.verdicts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} ${k}`).join(', ');
  const ms = (v?: number) => (v === undefined ? '-' : `${(v / 1000).toFixed(2)} s`);
  return [
    `${summary.inputs} dumps: ${summary.explained} explained, ${summary.errors} errors, ${summary.skipped} already in the store`,
    ...(classes ? [`verdicts: ${classes}`] : []),
    `${summary.seconds} s, ${summary.rate} dumps/s; per dump p50 ${ms(summary.p50Ms)}, p99 ${ms(summary.p99Ms)}`,
    `store: ${db} (faultline fleet report --db ${db})`,
    '',
  ].join('\n');
}

export function addBatchCommand(program: Command, io: Io): void {
  program
    .command('batch')
    .description('explain many dumps in parallel worker processes and store the verdicts in a DuckDB file or PostgreSQL (resumable)')
    .argument('<input...>', 'dumps, directories of dumps, or JSON Lines manifests (.jsonl: path, binary, sysroot, machine, cpu, time, labels)')
    .option('--jobs <n>', 'worker processes (default: the number of cores)')
    .option('--db <file|url>', 'the store: a DuckDB file, or postgres://USER@HOST[:PORT]/DB for many writers (schema: docs/fleet.md)', DEFAULT_DB)
    .option('--json', 'print the summary as JSON')
    .option('--timeout <s>', 'time bound per dump: past it the dump is stored as an error', '60')
    .option('--window <n>', 'longest replay window, in instructions', '100')
    .option('--search-seconds <s>', 'time budget of the fault search per dump', '10')
    .option('--search-replays <n>', 'fault replays the search may run per dump')
    .option('--binary <file>', 'executable or library for every dump (repeatable; a manifest adds its own)', collect, [])
    .option('--sysroot <dir>', 'prefix for the file paths cores name (a manifest line may give its own)')
    .option('--retry-errors', 'explain again the dumps stored as errors')
    .option('--queue <url>', 'put the dumps on a BullMQ queue in Redis (redis://HOST:PORT) for `faultline worker` processes, and store their results')
    .action(async (inputs: string[], flags: BatchFlags) => {
      const jobCount = flags.jobs === undefined ? availableParallelism() : parseCount(flags.jobs, '--jobs');
      const timeoutMs = parseSeconds(flags.timeout, '--timeout');
      const explain = batchExplainOptions(flags);
      const jobs = collectJobs(inputs, { binaries: flags.binary, sysroot: flags.sysroot });
      const store = await openStore(flags.db);
      const progress = batchProgress(flags.json, io);
      let summary: BatchSummary;
      try {
        if (flags.queue) {
          const { runQueuedBatch } = await import('../../fleet/queue.ts');
          summary = await runQueuedBatch(store, jobs, { url: flags.queue, timeoutMs, explain, retryErrors: flags.retryErrors, onDump: progress.onDump });
        } else {
          summary = await runBatch(store, jobs, { jobs: jobCount, timeoutMs, explain, retryErrors: flags.retryErrors, onDump: progress.onDump });
        }
      } finally {
        progress.finish();
        await store.close();
      }
      io.out(flags.json ? jsonText(summary) : summaryText(summary, store.path));
    });
}
